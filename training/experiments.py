"""The reports' experiments, reproducible end to end: ``experiment pseudo-label`` and ``experiment cnn-vs-dnn``.

Both take ``--limit N`` (a stratified subset of N training faces) and fewer epochs to scale down on a CPU,
and ``--quick`` (a few hundred faces, one epoch per phase) to check the whole path in seconds. Results go
to one folder; rerunning reuses finished parts and resumes stopped ones.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_fer.atomic import write_json
from edge_fer.errors import DataError
from edge_fer.training.defaults import (
    ARCH,
    BATCH_SIZE,
    PSEUDO_EXPERIMENT_EPOCHS,
    PSEUDO_EXTRA_EPOCHS,
    PSEUDO_THRESHOLD,
    SEED,
    SWEEP_EPOCHS,
)

#: --quick: training faces, and epochs for each phase.
QUICK_LIMIT = 420
QUICK_EPOCHS = 1

CNN_VS_DNN = [{"arch": "seed004-cnn", "name": "cnn"}, {"arch": "seed004-dnn", "name": "dnn"}]


def _split_data(data: str | Path, out: Path, limit: int | None, seed: int) -> dict[str, Any]:
    """The report's 4:1:1 training / unlabelled / validation split of ``data``'s training faces, written
    under ``out`` (reused when it was written before with the same settings)."""
    from edge_fer.training.data import find_splits, load_split
    from edge_fer.training.splits import limit_faces, split_train_unlabelled_val, write_labelled, write_unlabelled

    key = {"data": str(data), "limit": limit, "seed": seed}
    info_path = out / "split.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("key") == key:
            return info
    for part in ("train", "unlabelled", "val"):
        if (out / part).exists():
            shutil.rmtree(out / part)
    faces = limit_faces(load_split(find_splits(data)[0], "train"), limit, seed)
    train, unlabelled, val = split_train_unlabelled_val(faces, seed)
    write_labelled(train, out / "train")
    write_unlabelled(unlabelled, out / "unlabelled")
    write_labelled(val, out / "val")
    info = {"key": key, "train": len(train), "unlabelled": len(unlabelled), "val": len(val)}
    write_json(info_path, info)
    return info


def _copy_run(src: Path, dst: Path) -> None:
    """A copy of a run folder that continues on its own (its state names its new folder)."""
    from edge_fer.training.checkpoint import RunState

    if (dst / "state.json").is_file():
        return
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*.part*"))
    state = RunState.load(dst)
    state.config["out"] = str(dst)
    state.save(dst)


def _val_at(history: dict[str, list[float]], epoch: int) -> float | None:
    values = history.get("val_accuracy", [])
    return float(values[epoch - 1]) if 0 < epoch <= len(values) else None


def pseudo_label_experiment(
    data: str | Path,
    out_dir: str | Path,
    arch: str = ARCH,
    epochs: int = PSEUDO_EXPERIMENT_EPOCHS,
    extra_epochs: int = PSEUDO_EXTRA_EPOCHS,
    threshold: float = PSEUDO_THRESHOLD,
    limit: int | None = None,
    seed: int = SEED,
    batch_size: int = BATCH_SIZE,
    lr: float | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    augment: dict[str, Any] | None = None,
    force: bool = False,
    verbose: int | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Split the training faces 4:1:1 (training / unlabelled / validation), train ``epochs`` on the
    training part, then continue ``extra_epochs`` twice from that same checkpoint: on the training part
    alone, and with the unlabelled faces the model labels above ``threshold``. Writes
    ``pseudo_label.json`` and ``pseudo_label_curves.png``; returns the report."""
    from edge_fer.training.checkpoint import RunState
    from edge_fer.training.pseudo import continue_with_pseudo_labels
    from edge_fer.training.sweep import plot_sweep, run_or_resume
    from edge_fer.training.train import TrainConfig, resume

    stage = on_stage or (lambda _text: None)
    out = Path(out_dir)
    if force and out.exists():
        shutil.rmtree(out)
    stage("splitting the data 4:1:1")
    split = _split_data(data, out / "data", limit, seed)
    params: dict[str, Any] = {
        "arch": arch,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "lr": lr,
        "schedule": "constant",
        # The report's plain cross-entropy: label smoothing would cap confidence near 0.91 and starve the
        # 0.9 threshold of faces.
        "label_smoothing": 0.0,
        "monitor": "val_accuracy",
        "patience": 10**6,
        "arch_kwargs": arch_kwargs or {},
    }
    if augment is not None:
        params["augment"] = augment
    cfg = TrainConfig(
        data=str(out / "data" / "train"), val=str(out / "data" / "val"), out=str(out / "phase1"), **params
    )
    stage(f"phase 1: {epochs} epochs on {split['train']} labelled faces")
    run_or_resume(cfg, False, verbose)
    total = epochs + extra_epochs
    pseudo_json = out / "with" / "pseudo.json"
    if pseudo_json.is_file() and json.loads(pseudo_json.read_text(encoding="utf-8"))["threshold"] != threshold:
        shutil.rmtree(out / "with")  # another threshold: phase 2 with pseudo-labels starts over
    _copy_run(out / "phase1", out / "without")
    _copy_run(out / "phase1", out / "with")
    stage(f"without pseudo-labels: {extra_epochs} more epochs")
    if RunState.load(out / "without").epoch < total:
        resume(out / "without", epochs=total, verbose=verbose)
    stage(f"with pseudo-labels (threshold {threshold}): {extra_epochs} more epochs")
    if not pseudo_json.is_file():
        _, pseudo = continue_with_pseudo_labels(
            out / "with", out / "data" / "unlabelled", threshold, extra_epochs, verbose
        )
    else:
        if RunState.load(out / "with").epoch < total:
            resume(out / "with", epochs=total, verbose=verbose)
        pseudo = json.loads(pseudo_json.read_text(encoding="utf-8"))
    truth = json.loads((out / "data" / "unlabelled_truth.json").read_text(encoding="utf-8"))
    right = sum(1 for f in pseudo["faces"] if truth.get(Path(f["source"]).name) == f["label"])
    rows, histories = [], {}
    for name in ("without", "with"):
        hist = RunState.load(out / name).history
        histories[f"{name} pseudo-labels"] = hist
        val = hist.get("val_accuracy", [])
        rows.append(
            {
                "run": f"{name} pseudo-labels",
                "train_faces": split["train"] + (pseudo["selected"] if name == "with" else 0),
                "pseudo_faces": pseudo["selected"] if name == "with" else 0,
                "val_accuracy_after_phase1": _val_at(hist, epochs),
                "val_accuracy_final": float(val[-1]) if val else None,
                "best_val_accuracy": float(max(val)) if val else None,
                "epochs": len(val),
            }
        )
    report = {
        "protocol": "train / unlabelled / val = 4:1:1 (stratified); phase 2 of both runs starts from the same "
        "phase-1 checkpoint; Adam, constant learning rate, no label smoothing, best model by val accuracy",
        "data": str(data),
        "limit": limit,
        "arch": arch,
        "arch_kwargs": arch_kwargs or {},
        "epochs": epochs,
        "extra_epochs": extra_epochs,
        "threshold": threshold,
        "split": {k: split[k] for k in ("train", "unlabelled", "val")},
        "pseudo_selected": pseudo["selected"],
        "pseudo_label_accuracy": right / pseudo["selected"] if pseudo["selected"] else None,
        "pseudo_counts": pseudo["counts"],
        "runs": rows,
    }
    report["curves_png"] = str(
        plot_sweep(histories, out / "pseudo_label_curves.png", title=f"pseudo-labelling: {arch}, threshold {threshold}")
    )
    write_json(out / "pseudo_label.json", report)
    return report


