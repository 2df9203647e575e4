"""Experiment data: stratified subsets and splits of loaded faces, written back as label-folder trees so the
ordinary trainer reads them like any dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_fer.atomic import write_json
from edge_fer.errors import DataError
from edge_fer.labels import LABELS
from edge_fer.training.data import FaceSet, stratified_split


def limit_faces(faces: FaceSet, limit: int | None, seed: int = 0) -> FaceSet:
    """A stratified subset of ``limit`` faces (all of them when ``limit`` is None or not smaller)."""
    if limit is None or limit >= len(faces):
        return faces
    if limit < 2 * len(np.unique(faces.y)):
        raise DataError(f"--limit {limit} is too small: need at least two faces per label present")
    _, kept = stratified_split(faces, limit / len(faces), seed)
    return kept


def split_train_unlabelled_val(faces: FaceSet, seed: int = 0, ratio=(4, 1, 1)) -> tuple[FaceSet, FaceSet, FaceSet]:
    """Stratified training / unlabelled / validation parts in ``ratio`` (the report's 4:1:1)."""
    a, b, c = ratio
    rest, val = stratified_split(faces, c / (a + b + c), seed)
    train, unlabelled = stratified_split(rest, b / (a + b), seed + 1)
    return train, unlabelled, val


def write_labelled(faces: FaceSet, root: Path) -> Path:
    """``root/<label>/<i>.png`` for every face (PNG: lossless, so training reads the same pixels)."""
    for name in LABELS:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (img, y) in enumerate(zip(faces.x, faces.y)):
        if not cv2.imwrite(str(root / LABELS[int(y)] / f"{i:06d}.png"), img):
            raise DataError(f"{root}: could not write face images")
    return root


def write_unlabelled(faces: FaceSet, root: Path) -> Path:
    """``root/<i>.png`` with no labels, and the hidden truth beside it in ``root.parent/<name>_truth.json``
    (to score the pseudo-labels afterwards, never read by training)."""
    root.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i, (img, y) in enumerate(zip(faces.x, faces.y)):
        name = f"{i:06d}.png"
        if not cv2.imwrite(str(root / name), img):
            raise DataError(f"{root}: could not write face images")
        truth[name] = LABELS[int(y)]
    write_json(root.parent / f"{root.name}_truth.json", truth)
    return root


def prepare_data(data: str | Path, out: Path, limit: int | None, seed: int = 0) -> Path:
    """``data`` itself, or with ``limit``: a stratified subset of ``limit`` training faces and ``limit // 4``
    validation faces written to ``out/train`` and ``out/val`` (reused when written before)."""
    from edge_fer.training.data import load_train_val

    if limit is None:
        return Path(data)
    if (out / "train").is_dir() and (out / "val").is_dir() and (out / "limit.json").is_file():
        import json

        if json.loads((out / "limit.json").read_text()) == {"data": str(data), "limit": limit, "seed": seed}:
            return out
    import shutil

    for part in ("train", "val"):
        if (out / part).exists():
            shutil.rmtree(out / part)
    train, val = load_train_val(data, None, 0.1, seed)
    write_labelled(limit_faces(train, limit, seed), out / "train")
    write_labelled(limit_faces(val, max(limit // 4, 2 * len(LABELS)), seed), out / "val")
    write_json(out / "limit.json", {"data": str(data), "limit": limit, "seed": seed})
    return out
