"""The live loop behind ``edge-fer webcam``: frames in, faces out to a window, a video and JSON lines.

Outputs are checked before the source opens (an existing path is refused unless ``force``) and written
under temporary names beside their targets, renamed into place only when the run ends cleanly, so a
crash never leaves a half-written file. A source that ends or drops, or ``q``/Esc, ends the run normally:
outputs are completed and a summary is returned. Ctrl-C (and SIGTERM) on a *live* source (camera, stream)
is how such a run is stopped, so it ends normally too: a playable video, whole JSON lines, exit 0. On a
file or image it is an interruption: the outputs are removed and KeyboardInterrupt propagates (exit 130).

The annotated video keeps the source's timing (see :mod:`edge_fer.video_writer`): frames are placed at
their media time (files) or capture time (live), repeated or dropped against the writer's constant rate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import cv2

from edge_fer.atomic import atomic_path, check_output
from edge_fer.drawing import draw_faces, draw_fps
from edge_fer.errors import EdgeFerError
from edge_fer.recognizer import EmotionRecognizer, FrameResult
from edge_fer.sources import VideoSource
from edge_fer.video_writer import FALLBACK_FPS, TimedWriter, codec_for
from edge_fer.wording import counted

log = logging.getLogger(__name__)

WINDOW = "edge-fer"


@dataclass
class RunSummary:
    """What a run did: frames read, faces found (and in how many frames), wall time, mean fps, why it stopped."""

    source: str
    frames: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    mean_fps: float = 0.0
    stop_reason: str = ""

    def line(self) -> str:
        """The one-line summary printed at the end of ``webcam``."""
        return (
            f"{counted(self.frames, 'frame')}, {counted(self.faces, 'face')} "
            f"({counted(self.frames_with_faces, 'frame')} with a face), "
            f"mean {self.mean_fps:.1f} fps; {self.stop_reason or 'done'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gui_problem() -> str | None:
    """Why OpenCV cannot open a window here (an OpenCV built without a GUI, no display), or None when it can."""
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is not None and gui.group(1).upper() == "NONE":
        return (
            f"this OpenCV {cv2.__version__} has no GUI (for a window: pip uninstall -y opencv-python-headless "
            "&& pip install opencv-python)"
        )
    if os.name == "posix" and sys.platform != "darwin":
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "no display ($DISPLAY is not set)"
    _qt_fonts()
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error as exc:
        return f"OpenCV cannot open a window ({str(exc).strip().splitlines()[-1][:160]})"
    return None


def _qt_fonts() -> None:
    """opencv-python's Qt build points ``QT_QPA_FONTDIR`` at ``cv2/qt/fonts``, which its recent wheels lack,
    and Qt then prints four lines about fonts when the first window opens: point it at the system's fonts."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if current and not os.path.isdir(current) and os.path.isdir("/usr/share/fonts"):
        os.environ["QT_QPA_FONTDIR"] = "/usr/share/fonts"


def gui_available() -> bool:
    """Whether OpenCV can open a window here (see :func:`gui_problem`)."""
    return gui_problem() is None


def run_video(
    recognizer: EmotionRecognizer,
    source: str | int | os.PathLike[str] | VideoSource = 0,
    *,
    show: bool = True,
    output: str | os.PathLike[str] | None = None,
    json_out: str | os.PathLike[str] | None = None,
    max_frames: int | None = None,
    force: bool = False,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> RunSummary:
    """Run ``recognizer`` over ``source`` until it ends, ``max_frames``, ``q``/Esc or Ctrl-C.

    ``show``: a window with the overlay (falls back to headless with a warning where no GUI exists).
    ``output``: an annotated video (.mp4/.avi). ``json_out``: one JSON object per frame. ``on_frame``: called
    with every frame's result (the image is reused for the next frame: copy it to keep it).
    """
    out_path = check_output(output, force) if output else None
    json_path = check_output(json_out, force) if json_out else None
    if out_path is not None:
        codec_for(out_path)
    if out_path is not None and json_path is not None and out_path.resolve() == json_path.resolve():
        raise EdgeFerError(f"--output and --json-out are the same file {out_path}")
    problem = gui_problem() if show else None
    if problem is not None:
        log.warning("%s: running headless; pass --headless to silence", problem)
        show = False
    video = source if isinstance(source, VideoSource) else VideoSource(source, width, height, fps)
    if video.cap is None and video.image is None:
        video.open()
    summary = RunSummary(source=video.name)
    draw = show or out_path is not None
    writer: TimedWriter | None = None
    fps_ema = 0.0
    live = video.kind in ("camera", "stream")
    with contextlib.ExitStack() as stack:
        stack.callback(video.close)
        tmp_video = stack.enter_context(atomic_path(out_path)) if out_path else None
        if tmp_video is not None:
            writer = TimedWriter(tmp_video, video.fps or fps or FALLBACK_FPS)
            stack.callback(writer.close)  # before the rename above: the file is whole when it gets its name
        json_file = None
        if json_path is not None:
            tmp_json = stack.enter_context(atomic_path(json_path))
            json_file = stack.enter_context(open(tmp_json, "w", encoding="utf-8", buffering=1 << 16))
        if show:
            stack.callback(cv2.destroyAllWindows)
        start = last = time.perf_counter()
        try:
            for result in recognizer.frames(video, max_frames=max_frames, reuse=True):
                summary.frames += 1
                summary.faces += len(result.faces)
                summary.frames_with_faces += bool(result.faces)
                if json_file is not None:
                    json_file.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
                if draw:
                    now = time.perf_counter()
                    dt, last = now - last, now
                    fps_ema = 1.0 / dt if fps_ema == 0.0 and dt > 0 else 0.9 * fps_ema + 0.1 / max(dt, 1e-6)
                    draw_faces(result.image, result.faces)
                    draw_fps(result.image, fps_ema)
                if writer is not None:
                    writer.write(result.image, result.time_s)
                if on_frame is not None:
                    on_frame(result)
                if show:
                    cv2.imshow(WINDOW, result.image)
                    key = cv2.waitKey(1) & 0xFF
                    if key in (ord("q"), 27):
                        video.stop_reason = "stopped by the user"
                        break
                    if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                        video.stop_reason = "window closed"
                        break
        except KeyboardInterrupt:
            if not live:
                raise
            video.stop_reason = "stopped by Ctrl-C (or SIGTERM)"
        summary.seconds = time.perf_counter() - start
        summary.mean_fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
        summary.stop_reason = video.stop_reason
        if video.kind == "file" and video.stop_reason == "ended early":
            summary.stop_reason = (
                f"ended early: {video.frames_read} of {video.frames_promised} frames read "
                "(the file is cut short or damaged)"
            )
        if writer is not None:
            writer.close()
        if out_path is not None and summary.frames == 0:
            raise EdgeFerError(f"{video.name}: no frames read; nothing written to {out_path}")
    return summary
