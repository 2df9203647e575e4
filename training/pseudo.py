"""Semi-supervised training by pseudo-labelling, as one report did it: train on the labelled faces, label
the unlabelled faces the model is sure of (top probability above a threshold), continue on both.

The confident faces are written as a label-folder tree ``<run>/pseudo/<label>/*.png`` and added to the
run's ``extra_train``; the run then resumes where it stopped, for more epochs. A cosine schedule has
decayed to zero by then, so it restarts over the extra epochs (a warm restart); other schedules go on.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_fer.atomic import atomic_path, write_json
from edge_fer.errors import DataError
from edge_fer.labels import LABELS
from edge_fer.preprocessing import to_face_input
from edge_fer.training.data import IMAGE_SUFFIXES
from edge_fer.training.defaults import PSEUDO_EXTRA_EPOCHS, PSEUDO_THRESHOLD

log = logging.getLogger(__name__)

PSEUDO_DIR = "pseudo"


def load_unlabelled(folder: str | Path) -> tuple[np.ndarray, list[str]]:
    """Every image under ``folder`` (any depth, any label folders ignored) as (N, 48, 48) uint8 faces."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of unlabelled faces")
    xs, paths, bad = [], [], 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            bad += 1
            continue
        xs.append(to_face_input(img))
        paths.append(str(path))
    if bad:
        log.warning("%s: skipped %d unreadable images", root, bad)
    if not xs:
        raise DataError(f"{root}: no readable images to pseudo-label")
    return np.stack(xs), paths


def confident(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the faces whose top probability exceeds ``threshold`` (strictly)."""
    return np.flatnonzero(np.asarray(probs).max(axis=1) > threshold)


def max_confidence(label_smoothing: float, classes: int = len(LABELS)) -> float:
    """The top probability a model trained with ``label_smoothing`` aims for: its targets never exceed it,
    so a threshold at or above it selects almost nothing."""
    return 1.0 - label_smoothing + label_smoothing / classes


def warn_unreachable(threshold: float, label_smoothing: float) -> None:
    """One warning when ``threshold`` sits at or above what the run's label smoothing lets a model reach."""
    ceiling = max_confidence(label_smoothing)
    if label_smoothing > 0 and threshold >= ceiling - 0.02:
        log.warning(
            "threshold %.2f is near the %.3f ceiling that label smoothing %.2f sets on confidence: few faces "
            "will pass; train with --label-smoothing 0 or lower the threshold",
            threshold,
            ceiling,
            label_smoothing,
        )


def write_pseudo_labels(
    model_path: str | Path, unlabelled: str | Path, threshold: float, out_dir: str | Path
) -> dict[str, Any]:
    """Label the faces of ``unlabelled`` with the model; write the confident ones to ``out_dir/<label>/``
    (replacing what was there). Returns counts and, per written face, its source and label."""
    from edge_fer.backends import load_classifier
    from edge_fer.training.evaluate import predict_probs

    if not 0.0 <= threshold < 1.0:
        raise DataError(f"threshold {threshold} must be in [0, 1)")
    x, paths = load_unlabelled(unlabelled)
    clf = load_classifier(model_path, backend="keras")
    probs = predict_probs(clf, x)
    keep = confident(probs, threshold)
    labels = list(clf.meta.labels)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    for name in LABELS:
        (out / name).mkdir(parents=True, exist_ok=True)
    chosen = []
    for i in keep:
        label = labels[int(probs[i].argmax())]
        target = out / label / f"{i:06d}_{Path(paths[i]).stem}.png"
        with atomic_path(target) as tmp:
            cv2.imwrite(str(tmp), x[i])
        chosen.append({"source": paths[i], "label": label, "probability": float(probs[i].max())})
    counts = {name: sum(1 for c in chosen if c["label"] == name) for name in LABELS}
    report = {
        "model": str(model_path),
        "unlabelled": len(x),
        "threshold": threshold,
        "selected": len(chosen),
        "counts": counts,
        "folder": str(out),
        "faces": chosen,
    }
    write_json(out.parent / f"{out.name}.json", report)
    return report


def continue_with_pseudo_labels(
    run_dir: str | Path,
    unlabelled: str | Path,
    threshold: float = PSEUDO_THRESHOLD,
    extra_epochs: int = PSEUDO_EXTRA_EPOCHS,
    verbose: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Pseudo-label ``unlabelled`` with the run's best model, add the confident faces to its training set,
    and resume it for ``extra_epochs`` more. Returns (TrainResult, pseudo-label report)."""
    from edge_fer.training.checkpoint import RunState
    from edge_fer.training.train import resume

    run_dir = Path(run_dir)
    state = RunState.load(run_dir)
    pseudo_dir = run_dir / PSEUDO_DIR
    warn_unreachable(threshold, float(state.config.get("label_smoothing", 0.0)))
    report = write_pseudo_labels(run_dir / "best.keras", unlabelled, threshold, pseudo_dir)
    extras = [e for e in state.config.get("extra_train", []) if Path(e) != pseudo_dir]
    if report["selected"]:
        extras.append(str(pseudo_dir))
    else:
        log.warning("no unlabelled face above threshold %.2f; continuing on the labelled faces alone", threshold)
    state.config["extra_train"] = extras
    state.counters.pop("early_stopping", None)  # new training data: patience starts over
    state.save(run_dir)  # resume() then restarts a finished cosine schedule over the extra epochs
    result = resume(run_dir, epochs=state.epoch + extra_epochs, verbose=verbose)
    return result, report


def train_with_pseudo_labels(
    cfg: Any,
    unlabelled: str | Path,
    threshold: float = PSEUDO_THRESHOLD,
    extra_epochs: int | None = None,
    force: bool = False,
    verbose: int | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """``train --pseudo-label``: ``cfg.epochs`` on the labelled faces, then ``extra_epochs`` (default a
    quarter as many, the report's 40 + 10) on labelled plus pseudo-labelled. Returns (phase-1 result,
    final result, pseudo-label report)."""
    from edge_fer.training.train import train

    if not Path(unlabelled).is_dir():
        raise DataError(f"{unlabelled}: no such folder of unlabelled faces")
    extra = extra_epochs if extra_epochs is not None else max(1, round(cfg.epochs / 4))
    first = train(cfg, force=force, verbose=verbose)
    if first.status not in ("finished", "early-stopped"):  # Ctrl-C or time budget: resume phase 1 first
        raise DataError(
            f"phase 1 {first.status} at epoch {first.epochs_done}; resume it with edge-fer train --resume "
            f"{first.run_dir}, then pseudo-label (edge_fer.training.pseudo.continue_with_pseudo_labels)"
        )
    final, report = continue_with_pseudo_labels(first.run_dir, unlabelled, threshold, extra, verbose=verbose)
    return first, final, report
