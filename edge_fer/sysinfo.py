"""What a measurement ran on: CPU name, architecture, memory; for bench and model cards."""

from __future__ import annotations

import os
import platform
import resource
import sys


def cpu_name() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else platform)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    return {"cpu": cpu_name(), "arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB. On Linux from VmHWM: ``ru_maxrss`` survives exec,
    so a process spawned by a big parent would report the parent's size."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float:
    """Resident memory now, MB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm", encoding="utf-8") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError):
        return peak_rss_mb()
