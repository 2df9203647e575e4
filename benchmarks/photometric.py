"""How much accuracy a model keeps on dim, washed-out and gamma-shifted faces, per per-face normalization.

Measures 48x48 FER2013 faces (no detector) under clean, dark (x0.3 brightness), low contrast (x0.3 around the
face's mean) and gamma 2.2, with each normalization of :data:`edge_fer.preprocessing.NORMALIZERS` applied
before the model (whatever the model's own metadata says). It is how the normalization of the next model was
chosen (issue "the next shipped model"); ``--model`` defaults to the shipped one, bare (no flip policy).

    python benchmarks/photometric.py --faces ../shared/datasets/fer2013/val --out runs/photometric.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge_fer.atomic import write_json
from edge_fer.backends import load_classifier
from edge_fer.preprocessing import NORMALIZERS
from edge_fer.shipped import default_model_path
from edge_fer.training.corruptions import PHOTOMETRIC
from edge_fer.training.evaluate import accuracy_under_corruptions

CONDITIONS = PHOTOMETRIC


def measure(model: Path, faces_dir: Path, methods: list[str], limit: int | None) -> dict:
    from edge_fer.training.data import load_folder  # the train extra: FER2013 folders

    data = load_folder(faces_dir)
    x, y = data.x, data.y
    if limit:  # a seeded random subset: the folder is sorted by label, so its first N faces are one label
        pick = np.random.default_rng(0).permutation(len(y))[:limit]
        x, y = x[pick], y[pick]
    clf = load_classifier(model, threads=1)
    table: dict[str, dict[str, float]] = {}
    for method in methods:
        clf.meta.preprocessing = {**clf.meta.preprocessing, "normalize": {"method": method}}
        table[method] = {k: round(v, 4) for k, v in accuracy_under_corruptions(clf, x, y, CONDITIONS).items()}
        print(method, table[method], file=sys.stderr, flush=True)
    return {"model": str(model), "faces": str(faces_dir), "n": len(y), "accuracy": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, required=True, help="FER2013-style folder of 48x48 faces (<label>/*.jpg)")
    ap.add_argument("--model", type=Path, default=None, help="emotion model (default: the shipped one)")
    ap.add_argument("--methods", default=",".join(NORMALIZERS), help="normalizations to compare")
    ap.add_argument("--limit", type=int, default=None, help="a seeded random subset of N faces")
    ap.add_argument("--out", type=Path, default=None, help="write the table here as JSON")
    args = ap.parse_args()
    result = measure(args.model or default_model_path(), args.faces, args.methods.split(","), args.limit)
    width = max(len("normalization"), *map(len, result["accuracy"])) + 2
    print(f"{'normalization':<{width}}" + "".join(f"{c:>14}" for c in CONDITIONS))
    for method, row in result["accuracy"].items():
        print(f"{method:<{width}}" + "".join(f"{row[c]:>14.4f}" for c in CONDITIONS))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
