"""``edge-fer data check``: what a dataset holds and which files training would skip."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edge_fer.training.data import imbalance_ratio, load_split


def check_dataset(path: str | Path) -> dict[str, Any]:
    """Counts per label, labels with no faces, imbalance ratio and every unusable file with its reason.

    ``imbalance_ratio`` is the largest label count over the smallest, or None (infinite) when a label has
    no faces, so the report stays plain JSON; ``empty_labels`` names those labels."""
    faces = load_split(path, "train")
    counts = faces.counts()
    ratio = imbalance_ratio(counts)
    return {
        "source": faces.source,
        "total": len(faces),
        "counts": counts,
        "empty_labels": [label for label, n in counts.items() if n == 0],
        "imbalance_ratio": None if math.isinf(ratio) else ratio,
        "problems": [{"path": p.path, "reason": p.reason} for p in faces.problems],
    }
