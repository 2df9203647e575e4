"""How much accuracy a model keeps on dim, washed-out and gamma-shifted faces, per per-face normalization.

Measures 48x48 FER2013 faces (no detector) under clean, dark (x0.3 brightness), low contrast (x0.3 around the
face's mean) and gamma 2.2, with each normalization of :data:`edge_fer.preprocessing.NORMALIZERS` applied
before the model (whatever the model's own metadata says). It is how the normalization of the next model was
chosen (issue "the next shipped model"); ``--model`` defaults to the shipped one, bare (no flip policy).

    python benchmarks/photometric.py --faces ../shared/datasets/fer2013/val --out runs/photometric.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edge_fer.atomic import write_json
from edge_fer.backends import load_classifier
from edge_fer.preprocessing import NORMALIZERS, normalize_faces
from edge_fer.shipped import default_model_path


def corrupt(x: np.ndarray, kind: str) -> np.ndarray:
    """(N, 48, 48) uint8 faces under one photometric corruption, as a camera would deliver them (uint8)."""
    f = x.astype(np.float32)
    if kind == "clean":
        return x
    if kind == "dark":
        out = f * 0.3
    elif kind == "low_contrast":
        mean = f.reshape(len(f), -1).mean(axis=1)[:, None, None]
        out = (f - mean) * 0.3 + mean
    elif kind == "gamma":
        out = 255.0 * (f / 255.0) ** 2.2
    else:
        raise ValueError(kind)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


CONDITIONS = ("clean", "dark", "low_contrast", "gamma")


def measure(model: Path, faces_dir: Path, methods: list[str], limit: int | None) -> dict:
    from edge_fer.training.data import load_folder  # the train extra: FER2013 folders

    data = load_folder(faces_dir)
    x, y = data.x, data.y
    if limit:
        x, y = x[:limit], y[:limit]
    clf = load_classifier(model, threads=1)
    clf.meta.preprocessing = {**clf.meta.preprocessing, "normalize": {"method": "none"}}  # we normalize here
    table: dict[str, dict[str, float]] = {}
    for method in methods:
        table[method] = {}
        for cond in CONDITIONS:
            faces = normalize_faces(corrupt(x, cond), method)[..., None]
            probs = np.concatenate([clf.predict(faces[i : i + 256]) for i in range(0, len(faces), 256)])
            table[method][cond] = round(float((probs.argmax(1) == y).mean()), 4)
        print(method, table[method], file=sys.stderr, flush=True)
    return {"model": str(model), "faces": str(faces_dir), "n": len(y), "accuracy": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, required=True, help="FER2013-style folder of 48x48 faces (<label>/*.jpg)")
    ap.add_argument("--model", type=Path, default=None, help="emotion model (default: the shipped one)")
    ap.add_argument("--methods", default=",".join(NORMALIZERS), help="normalizations to compare")
    ap.add_argument("--limit", type=int, default=None, help="first N faces only")
    ap.add_argument("--out", type=Path, default=None, help="write the table here as JSON")
    args = ap.parse_args()
    result = measure(args.model or default_model_path(), args.faces, args.methods.split(","), args.limit)
    print(f"{'normalization':<14}" + "".join(f"{c:>14}" for c in CONDITIONS))
    for method, row in result["accuracy"].items():
        print(f"{method:<14}" + "".join(f"{row[c]:>14.4f}" for c in CONDITIONS))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
