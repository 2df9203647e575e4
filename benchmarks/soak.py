"""Soak test: the runtime over 20,000 frames, frames per second and resident memory every 1,000 frames.

    python benchmarks/soak.py [--frames 20000] [--video ../shared/media/woman-with-phone.mp4] [--model PATH]

The source loops a real video's decoded frames (each pass slightly shifted and brightened so no frame
repeats exactly), or synthetic frames where the video is absent. Memory must not grow after warm-up: the
script exits 1 when resident memory at the end exceeds the post-warm-up level by more than --max-growth-mb.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "woman-with-phone.mp4"


def looped_frames(base: list[np.ndarray], total: int) -> Iterator[np.ndarray]:
    """``total`` frames cycling through ``base``, each pass shifted by a pixel and brightened a little."""
    for i in range(total):
        loop, frame = divmod(i, len(base))
        shift = loop % 7
        yield np.clip(np.roll(base[frame], shift, axis=1).astype(np.int16) + (loop % 5), 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--every", type=int, default=1_000)
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup-frames", type=int, default=2_000)
    ap.add_argument("--max-growth-mb", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from edge_fer.drawing import draw_faces
    from edge_fer.pipeline_bench import decode_frames, synthetic_frames
    from edge_fer.recognizer import EmotionRecognizer
    from edge_fer.sysinfo import current_rss_mb

    base = decode_frames(args.video, 10_000) if Path(args.video).is_file() else synthetic_frames(200)
    rec = EmotionRecognizer(model=args.model, threads=args.threads)
    rows, faces, start = [], 0, time.perf_counter()
    last_t, last_n = start, 0
    for n, frame in enumerate(looped_frames(base, args.frames), start=1):
        found = rec.track(frame)
        draw_faces(frame, found)
        faces += len(found)
        if n % args.every == 0:
            now = time.perf_counter()
            row = {"frames": n, "fps": (n - last_n) / (now - last_t), "rss_mb": current_rss_mb(), "faces": faces}
            rows.append(row)
            last_t, last_n = now, n
            if not args.json:
                print(f"{n:>7d} frames  {row['fps']:7.1f} fps  {row['rss_mb']:7.1f} MB RSS  {faces} faces", flush=True)
    after_warmup = next((r["rss_mb"] for r in rows if r["frames"] >= args.warmup_frames), rows[0]["rss_mb"])
    growth = rows[-1]["rss_mb"] - after_warmup
    verdict = {
        "frames": args.frames,
        "source": args.video if Path(args.video).is_file() else "synthetic",
        "mean_fps": args.frames / (time.perf_counter() - start),
        "rss_after_warmup_mb": after_warmup,
        "rss_end_mb": rows[-1]["rss_mb"],
        "growth_mb": growth,
        "ok": growth <= args.max_growth_mb,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(verdict, indent=2))
    else:
        state = "no growth" if verdict["ok"] else "GROWTH"
        print(f"memory after warm-up {after_warmup:.1f} MB, at the end {rows[-1]['rss_mb']:.1f} MB: {state}")
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
