"""``edge-fer bench --pipeline``: the whole runtime per stage (decode, detect, crop or align, classify, track, draw).

The stages are timed inside the real code path (``EmotionRecognizer.track`` takes a stage clock), so
the figures are those of ``edge-fer webcam``, not of a re-implementation.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from edge_fer.drawing import draw_faces
from edge_fer.recognizer import EmotionRecognizer
from edge_fer.sources import VideoSource
from edge_fer.sysinfo import cpu_name, peak_rss_mb

#: ``crop`` cuts faces by their box; ``align`` (the default) is the same stage when faces are also turned
#: upright by their eye line (a face rolled less than 20 degrees is cut as by ``crop``; a rolled one costs
#: one warp). ``roll`` turns every frame first, to time alignment on faces that need it.
STAGES = ("decode", "detect", "crop", "align", "classify", "track", "draw")
#: Frames decoded into memory and timed (12 s of 25 fps video).
PIPELINE_FRAMES = 300
#: Passes over the frames; each stage reports its median over the passes.
PIPELINE_REPEATS = 3


class StageClock:
    """Accumulates each stage's time within a frame, then keeps one sample per stage per frame."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self._frame: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._frame[stage] += time.perf_counter() - t0

    def end_frame(self) -> None:
        for stage, seconds in self._frame.items():
            self.samples[stage].append(seconds)
        self._frame.clear()

    def report(self) -> list[dict[str, float | str]]:
        """Per stage: p50 and mean milliseconds per frame, and share of the total."""
        means = {s: float(np.mean(v)) * 1e3 for s, v in self.samples.items()}
        total = sum(means.values()) or 1.0
        order = [s for s in STAGES if s in means] + [s for s in means if s not in STAGES]
        return [
            {
                "stage": s,
                "p50_ms": float(np.median(self.samples[s])) * 1e3,
                "mean_ms": means[s],
                "share": means[s] / total,
            }
            for s in order
        ]


def synthetic_frames(n: int, width: int = 640, height: int = 480, seed: int = 0) -> list[np.ndarray]:
    """Moving-gradient frames with noise: no faces, so they measure decode-free detection and overhead."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, width, dtype=np.float32)
    frames = []
    for i in range(n):
        base = (x[None, :] + 3 * i) % 256 + rng.normal(0, 8, (height, width))
        frames.append(np.repeat(np.clip(base, 0, 255).astype(np.uint8)[..., None], 3, axis=2))
    return frames


def rolled(frames: Sequence[np.ndarray], degrees: float) -> list[np.ndarray]:
    """Each frame turned ``degrees`` counter-clockwise about its centre (same size, borders repeated)."""
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        out.append(cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return out


def decode_frames(source: str | os.PathLike[str], max_frames: int) -> list[np.ndarray]:
    """All frames of a video (up to ``max_frames``), decoded once, for runs on identical frames."""
    with VideoSource(source) as video:
        return [f.image.copy() for f in video.frames(max_frames=max_frames)]


def _passes(
    rec: EmotionRecognizer,
    frames_of_pass: Callable[[StageClock], Iterator[np.ndarray]],
    repeats: int,
    draw: bool,
    on_frame: Callable[[], None] | None,
) -> tuple[StageClock, list[float], int, int]:
    clock = StageClock()
    walls, n_frames, n_faces = [], 0, 0
    for _ in range(repeats):
        rec.reset()
        start = time.perf_counter()
        for frame in frames_of_pass(clock):
            faces = rec.track(frame, clock)
            if draw:
                with clock("draw"):
                    draw_faces(frame, faces)
            clock.end_frame()
            n_frames += 1
            n_faces += len(faces)
            if on_frame:
                on_frame()
        walls.append(time.perf_counter() - start)
    return clock, walls, n_frames, n_faces


def bench_pipeline(
    source: str | os.PathLike[str] | Sequence[np.ndarray],
    model: str | os.PathLike[str] | None = None,
    threads: int = 1,
    max_frames: int = PIPELINE_FRAMES,
    repeats: int = PIPELINE_REPEATS,
    backend: str = "auto",
    detector: str = "short",
    draw: bool = True,
    on_frame: Callable[[], None] | None = None,
    align: bool = True,
    roll: float = 0.0,
) -> dict[str, Any]:
    """Run the pipeline ``repeats`` times over ``source`` (a video path, ``'synthetic'``, or frames in
    memory) and report per-stage times, faces per frame and frames per second (median pass). ``align``:
    faces turned upright by their eyes (stage ``align``) or cut by their box (stage ``crop``). ``roll``:
    turn every frame by this many degrees first (the frames are then decoded before timing starts)."""
    cv2.setNumThreads(threads)
    rec = EmotionRecognizer(model=model, detector=detector, backend=backend, threads=threads, align=align)
    in_memory: Sequence[np.ndarray] | None = None
    if isinstance(source, str) and source == "synthetic":
        in_memory = synthetic_frames(max_frames)
    elif not isinstance(source, (str, os.PathLike)):
        in_memory = list(source)[:max_frames]
    elif roll:
        in_memory = decode_frames(source, max_frames)
    if roll and in_memory is not None:
        in_memory = rolled(in_memory, roll)

    def frames_of_pass(clock: StageClock) -> Iterator[np.ndarray]:
        if in_memory is not None:
            for frame in in_memory:
                yield frame.copy() if draw else frame
            return
        with VideoSource(source) as video:
            it = video.frames(max_frames=max_frames, reuse=True)
            while True:
                with clock("decode"):
                    frame = next(it, None)
                if frame is None:
                    return
                yield frame.image

    clock, walls, n_frames, n_faces = _passes(rec, frames_of_pass, repeats, draw, on_frame)
    per_pass = n_frames // max(repeats, 1)
    wall = float(np.median(walls))
    return {
        "source": str(source) if isinstance(source, (str, os.PathLike)) else "frames in memory",
        "frames": per_pass,
        "repeats": repeats,
        "fps": per_pass / wall if wall > 0 else 0.0,
        "ms_per_frame": wall / max(per_pass, 1) * 1e3,
        "faces_per_frame": n_faces / max(n_frames, 1),
        "stages": clock.report(),
        "threads": threads,
        "model": rec.describe()["model"],
        "classifier": rec.classifier.describe(),
        "detector": rec.detector_name,
        "align": align,
        "roll": roll,
        "peak_rss_mb": peak_rss_mb(),
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "machine": cpu_name(),
    }
