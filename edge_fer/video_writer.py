"""An annotated video that keeps its source's timing, as far as a constant-rate writer allows.

OpenCV's ``VideoWriter`` writes frames at one fixed rate: it has no per-frame timestamps. Writing every frame
once would replay a variable-frame-rate file (or a camera read slower than its nominal rate) too fast or too
slow. :class:`TimedWriter` instead places each frame on the writer's grid at its own time: a gap longer than
one grid step is filled by repeating the previous frame, and a frame is dropped only when the output would
otherwise fall more than one step (after rounding) behind the source's clock. So every frame of a constant-rate
file is kept (its rate is the writer's rate, or close to it: a container's average rate may be a little off),
and a variable-rate one stays within 1.5 frame intervals of its source's times.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from edge_fer.errors import EdgeFerError

#: Codec per output suffix: mp4v ships with every OpenCV build (H.264 needs an encoder most wheels lack).
VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
#: Frame rate written into an output video when the source does not say (cameras often do not).
FALLBACK_FPS = 25.0


def codec_for(path: str | os.PathLike[str]) -> str:
    """The FourCC for a video path's suffix; EdgeFerError naming the suffixes that work."""
    suffix = Path(path).suffix.lower()
    codec = VIDEO_CODECS.get(suffix)
    if codec is None:
        raise EdgeFerError(f"output {path}: unknown video type {suffix!r}; use one of {', '.join(VIDEO_CODECS)}")
    return codec


class TimedWriter:
    """Write BGR frames with their media times (seconds) to ``path`` at a constant ``fps``.

    The writer opens on the first frame (its size is the video's); :attr:`written` counts the frames in the
    file, :attr:`repeated` and :attr:`dropped` what timing cost. ``path`` is written directly: wrap it in
    :func:`edge_fer.atomic.atomic_path` for an all-or-nothing file.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | None):
        self.path = Path(path)
        self.fps = float(fps) if fps and 0 < fps < 1000 else FALLBACK_FPS
        self.fourcc = cv2.VideoWriter_fourcc(*codec_for(self.path))
        self.writer: cv2.VideoWriter | None = None
        self.previous: np.ndarray | None = None
        self.written = self.repeated = self.dropped = 0

    def _open(self, image: np.ndarray) -> cv2.VideoWriter:
        h, w = image.shape[:2]
        writer = cv2.VideoWriter(str(self.path), self.fourcc, self.fps, (w, h))
        if not writer.isOpened():
            raise EdgeFerError(f"output {self.path}: OpenCV cannot write this video type here; try .avi")
        self.previous = np.empty_like(image)
        return writer

    def write(self, image: np.ndarray, time_s: float) -> None:
        """Add a frame shown from ``time_s`` (seconds from the source's start) until the next frame's time."""
        if self.writer is None:
            self.writer = self._open(image)
        slot = round(time_s * self.fps)
        if self.written and slot < self.written - 1:
            self.dropped += 1
        else:
            while self.written < slot and self.previous is not None and self.written:
                self.writer.write(self.previous)
                self.written += 1
                self.repeated += 1
            self.writer.write(image)
            self.written += 1
        assert self.previous is not None
        np.copyto(self.previous, image)

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
