"""The CLI as a whole: --version, how --help reads, and progress that shows on a terminal and nowhere else."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from runtime_models import write_video

import edge_fer
from edge_fer.cli import app
from edge_fer.cli.progress import progress, stage


def test_version(cli) -> None:
    code, out, err = cli("--version")
    assert (code, out, err) == (0, f"edge-fer {edge_fer.__version__}\n", "")


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below ``command`` (a click/typer command tree), as argument paths."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*path, name))
    return paths


def test_help_shows_no_value_type_beside_flags(cli) -> None:
    """Flags take no value, so --help must not print ``<bool>`` beside them (typer 0.29 does by default)."""
    paths = _command_paths(typer.main.get_command(app))
    assert ("bench",) in paths and ("data", "check") in paths and len(paths) > 15
    for path in paths:
        code, out, err = cli(*path, "--help")
        assert code == 0, (path, err)
        assert "--help" in out and "<bool>" not in out, (path, out)
    code, out, _ = cli("predict", "--help")
    assert "<path>" in out  # options that take a value still show its type


def _terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=80)


def test_progress_draws_on_a_terminal_only() -> None:
    term = _terminal()
    with progress("classifying", 4, console=term) as step:
        step()
        step(completed=3, description="classifying val")
    assert "classifying val" in term.file.getvalue() and "3/4" in term.file.getvalue()
    for console, quiet in ((Console(file=io.StringIO(), force_terminal=False), False), (_terminal(), True)):
        with progress("classifying", 4, quiet=quiet, console=console) as step:
            step()
        with stage("loading TensorFlow", quiet=quiet, console=console):
            pass
        assert console.file.getvalue() == ""


def test_stage_spins_on_a_terminal() -> None:
    term = _terminal()
    with stage("loading TensorFlow", console=term):
        pass
    assert "loading TensorFlow" in term.file.getvalue()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_headless_webcam_shows_progress_on_a_terminal_and_not_in_a_pipe(tmp_path: Path) -> None:
    """A headless run on the shipped model: with stderr on a terminal the frame counter is drawn; piped,
    stderr holds only the summary."""
    video = write_video(tmp_path / "gray.mp4", n=12)
    cmd = [sys.executable, "-m", "edge_fer", "webcam", "--source", str(video), "--headless"]
    master, slave = os.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, cwd=tmp_path)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    drawn = b"".join(chunks).decode(errors="replace")
    assert f"{video}: frames" in drawn and "12 frames, 0 faces" in drawn
    piped = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert piped.returncode == 0, piped.stderr
    lines = piped.stderr.splitlines()
    assert len(lines) == 1 and f"{video}: 12 frames, 0 faces (0 frames with a face), mean " in lines[0]
    assert "\x1b" not in piped.stderr
