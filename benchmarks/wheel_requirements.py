"""The runtime requirements of a built edge-fer wheel for another platform, one per line, for ``pip --platform``.

    python benchmarks/wheel_requirements.py dist/edge_fer-*.whl [--extra onnx] [--machine aarch64]
                                            [--python 3.11] [--keep-gui-opencv]

Why: ``benchmarks/aarch64.sh`` installs the wheel with ``--no-deps`` into an aarch64 environment and its
requirements separately, because a cross-platform ``pip install --target --platform`` evaluates environment
markers for the *host* (pip has no way to say "platform_machine is aarch64") and because a device without a
display wants OpenCV's headless build: ``opencv-python`` and ``opencv-python-headless`` both install the ``cv2``
module, so installing the wheel's own ``opencv-python`` dependency beside the headless one would leave two
copies of cv2 fighting over one folder. Reading the requirements from the wheel's METADATA (not from
pyproject.toml) checks what a user's ``pip install`` would actually get.

Exit codes: 0, 2 when the wheel cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

#: OpenCV distributions that ship the GUI (highgui with Qt/GTK) and their headless twins (same cv2 module).
HEADLESS = {"opencv-python": "opencv-python-headless", "opencv-contrib-python": "opencv-contrib-python-headless"}


class WheelError(ValueError):
    """A file that is not a readable wheel with METADATA."""


def target_environment(machine: str, python: str) -> dict[str, str]:
    """PEP 508 marker variables of CPython ``python`` (``"3.11"``) on Linux on ``machine`` (``"aarch64"``)."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
    }


def wheel_metadata(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's ``*.dist-info/METADATA``; raises WheelError when unreadable."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
            if not names:
                raise WheelError(f"{wheel}: no .dist-info/METADATA inside; is it a wheel?")
            text = zf.read(names[0]).decode("utf-8")
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelError(f"{wheel}: cannot read as a wheel ({exc})") from exc
    return Parser().parsestr(text).get_all("Requires-Dist") or []


def runtime_requirements(
    requires_dist: list[str], extras: list[str], machine: str, python: str, headless: bool = True
) -> list[str]:
    """The requirements that apply on the target (base ones plus ``extras``), markers dropped, in order.

    With ``headless``, a GUI OpenCV distribution becomes its headless twin with the same version specifier, and
    a requirement listed twice (e.g. after that swap) is kept once."""
    env = target_environment(machine, python)
    out: list[str] = []
    seen: set[str] = set()
    for line in requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise WheelError(f"Requires-Dist {line!r}: {exc}") from exc
        if req.marker is not None and not any(req.marker.evaluate({**env, "extra": extra}) for extra in ["", *extras]):
            continue
        name = req.name.lower().replace("_", "-")
        if headless and name in HEADLESS:
            name = HEADLESS[name]
        if name in seen:
            continue
        seen.add(name)
        extra_part = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        out.append(f"{name}{extra_part}{req.specifier}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", type=Path)
    ap.add_argument("--extra", action="append", default=[], help="an extra to include (repeatable)")
    ap.add_argument("--machine", default="aarch64", help="platform_machine of the target")
    ap.add_argument("--python", default="3.11", help="major.minor Python version of the target")
    ap.add_argument("--keep-gui-opencv", action="store_true", help="do not swap opencv-python for its headless twin")
    args = ap.parse_args(argv)
    try:
        reqs = runtime_requirements(
            wheel_metadata(args.wheel), args.extra, args.machine, args.python, headless=not args.keep_gui_opencv
        )
    except WheelError as exc:
        print(f"wheel_requirements: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(reqs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
