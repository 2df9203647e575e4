"""edge-fer beside the `fer` package (Haar cascade + mini-Xception) on the same decoded frames, one thread each.

fer is not a dependency of edge-fer and pins an old stack, so it runs in an environment of its own:

    python -m venv ~/fer-env
    ~/fer-env/bin/pip install tensorflow-cpu "opencv-contrib-python-headless<5" "setuptools<81" pillow pandas requests
    ~/fer-env/bin/pip install --no-deps fer

then:

    python benchmarks/vs_fer.py --fer-python ~/fer-env/bin/python [--video ../shared/media/woman-with-phone.mp4]

It prints both pipelines' frames per second, faces per frame and the ratio; with --faces DIR (a FER2013
split folder) it also scores both emotion models on the same 48x48 faces. Without fer it says how to get it
and exits 0 having measured edge-fer alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "woman-with-phone.mp4"

# Runs inside fer's environment: time FER().detect_emotions on every frame, one thread.
FER_PIPELINE = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, cv2, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
cv2.setNumThreads(1)
try:
    from fer import FER
except ImportError:  # fer >= 25 keeps the class in fer.fer
    from fer.fer import FER
frames = np.load(sys.argv[1]); repeats = int(sys.argv[2])
det = FER(mtcnn=False)
det.detect_emotions(frames[0])
walls, faces = [], 0
for _ in range(repeats):
    t0 = time.perf_counter()
    for f in frames:
        faces += len(det.detect_emotions(f))
    walls.append(time.perf_counter() - t0)
wall = float(np.median(walls))
print(json.dumps({"fps": len(frames) / wall, "faces_per_frame": faces / (len(frames) * repeats)}))
"""

# Runs inside fer's environment: fer's own emotion model on 48x48 faces with fer's own preprocessing.
FER_FACES = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, cv2, tensorflow as tf
try:
    from fer import FER
except ImportError:
    from fer.fer import FER
faces = np.load(sys.argv[1])
det = FER(mtcnn=False)
size = det._FER__emotion_target_size
x = np.stack([cv2.resize(f, size) for f in faces]).astype("float32") / 255.0
x = (x - 0.5) * 2.0  # fer's own "v2" preprocessing, as in detect_emotions
pred = np.concatenate([np.asarray(det._classify_emotions(x[i : i + 256])) for i in range(0, len(x), 256)]).argmax(1)
labels = FER._get_labels()
pred = [labels[int(i)] for i in pred]
print(json.dumps({"pred": pred}))
"""


def run_fer(fer_python: str, script: str, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    proc = subprocess.run([fer_python, "-c", script, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"fer failed in {fer_python}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def find_fer_python(given: str | None) -> str | None:
    """The interpreter of fer's environment: --fer-python, $FER_PYTHON, ~/fer-env, or this one if fer imports."""
    for candidate in (given, os.environ.get("FER_PYTHON"), str(Path.home() / "fer-env" / "bin" / "python")):
        if candidate and shutil.which(candidate):
            return candidate
    try:
        import fer  # noqa: F401

        return sys.executable
    except ImportError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--model", default=None, help="edge-fer model (default: the shipped one)")
    ap.add_argument("--fer-python", default=None, help="python of the environment where fer is installed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--faces", default=None, help="a FER2013 split folder: also compare accuracy on its faces")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not Path(args.video).is_file():
        sys.exit(f"video {args.video} not found; pass --video PATH")

    from edge_fer.pipeline_bench import bench_pipeline, decode_frames

    frames = decode_frames(args.video, max_frames=10_000)
    ours = bench_pipeline(frames, model=args.model, threads=1, repeats=args.repeats, draw=False)
    report = {"video": args.video, "frames": len(frames), "edge_fer": {k: ours[k] for k in ("fps", "faces_per_frame")}}
    fer_python = find_fer_python(args.fer_python)
    if fer_python is None:
        print("fer is not installed: see this script's docstring (python benchmarks/vs_fer.py --help) to set it up")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "frames.npy", np.stack(frames))
            report["fer"] = run_fer(fer_python, FER_PIPELINE, str(Path(tmp) / "frames.npy"), str(args.repeats))
            report["fps_ratio"] = report["edge_fer"]["fps"] / report["fer"]["fps"]
            if args.faces:
                report["accuracy"] = compare_accuracy(fer_python, args.faces, args.model, Path(tmp))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'':10s} {'fps':>8s} {'faces/frame':>12s}   ({len(frames)} frames of {args.video}, one thread each)")
    for name in ("edge_fer", "fer"):
        if name in report:
            print(f"{name:10s} {report[name]['fps']:8.1f} {report[name]['faces_per_frame']:12.2f}")
    if "fps_ratio" in report:
        print(f"edge-fer / fer: {report['fps_ratio']:.1f}x the frames per second")
    if "accuracy" in report:
        acc = report["accuracy"]
        print(f"accuracy on {acc['n']} faces of {args.faces}: edge-fer {acc['edge_fer']:.4f}, fer {acc['fer']:.4f}")


def compare_accuracy(fer_python: str, faces_dir: str, model: str | None, tmp: Path) -> dict:
    """Both emotion models on the same labelled 48x48 faces, each with its own preprocessing."""
    from edge_fer.backends import load_classifier
    from edge_fer.labels import LABELS
    from edge_fer.shipped import default_model_path
    from edge_fer.training.data import load_split
    from edge_fer.training.evaluate import predict_probs
    from edge_fer.tta import with_tta

    faces = load_split(faces_dir, "val")
    clf = with_tta(load_classifier(model or default_model_path(), threads=1))  # as users run it: its own policy
    ours = predict_probs(clf, faces.x).argmax(1)
    np.save(tmp / "faces.npy", faces.x)
    theirs = run_fer(fer_python, FER_FACES, str(tmp / "faces.npy"))["pred"]
    truth = [LABELS[i] for i in faces.y]
    return {
        "n": len(truth),
        "edge_fer": float(np.mean([LABELS[i] == t for i, t in zip(ours, truth)])),
        "fer": float(np.mean([p == t for p, t in zip(theirs, truth)])),
    }


if __name__ == "__main__":
    main()
