"""Where frames come from: cameras, video files, network streams and still images.

Every failure a user can cause (a camera that is absent or busy, a path that is not a video, a URL that
does not answer, a file that is not an image) becomes one :class:`SourceError` line naming the source and
what to try. Live sources that stop delivering frames are reopened a few times before giving up.

Times: a file's frames carry their presentation time from the container (``CAP_PROP_POS_MSEC`` after each
read: the decoded picture's timestamp, so variable-frame-rate files are right, where index / average fps
drifts); a camera's or stream's carry seconds on the machine's monotonic clock since the first frame.
A file that ends before its container said it would (a cut copy) is told apart from a complete one, and
frames the decoder dropped in the middle (damaged data, skipped silently by FFmpeg) are counted.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_fer.errors import SourceError
from edge_fer.images import folder_files, is_url
from edge_fer.images import load_image as _load_image
from edge_fer.images import quiet_opencv as _quiet_opencv
from edge_fer.preprocessing import to_bgr

log = logging.getLogger(__name__)
# FFmpeg prints its own lines ("[tcp @ 0x...] Connection refused") for every failed try; our SourceError
# says it once. Read by OpenCV when its FFmpeg backend first starts; EDGE_FER_DEBUG keeps them.
if not os.environ.get("EDGE_FER_DEBUG"):
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

#: Suffixes that ``webcam --source`` treats as a still image (``predict`` tries every file of a folder).
IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".bmp",
        ".webp",
        ".tif",
        ".tiff",
        ".pgm",
        ".ppm",
        ".pbm",
        ".avif",
        ".gif",
    }
)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
#: Reopen attempts for a live source that stops, and the first wait between them (doubling each time).
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY_S = 0.5
#: How long a stream may take to open or to deliver a frame before it counts as not answering.
STREAM_TIMEOUT_MS = 5000
#: Extra reads tried after a file's read fails before its promised end (FFmpeg gives up on a long run of
#: undecodable packets; the file may go on after it).
FILE_READ_RETRIES = 2


@dataclass
class Frame:
    """One frame: its number from 0, its time in seconds (media time for files, wall time for live
    sources) and the BGR uint8 image."""

    index: int
    time_s: float
    image: np.ndarray


#: For other modules decoding user files (dataset folders): OpenCV quiet unless logging at DEBUG.
quiet_opencv = _quiet_opencv


def source_kind(source: str | int | os.PathLike[str]) -> str:
    """``camera`` (an index), ``stream`` (a URL), ``image`` (an image file) or ``file`` (a video)."""
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        return "camera"
    text = os.fspath(source)
    if text.lower().startswith(STREAM_SCHEMES):
        return "stream"
    if Path(text).suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    return "file"


class VideoSource:
    """A camera index, a video file, a stream URL or a still image, read frame by frame.

    Opening raises :class:`SourceError` with a hint. While iterating, a camera or stream that stops
    delivering is reopened up to ``retries`` times (waits doubling from ``retry_delay_s``); a file ends
    at its end. :attr:`stop_reason` says why iteration ended.
    """

    def __init__(
        self,
        source: str | int | os.PathLike[str],
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        retries: int = DEFAULT_RETRIES,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
    ):
        self.kind = source_kind(source)
        self.source: str | int = int(str(source).strip()) if self.kind == "camera" else os.fspath(source)
        self.name = f"camera {self.source}" if self.kind == "camera" else f"{self._noun()} {self.source}"
        self.width, self.height, self.fps_request = width, height, fps
        self.retries, self.retry_delay_s = retries, retry_delay_s
        self.cap: cv2.VideoCapture | None = None
        self.image: np.ndarray | None = None
        self.stop_reason = ""
        self.fps: float = 0.0
        #: Frames the container says it holds (files only; None where it does not say).
        self.frames_promised: int | None = None
        #: Frames delivered by the last :meth:`frames` run, and the media time of the last one.
        self.frames_read = 0
        self.last_time_s: float | None = None

    def _noun(self) -> str:
        return {"stream": "stream", "image": "image", "file": "video"}[self.kind]

    def _capture(self) -> cv2.VideoCapture:
        with _quiet_opencv():
            if self.kind == "stream":
                params = [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    STREAM_TIMEOUT_MS,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    STREAM_TIMEOUT_MS,
                ]
                cap = cv2.VideoCapture(self.source, cv2.CAP_ANY, params)
            else:
                cap = cv2.VideoCapture(self.source)
            if cap.isOpened() and self.kind in ("camera", "stream"):
                for prop, value in (
                    (cv2.CAP_PROP_FRAME_WIDTH, self.width),
                    (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
                    (cv2.CAP_PROP_FPS, self.fps_request),
                ):
                    if value:
                        cap.set(prop, float(value))
        return cap

    def open(self) -> VideoSource:
        """Open the source or raise SourceError naming it and what to try."""
        if self.kind == "image":
            self.image = load_image(self.source)
            self.fps = float(self.fps_request or 0.0)
            return self
        if self.kind == "file":
            path = Path(self.source)
            if not path.exists():
                raise SourceError(
                    f"video {path}: no such file; try a video file path, a camera index (--source 0) or a stream URL"
                )
            if path.is_dir():
                raise SourceError(f"video {path}: is a folder; give a video file (for images use `edge-fer predict`)")
        cap = self._capture()
        attempts = self.retries if self.kind == "stream" else 0
        for attempt in range(attempts):
            if cap.isOpened():
                break
            time.sleep(self.retry_delay_s * 2**attempt)
            cap = self._capture()
        ok = cap.isOpened()
        if ok and self.kind == "file":
            # Some non-videos open (an image sequence reader, a text file) but yield nothing.
            with _quiet_opencv():
                ok = bool(cap.grab())
                cap.release()
                cap = self._capture() if ok else cap
        if not ok:
            cap.release()
            raise SourceError(self._open_hint())
        self.cap = cap
        self.fps = float(self.fps_request or cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not 0 < self.fps < 1000:
            self.fps = 0.0
        if self.kind == "file":
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            self.frames_promised = int(count) if math.isfinite(count) and count > 0 else None
        return self

    @property
    def duration_promised_s(self) -> float | None:
        """The file's length as its container tells it (frames promised / average rate); None if unknown."""
        if not self.frames_promised or self.fps <= 0:
            return None
        return self.frames_promised / self.fps

    def reached_end(self) -> bool:
        """Whether the frames read reach the end the container promised (always True where it promised none).

        By time, not by count, so a damaged frame in the middle (dropped by the decoder) does not make a
        file look cut: the last frame read must end within two frame intervals (or 1% of the length) of
        the promised duration. Counts from containers without an index are estimates; time is robust to that.
        """
        duration = self.duration_promised_s
        if duration is None:
            return True
        if self.last_time_s is None:
            return False
        interval = 1.0 / self.fps
        return self.last_time_s + interval >= duration - max(2 * interval, 0.01 * duration)

    @property
    def frames_skipped(self) -> int:
        """Frames missing between the first and the promised end of a file read to its end (damaged frames
        the decoder dropped); 0 when the file ended early (then the missing ones are its cut-off tail)."""
        if self.frames_promised is None or not self.reached_end():
            return 0
        return max(0, self.frames_promised - self.frames_read)

    def _open_hint(self) -> str:
        if self.kind == "camera":
            return (
                f"camera {self.source}: cannot be opened; check it is connected and not used by another program, "
                "or try another index (--source 0, 1, ...), a video file or a stream URL"
            )
        if self.kind == "stream":
            return (
                f"stream {self.source}: does not answer after {self.retries + 1} tries; check the URL, the network "
                "and that the stream is live (try it in ffplay or VLC)"
            )
        return (
            f"video {self.source}: cannot be read as a video (not a video file, or a codec this OpenCV lacks); "
            "try converting it with `ffmpeg -i IN out.mp4`"
        )

    def close(self) -> None:
        """Release the device or file."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def __enter__(self) -> VideoSource:
        return self.open() if self.cap is None and self.image is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reopen(self) -> bool:
        """Reopen a live source after it stopped; False once the retries are spent."""
        for attempt in range(self.retries):
            self.close()
            delay = self.retry_delay_s * 2**attempt
            log.warning(
                "%s stopped delivering frames; retry %d/%d in %.1fs", self.name, attempt + 1, self.retries, delay
            )
            time.sleep(delay)
            cap = self._capture()
            if cap.isOpened():
                with _quiet_opencv():
                    ok = cap.grab()
                if ok:
                    self.cap = cap
                    return True
            cap.release()
        return False

    def _media_time(self, index: int) -> float:
        """The frame just read's presentation time in seconds, from the container; index / fps where the
        backend gives none (or a value that does not move forward)."""
        assert self.cap is not None
        t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        previous = self.last_time_s
        if math.isfinite(t) and t >= 0 and (previous is None or t > previous):
            return t
        if previous is None:
            return 0.0
        return previous + (1.0 / self.fps if self.fps > 0 else 0.0)

    def _read_on(self) -> bool:
        """After a failed read before the promised end of a file: try a few more reads (the file may go on
        after a run of undecodable data). True once a frame was grabbed (retrieve it next)."""
        if self.reached_end():
            return False
        assert self.cap is not None
        with _quiet_opencv():
            for _ in range(FILE_READ_RETRIES):
                if self.cap.grab():
                    return True
        return False

    def _end_reason(self, live: bool) -> str:
        if live:
            return f"{self.name} stopped; gave up after {self.retries} retries"
        return "end of video" if self.reached_end() else "ended early"

    def frames(self, max_frames: int | None = None, reuse: bool = False) -> Iterator[Frame]:
        """Yield frames until the source ends, fails for good, or ``max_frames`` is reached.

        ``reuse=True`` reads every frame into the same array (no per-frame allocation): the consumer must
        copy a frame it keeps beyond the next one.
        """
        if self.cap is None and self.image is None:
            self.open()
        self.stop_reason = ""
        if self.image is not None:
            if max_frames is None or max_frames > 0:
                self.frames_read, self.last_time_s = 1, 0.0
                yield Frame(0, 0.0, self.image)
            self.stop_reason = "end of image"
            return
        assert self.cap is not None
        live = self.kind in ("camera", "stream")
        buffer: np.ndarray | None = None
        index, start = 0, time.perf_counter()
        self.frames_read, self.last_time_s = 0, None
        while max_frames is None or index < max_frames:
            ok, image = self.cap.read(buffer) if buffer is not None else self.cap.read()
            if not ok or image is None:
                if live and self._reopen():
                    continue
                if not live and self._read_on():
                    ok, image = self.cap.retrieve()
                if not ok or image is None:
                    self.stop_reason = self._end_reason(live)
                    return
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                image = to_bgr(image)
            elif reuse:
                buffer = image
            t = time.perf_counter() - start if live else self._media_time(index)
            self.frames_read, self.last_time_s = index + 1, t
            yield Frame(index, t, image)
            index += 1
        self.stop_reason = f"reached --max-frames {max_frames}"


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file or http(s) URL as BGR uint8 (see :func:`edge_fer.images.load_image`)."""
    return _load_image(path)


def collect_images(inputs: Iterable[str | os.PathLike[str]]) -> list[tuple[Path | str, bool]]:
    """Expand files, folders (not recursive) and http(s) URLs into images to read, each with whether it was
    named explicitly (an explicitly named bad image is an error; a file in a folder that no decoder can read
    is skipped with a warning). Every file in a folder is tried, whatever its suffix; hidden files and
    sub-folders are left out, each named in a warning."""
    out: list[tuple[Path | str, bool]] = []
    for item in inputs:
        text = os.fspath(item)
        if is_url(text):
            out.append((text, True))
            continue
        if "://" in text:
            raise SourceError(
                f"image {text}: only http(s) URLs are fetched; for a video stream use `edge-fer webcam --source URL`"
            )
        p = Path(item)
        if not p.exists():
            raise SourceError(f"image {p}: no such file or folder")
        if p.is_dir():
            found, left_out = folder_files(p)
            for path, why in left_out:
                log.warning("skipped %s: %s", path, why)
            if not found:
                raise SourceError(f"folder {p}: no files in it")
            out.extend((f, False) for f in found)
        else:
            out.append((p, True))
    return out