def cnn_vs_dnn_experiment(
    data: str | Path,
    out_dir: str | Path,
    epochs: int = SWEEP_EPOCHS,
    limit: int | None = None,
    seed: int = SEED,
    batch_size: int = BATCH_SIZE,
    lr: float | None = None,
    force: bool = False,
    verbose: int | None = None,
    on_start: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """The report's CNN (seed004-cnn, 3.48M params) against its DNN (seed004-dnn, 3.15M) on the same faces
    and schedule. Writes ``cnn_vs_dnn.json`` (and the sweep's table and curves); returns the report."""
    from edge_fer.training.splits import prepare_data
    from edge_fer.training.sweep import run_sweep

    out = Path(out_dir)
    if force and out.exists():
        shutil.rmtree(out)
    source = prepare_data(data, out / "data", limit, seed)
    if not Path(source).exists():
        raise DataError(f"{source}: no such dataset")
    report = run_sweep(
        source,
        CNN_VS_DNN,
        out,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        defaults={"schedule": "constant", "lr": lr},
        verbose=verbose,
        on_start=on_start,
        title="CNN vs DNN",
        data_label=Path(data).name + (f" ({limit} faces)" if limit else ""),
    )
    cnn, dnn = report["runs"]
    report.update(
        {
            "limit": limit,
            "epochs": epochs,
            "cnn_minus_dnn_accuracy": cnn["best_val_accuracy"] - dnn["best_val_accuracy"],
            "param_ratio": cnn["params"] / dnn["params"],
        }
    )
    write_json(out / "cnn_vs_dnn.json", report)
    return report
