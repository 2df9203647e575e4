"""``edge-fer evaluate``: accuracy, per-class precision/recall/F1 and the confusion matrix of any model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.atomic import check_output, write_json
from edge_fer.backends import load_classifier
from edge_fer.errors import DataError
from edge_fer.training.calibration_error import expected_calibration_error
from edge_fer.training.corruptions import PHOTOMETRIC, corrupt
from edge_fer.training.data import load_split
from edge_fer.tta import tta_description, with_tta

log = logging.getLogger(__name__)


#: Where ``evaluate`` writes its confusion matrix and report when no folder is given (relative to the
#: working folder, like the other commands' ``runs/<command>``).
DEFAULT_OUT = Path("runs/evaluate")


def predict_probs(
    classifier: Any, x: np.ndarray, batch: int = 256, on_faces: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Probabilities for (N, 48, 48) uint8 faces, in batches (any test-time policy is the classifier's own).
    ``on_faces(done, total)`` is called after each batch (for a progress bar)."""
    faces = x[..., None] if x.ndim == 3 else x
    outs = []
    for i in range(0, len(faces), batch):
        outs.append(classifier.predict(faces[i : i + batch]))
        if on_faces is not None:
            on_faces(min(i + batch, len(faces)), len(faces))
    return np.concatenate(outs) if outs else np.zeros((0, len(classifier.meta.labels)), np.float32)


def most_confused(matrix: np.ndarray, labels: list[str], top: int = 10) -> list[dict[str, Any]]:
    """Off-diagonal (true, predicted) pairs by the share of the true class they take."""
    rows = matrix.sum(axis=1)
    pairs = []
    for i, t in enumerate(labels):
        for j, p in enumerate(labels):
            if i != j and matrix[i, j]:
                pairs.append(
                    {"true": t, "predicted": p, "count": int(matrix[i, j]), "rate": float(matrix[i, j] / rows[i])}
                )
    return sorted(pairs, key=lambda d: (-d["rate"], -d["count"]))[:top]


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-class metrics, confusion matrix and confused pairs, from sklearn."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    idx = list(range(len(labels)))
    prec, rec, f1, sup = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=idx)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "n": len(y_true),
        "per_class": {
            name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(sup[i])}
            for i, name in enumerate(labels)
        },
        "macro_f1": float(np.mean(f1)),
        "confusion_matrix": cm.tolist(),
        "labels": labels,
        "most_confused": most_confused(cm, labels),
    }


def evaluate_model(
    model: str | Path,
    data: str | Path,
    tta: str = "model",
    out_dir: str | Path | None = None,
    backend: str = "auto",
    threads: int | None = None,
    force: bool = False,
    on_faces: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a .keras/.tflite/.onnx model on labelled faces; writes confusion PNG + JSON (refused where
    they exist, unless ``force``). ``tta``: the model's own flip policy (``model``), ``none`` or ``flip``.

    They go to ``out_dir`` (default :data:`DEFAULT_OUT`, under the working folder: never beside the model,
    which may be a shipped or read-only file) as ``<model stem>_<data stem>[_tta-<mode>]_confusion.png`` and
    ``..._eval.json``; the TTA mode is in the name unless it is the model's own, so ``--tta none`` beside the
    default run writes its own files. ``on_faces(done, total)`` reports progress through the faces."""
    from edge_fer.training.plots import plot_confusion

    model = Path(model)
    out = Path(out_dir) if out_dir else DEFAULT_OUT
    stem = f"{model.stem}_{Path(data).stem}" + ("" if tta == "model" else f"_tta-{tta}")
    png_path, json_path = out / f"{stem}_confusion.png", out / f"{stem}_eval.json"
    clf = with_tta(load_classifier(model, backend=backend, threads=threads), tta)
    for path in (png_path, json_path):
        check_output(path, force)
    faces = load_split(data, "val")
    labels = list(clf.meta.labels)
    if len(faces) == 0:
        raise DataError(f"{data}: no labelled faces to evaluate on")
    if faces.problems:
        log.warning(
            "skipped %d unusable files in %s (run `edge-fer data check %s` to list them)",
            len(faces.problems),
            data,
            data,
        )
    probs = predict_probs(clf, faces.x, on_faces=on_faces)
    report = classification_report(faces.y, probs.argmax(axis=1), labels)
    report.update(
        {
            "ece": expected_calibration_error(probs, faces.y),
            "model": str(model),
            "data": str(data),
            "backend": clf.backend,
            "tta": tta_description(clf),
            "skipped_files": len(faces.problems),
        }
    )
    report["confusion_png"] = str(
        plot_confusion(
            np.asarray(report["confusion_matrix"]),
            labels,
            png_path,
            title=f"{model.name}: accuracy {report['accuracy']:.3f}",
        )
    )
    write_json(json_path, report)
    return report


def accuracy_under_corruptions(
    classifier: Any, x: np.ndarray, y: np.ndarray, kinds: tuple[str, ...] = PHOTOMETRIC
) -> dict[str, float]:
    """Accuracy of ``classifier`` (with whatever normalization and flip policy it carries) on (N, 48, 48) uint8
    faces ``x`` under each photometric corruption of :mod:`edge_fer.training.corruptions`."""
    return {kind: float(np.mean(predict_probs(classifier, corrupt(x, kind)).argmax(axis=1) == y)) for kind in kinds}
