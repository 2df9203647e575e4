"""Representative faces for int8 calibration, and the validation faces the parity report runs on.

Calibration sees real training faces, stratified by label so rare emotions (disgust) set activation
ranges too, decoded by :mod:`edge_fer.training.data` through the runtime's own preprocessing. Never validation
faces (the parity report would grade its own calibration), never noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_fer.errors import DataError
from edge_fer.export.formats import DEFAULT_CALIB_SIZE
from edge_fer.preprocessing import INPUT_SIZE
from edge_fer.training.data import FaceSet, find_splits, load_split


@dataclass
class Calibration:
    """The faces int8 converters calibrate on: (N, 48, 48, 1) uint8, and where they came from."""

    faces: np.ndarray
    source: str
    seed: int

    def __len__(self) -> int:
        return len(self.faces)

    def batches(self, size: int = 1) -> Iterator[np.ndarray]:
        """Float32 raw-pixel batches, exactly what the backends feed a float-input model."""
        for i in range(0, len(self.faces), size):
            yield self.faces[i : i + size].astype(np.float32)

    def describe(self) -> dict[str, object]:
        return {"faces": len(self), "source": self.source, "seed": self.seed}


def stratified_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` items keeping each label's share (every present label at least once), sorted."""
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    labels, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.floor(counts / counts.sum() * n).astype(int))
    # Hand the rounding remainder to the labels with the largest fractional parts, never beyond a label's size.
    order = np.argsort(-(counts / counts.sum() * n - np.floor(counts / counts.sum() * n)))
    k = 0
    while quota.sum() < n and k < 10 * len(labels):
        i = order[k % len(labels)]
        if quota[i] < counts[i]:
            quota[i] += 1
        k += 1
    picked = [
        rng.choice(np.flatnonzero(y == label), size=min(q, c), replace=False)
        for label, q, c in zip(labels, quota, counts)
    ]
    return np.sort(np.concatenate(picked))


def train_source(data: str | Path) -> Path | str:
    """The training split inside ``--data`` (a FER folder's train/, a CSV's Training rows, or the folder)."""
    return find_splits(data)[0]


def val_source(data: str | Path | None, val: str | Path | None) -> Path | str | None:
    """``--val``, else the val/ (or test/) split found in ``--data``, else None."""
    if val is not None:
        return val
    if data is None:
        return None
    return find_splits(data)[1]


def load_calibration(data: str | Path, size: int = DEFAULT_CALIB_SIZE, seed: int = 0) -> Calibration:
    """``size`` stratified training faces from ``data`` (seeded), through the runtime's preprocessing."""
    if size < 1:
        raise DataError(f"calibration needs at least one face, not {size}")
    src = train_source(data)
    faces = load_split(src, "train")
    if len(faces) == 0:
        raise DataError(f"{src}: no labelled training faces to calibrate int8 models on")
    index = stratified_sample(faces.y, size, seed)
    x = faces.x[index].reshape(-1, INPUT_SIZE, INPUT_SIZE, 1)
    return Calibration(np.ascontiguousarray(x), str(src), seed)


def load_validation(data: str | Path | None, val: str | Path | None) -> FaceSet | None:
    """The labelled faces the parity report runs on (the same :func:`load_split` ``edge-fer evaluate`` uses)."""
    src = val_source(data, val)
    if src is None:
        return None
    faces = load_split(src, "val")
    if len(faces) == 0:
        raise DataError(f"{src}: no labelled faces to check the exported models on")
    return faces
