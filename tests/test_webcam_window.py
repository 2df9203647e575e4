"""``edge-fer webcam`` opens a real window where there is a display, and says honestly why when it cannot.

The window test runs the CLI (not headless) in a subprocess on a private Xvfb display and watches the X
server's window tree with ``xwininfo`` while it runs; it skips where Xvfb or xwininfo is missing
(``apt-get install xvfb x11-utils``; CI installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from edge_fer.video import WINDOW, gui_problem

FRAMES = 150


@pytest.fixture
def xvfb_display():
    """A fresh Xvfb server on a free display number (Xvfb picks it: -displayfd); its DISPLAY string."""
    if shutil.which("Xvfb") is None or shutil.which("xwininfo") is None:
        pytest.skip("Xvfb and xwininfo not installed (apt-get install xvfb x11-utils)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), f"Xvfb did not report a display (exit {server.poll()})"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _windows(display: str) -> str:
    return subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True, timeout=10
    ).stdout


def test_webcam_opens_a_window_on_a_display(xvfb_display, tmp_path):
    from runtime_models import write_video

    video = write_video(tmp_path / "clip.mp4", n=FRAMES)
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "edge_fer", "webcam", "--source", str(video), "--max-frames", str(FRAMES)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline and not seen:
        seen = next((line for line in _windows(xvfb_display).splitlines() if f'"{WINDOW}"' in line), "")
        time.sleep(0.02)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert seen, f"no {WINDOW!r} window appeared on {xvfb_display}; stderr: {err}"
    assert "headless" not in err
    if Path("/usr/share/fonts").is_dir():  # where edge-fer can point opencv-python's Qt at fonts
        assert "QFontDatabase" not in err
    assert f"{FRAMES} frames" in out + err


def test_no_display_is_named_as_the_reason(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform == "darwin" or os.name != "posix":
        pytest.skip("only X11/Wayland systems need $DISPLAY")
    problem = gui_problem()
    if "no GUI" in (problem or ""):
        pytest.skip("this OpenCV has no GUI at all")
    assert problem == "no display ($DISPLAY is not set)"


def test_an_opencv_without_gui_is_named_as_the_reason(monkeypatch):
    info = cv2.getBuildInformation().replace("GUI:", "GUI:  NONE\n  was:", 1)
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: info)
    assert "has no GUI (for a window: pip uninstall -y opencv-python-headless && pip install opencv-python)" in (
        gui_problem() or ""
    )


def test_a_headless_run_says_why_in_one_line(monkeypatch, tmp_path, cli):
    from runtime_models import write_video

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform == "darwin" or os.name != "posix":
        pytest.skip("only X11/Wayland systems need $DISPLAY")
    video = write_video(Path(tmp_path) / "clip.mp4", n=3)
    code, _, err = cli("webcam", "--source", video, "--max-frames", "3")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "running headless; pass --headless to silence" in warnings[0]
    assert "no display ($DISPLAY is not set)" in warnings[0] or "has no GUI" in warnings[0]
