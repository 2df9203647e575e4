"""``edge-fer data check``: what a dataset holds and which files training would skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_fer.training.data import imbalance_ratio, load_split


def check_dataset(path: str | Path) -> dict[str, Any]:
    """Counts per label, imbalance ratio and every unusable file with its reason."""
    faces = load_split(path, "train")
    counts = faces.counts()
    return {
        "source": faces.source,
        "total": len(faces),
        "counts": counts,
        "imbalance_ratio": imbalance_ratio(counts),
        "problems": [{"path": p.path, "reason": p.reason} for p in faces.problems],
    }
