"""Crop-consistency distillation: soft targets from a teacher that sees each face as FER2013 cut it.

A network trained on FER2013's crops reads the pipeline's crop of the same face a few points worse (the framing
gap, docs/experiments.md sections 6 and 7): the detector's box cannot reproduce each face's hand-corrected
FER2013 framing. Training on the runtime's crops (``edge-fer data reframe``) with hard labels trades accuracy on
FER2013's own crops for the gap. Here each reframed face ``<stem>_reframed.png`` is instead taught the teacher's
probabilities for its original ``<stem>.jpg`` (mirror-averaged), so the student learns to read the runtime's crop
as the teacher reads the FER2013 crop; faces without a reframed twin get the teacher's probabilities for
themselves (ordinary self-distillation, Hinton et al. 2015, "Distilling the Knowledge in a Neural Network",
at temperature 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_fer.errors import DataError, ModelError
from edge_fer.labels import LABELS
from edge_fer.training.reframe import SUFFIX


def original_index(paths: list[str]) -> np.ndarray:
    """For each path, the index of the face the teacher should see: its original (same folder, ``<stem>.*``
    for ``<stem>_reframed.png``) where that is in ``paths``, else itself. Shape (N,), int64."""
    where: dict[tuple[str, str], int] = {}
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.name.endswith(SUFFIX):
            where.setdefault((str(path.parent), path.stem), i)
    out = np.arange(len(paths), dtype=np.int64)
    for i, p in enumerate(paths):
        path = Path(p)
        if path.name.endswith(SUFFIX):
            out[i] = where.get((str(path.parent), path.name[: -len(SUFFIX)]), i)
    return out


def teacher_probabilities(teacher: str | Path, faces: np.ndarray, batch: int = 512) -> np.ndarray:
    """The teacher's probabilities (N, 7) for uint8 faces (N, 48, 48), mean of the face and its mirror image,
    with the teacher's own preprocessing (from its metadata). Raises DataError for a teacher that cannot be
    read or whose labels differ from edge-fer's."""
    from edge_fer.backends import load_classifier
    from edge_fer.tta import FlipTTA

    try:
        model = load_classifier(teacher)
    except ModelError as exc:
        raise DataError(f"--teacher: {exc}") from None
    if list(model.meta.labels) != list(LABELS):
        raise DataError(f"--teacher {teacher}: its labels {model.meta.labels} are not edge-fer's {list(LABELS)}")
    mirrored = FlipTTA(model)  # every face averaged with its mirror image
    x = np.asarray(faces, np.uint8)[..., None]
    out = np.zeros((len(x), len(LABELS)), np.float32)
    for start in range(0, len(x), batch):  # bounded memory: a Keras teacher runs each call as one batch
        out[start : start + batch] = mirrored.predict(x[start : start + batch])
    return out


def distilled_targets(
    teacher: str | Path, faces: np.ndarray, labels: np.ndarray, paths: list[str], weight: float
) -> np.ndarray:
    """Training targets (N, 7): ``(1 - weight)`` x one-hot label + ``weight`` x the teacher's probabilities for
    the face's original (:func:`original_index`). ``weight`` in [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise DataError(f"--distill {weight} is not in [0, 1]")
    if len(paths) != len(labels):
        raise DataError("distillation needs each training face's file path (a folder dataset, not a CSV)")
    soft = teacher_probabilities(teacher, faces[original_index(paths)])
    onehot = np.eye(len(LABELS), dtype=np.float32)[labels]
    return ((1.0 - weight) * onehot + weight * soft).astype(np.float32)
