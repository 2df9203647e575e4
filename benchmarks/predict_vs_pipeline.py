"""``edge-fer predict VIDEO --out DIR`` against ``edge-fer bench --pipeline VIDEO`` on the same file, one thread.

    python benchmarks/predict_vs_pipeline.py [--video ../shared/media/woman-with-phone.mp4] [--repeats 5]

The table's extra work (a row per face, media times, the summary, the CSV and timeline PNG at the end) must
cost little: predict should run at >= 90% of the pipeline's frames per second. Both are timed in turns, in
this process, after one warm-up pass each, so a machine's slow phase hits both alike; each figure is the
median over ``--repeats`` passes. predict's time is the whole ``analyze_video_to`` call (decode to files
written); the pipeline's is its own pass (decode, detect, crop, classify, track, draw). Wall-clock fps swing
with other work on a shared machine, so CPU-time fps (process CPU seconds; both run on one thread) are
reported too (the pipeline's include loading its models, about 1% on a long video), and the ratio of those
decides. Use a long video (hundreds of frames) so per-video costs (opening, the CSV and PNG) weigh as they
do on real recordings. Exits 1 when the ratio is below ``--min-ratio``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "woman-with-phone.mp4"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-ratio", type=float, default=0.9)
    args = ap.parse_args()

    import cv2

    from edge_fer.analysis import AnalysisSettings, analyze_video_to
    from edge_fer.pipeline_bench import bench_pipeline
    from edge_fer.recognizer import recognizer_for

    cv2.setNumThreads(1)
    settings = AnalysisSettings(threads=1)
    rec = recognizer_for(settings)
    predict_fps, pipeline_fps, predict_cpu_fps, pipeline_cpu_fps = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats + 1):
            start, cpu = time.perf_counter(), time.process_time()
            summary = analyze_video_to(args.video, tmp, settings, recognizer=rec)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
            cpu = time.process_time()
            bench = bench_pipeline(args.video, threads=1, repeats=1, max_frames=100_000)
            bench_cpu = time.process_time() - cpu
            if i:  # the first round warms both up
                predict_fps.append(summary.frames_read / seconds)
                pipeline_fps.append(bench["fps"])
                predict_cpu_fps.append(summary.frames_read / cpu_seconds)
                pipeline_cpu_fps.append(bench["frames"] / bench_cpu)

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    result = {
        "video": args.video,
        "frames": summary.frames_read,
        "predict_fps": med(predict_fps),
        "pipeline_fps": med(pipeline_fps),
        "wall_ratio": round(med(predict_fps) / med(pipeline_fps), 3),
        "predict_cpu_fps": med(predict_cpu_fps),
        "pipeline_cpu_fps": med(pipeline_cpu_fps),
        "ratio": round(med(predict_cpu_fps) / med(pipeline_cpu_fps), 3),
        "predict_fps_all": [round(v, 1) for v in predict_fps],
        "pipeline_fps_all": [round(v, 1) for v in pipeline_fps],
    }
    print(json.dumps(result, indent=2))
    return 0 if result["ratio"] >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
