"""Re-encode the first frames of a video losslessly (FFV1 in Matroska), so two machines decode identical pixels.

    python benchmarks/lossless_clip.py SOURCE.mp4 OUT.mkv [--frames 30]

Why: ``benchmarks/aarch64.sh`` compares edge-fer on aarch64 with x86. An H.264 file is decoded by the FFmpeg
inside each platform's OpenCV wheel, and its YUV-to-BGR conversion rounds differently on x86 (SSE) and on
aarch64 (NEON): on ``woman-with-phone.mp4`` the decoded frames differ by up to 3 of 255 levels in about half
the pixels, which moves the int8 classifier's probabilities by up to ~0.02. FFV1 stores the BGR frames
exactly, and decoding it is a channel shuffle, so both platforms read the same pixels and any difference left
is edge-fer's own. The clip is checked after writing: it must decode to exactly the frames that went in.

Needs OpenCV's FFmpeg with the FFV1 encoder (opencv-python wheels have it). Exit codes: 0, 2 when the source
cannot be read or the clip does not round-trip exactly.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from edge_fer.atomic import atomic_path
from edge_fer.errors import EdgeFerError
from edge_fer.pipeline_bench import decode_frames


class ClipError(ValueError):
    """The clip could not be written, or does not decode to the frames written."""


def read_all(path: str | os.PathLike[str]) -> list[np.ndarray]:
    """Every frame of a video as OpenCV decodes it (BGR uint8)."""
    cap = cv2.VideoCapture(os.fspath(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return frames
            frames.append(frame)
    finally:
        cap.release()


def write_lossless(frames: list[np.ndarray], out: str | os.PathLike[str], fps: float = 25.0) -> Path:
    """Write ``frames`` (BGR uint8, one size) as an FFV1 .mkv, atomically; raise ClipError unless it round-trips."""
    if not frames:
        raise ClipError("no frames to write")
    height, width = frames[0].shape[:2]
    with atomic_path(out) as tmp:
        writer = cv2.VideoWriter(os.fspath(tmp), cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height))
        if not writer.isOpened():
            raise ClipError(f"{out}: this OpenCV cannot write FFV1 video")
        for frame in frames:
            writer.write(frame)
        writer.release()
        back = read_all(tmp)
        if len(back) != len(frames) or any(not np.array_equal(a, b) for a, b in zip(back, frames)):
            raise ClipError(f"{out}: the FFV1 clip does not decode to the frames written")
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="a video file")
    ap.add_argument("out", type=Path, help="the .mkv to write")
    ap.add_argument("--frames", type=int, default=30, help="how many frames from the start")
    args = ap.parse_args(argv)
    try:
        frames = decode_frames(args.source, args.frames)
        write_lossless(frames, args.out)
    except (EdgeFerError, ClipError) as exc:
        print(f"lossless_clip: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(frames)} frames, {frames[0].shape[1]}x{frames[0].shape[0]}, FFV1 (exact)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
