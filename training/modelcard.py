"""The model card of a shipped model: how it was made and what it measures, as JSON and as Markdown.

Built from the training run (``state.json``, ``summary.json``), the export folder's ``parity.json``, an
evaluation of the int8 artifact (per-class recall, confusion matrix PNG) and a one-thread benchmark.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics
from pathlib import Path
from typing import Any

from edge_fer.atomic import write_json
from edge_fer.errors import DataError
from edge_fer.metadata import read_meta
from edge_fer.sysinfo import machine
from edge_fer.training.augment import AugmentConfig
from edge_fer.training.checkpoint import RunState
from edge_fer.training.train import TrainConfig, upgrade_config
from edge_fer.tta import policy_views

LIMITS = [
    "FER2013 faces are mostly frontal, low-resolution (48x48) web images: accuracy drops on profiles, "
    "occlusions, strong lighting and faces far from the camera.",
    "Labels are the dataset's single crowd-sourced annotation; FER2013 has label noise (human accuracy is around 65%).",
    "Few disgust examples (436 of 28,709 training faces): disgust recall is the least reliable.",
    "The dataset's demographics are not balanced or documented; expect uneven accuracy across groups.",
    "Expressions, not felt emotions: the model reads facial appearance only.",
]


def command_line(config: dict[str, Any], extensions: list[dict[str, int]] | None = None) -> str:
    """The ``edge-fer train`` commands that reproduce a run: its options (non-default ones only), then one
    ``--resume --epochs N`` per time it was extended past its plan."""
    extensions = extensions or []
    if extensions:
        config = {**config, "epochs": extensions[0]["from_epochs"]}
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    parts = ["edge-fer", "train", "--data", str(config["data"])]
    flags = {
        "arch": "--arch",
        "out": "--out",
        "val": "--val",
        "epochs": "--epochs",
        "batch_size": "--batch-size",
        "seed": "--seed",
        "optimizer": "--optimizer",
        "lr": "--lr",
        "momentum": "--momentum",
        "weight_decay": "--weight-decay",
        "schedule": "--schedule",
        "warmup_epochs": "--warmup-epochs",
        "label_smoothing": "--label-smoothing",
        "monitor": "--monitor",
        "patience": "--patience",
        "normalize": "--normalize",
        "init_from": "--init-from",
        "precision": "--precision",
        "teacher": "--teacher",
        "distill": "--distill",
    }
    for key, flag in flags.items():
        value = config.get(key)
        if key in ("arch", "out", "epochs") or (value is not None and value != defaults.get(key)):
            parts += [flag, str(value)]
    aug_defaults, aug_flags = AugmentConfig().to_dict(), {"rotation_deg": "--rotation"}
    for key, value in config.get("augment", {}).items():
        if value != aug_defaults.get(key):
            if key == "flip":
                parts.append("--flip" if value else "--no-flip")
            else:
                parts += [aug_flags.get(key, f"--{key}"), str(value)]
    if config.get("class_weights"):
        parts.append("--class-weights")
    if config.get("recalibrate_bn") is False:
        parts.append("--no-recalibrate-bn")
    for ext in extensions:
        early = f" (after epoch {ext['at_epoch']})" if ext["at_epoch"] != ext["from_epochs"] else ""
        parts += ["&&", "edge-fer", "train", "--resume", str(config["out"]), "--epochs", f"{ext['to_epochs']}{early}"]
    return " ".join(parts)


def data_description(config: dict[str, Any]) -> str:
    """What a run learned from, for the card: its data folders, where its weights started, and a teacher's share
    of the targets (crop-consistency distillation, training.distill)."""
    folders = [str(config["data"]), *config.get("extra_train", [])]
    text = f"training faces from {' and '.join(folders)}"
    if config.get("init_from"):
        text += f"; weights initialised from {config['init_from']}"
    if config.get("teacher"):
        w = config.get("distill", 0.5)
        text += (
            f"; targets (1 - {w:g}) x label + {w:g} x {config['teacher']}'s mirror-averaged probabilities for each "
            "face's original (crop-consistency distillation)"
        )
    return text + "; checkpoint chosen on the run's validation faces"


def _row(parity: dict[str, Any], fmt: str) -> dict[str, Any] | None:
    return next((r for r in parity["artifacts"] if r["format"] == fmt), None)


def _flip_policy_figures(
    artifacts: dict[str, Any], val: str | Path, export_dir: Path, int8_report: dict[str, Any]
) -> dict[str, Any]:
    """Accuracy of each artifact that carries an adaptive test-time policy (the card's key ``flip_policy``
    predates rolled views), under it, and the int8 model's cost per face under it, timed on the validation faces
    (its cost depends on how sure the model is of each face)."""
    from edge_fer.bench import run_isolated
    from edge_fer.training.evaluate import evaluate_model

    figures: dict[str, Any] = {"val_accuracy": {}}
    for fmt, row in artifacts.items():
        meta = read_meta(row["path"]) if fmt != "keras" else None
        if meta is None or "tta" not in meta.extra:
            continue
        report = int8_report
        if fmt != "tflite-int8":
            report = evaluate_model(row["path"], val, out_dir=export_dir, force=True)
        figures["val_accuracy"][fmt] = report["accuracy"]
        figures.setdefault("policy", {})[fmt] = report["tta"]
    timed = run_isolated((artifacts["tflite-int8"]["path"], "tflite", 1, 1, 50, 2000, "model", str(val)))
    figures["latency_int8_one_thread_ms"] = {k: timed[k] for k in ("p50_ms", "mean_ms", "p90_ms")}
    return figures


def build_card(run_dir: str | Path, export_dir: str | Path, val: str | Path, name: str) -> dict[str, Any]:
    """Evaluate and bench ``<export_dir>/<name>_int8.tflite``, then write ``<export_dir>/<name>.card.json``."""
    from edge_fer.bench import run_isolated
    from edge_fer.training.evaluate import evaluate_model

    run_dir, export_dir = Path(run_dir), Path(export_dir)
    state = RunState.load(run_dir)
    parity_path = export_dir / "parity.json"
    if not parity_path.is_file():
        raise DataError(f"{parity_path} not found: export the model first (edge-fer export ... --out {export_dir})")
    parity = json.loads(parity_path.read_text())
    meta = read_meta(run_dir / "best.keras")
    if meta is None:
        raise DataError(f"{run_dir}: no best.keras metadata (best.json); is it an edge-fer training run?")
    int8 = export_dir / f"{name}_int8.tflite"
    report = evaluate_model(int8, val, out_dir=export_dir, force=True)  # a card is rebuilt whole on every run
    bench = run_isolated((str(int8), "tflite", 1, 1, 50, 1000))
    artifacts = {"keras": parity["reference"]}
    for fmt in ("tflite-fp32", "tflite-int8", "onnx"):
        row = _row(parity, fmt)
        if row:
            artifacts[fmt] = row
    flip = _flip_policy_figures(artifacts, val, export_dir, report) if report["tta"] else None
    robustness = _robustness(int8, val)
    config = upgrade_config(state.config)
    card = {
        "name": name,
        "arch": state.config["arch"],
        "params": meta.extra["params"],
        "macs_per_face": meta.extra["macs"],
        "labels": report["labels"],
        "input": "48x48x1 gray face crop, 0..255 after its per-face normalization (scaling inside the model)",
        "preprocessing": read_meta(int8).preprocessing,  # type: ignore[union-attr]
        "training": {
            "command": command_line(config, state.extensions),
            "data": data_description(config),
            "init_from": config.get("init_from"),
            "teacher": config.get("teacher"),
            "distill": config.get("distill") if config.get("teacher") else None,
            "epochs_done": state.epoch,
            "epochs_planned": state.config["epochs"],
            "best_epoch": state.best.get("epoch"),
            "bn_recalibrated": bool(state.best.get("bn_recalibrated")),
            "val_accuracy_before_bn_recalibration": state.best.get("val_accuracy_before_recalibration"),
            "train_seconds": float(sum(state.epoch_seconds)),
            "seconds_per_epoch_median": float(statistics.median(state.epoch_seconds)),
            "hardware": machine(),
        },
        "val_accuracy": {fmt: row.get("accuracy") for fmt, row in artifacts.items()},
        "flip_policy": flip,
        "int8_agreement_with_keras": (_row(parity, "tflite-int8") or {}).get("agreement"),
        "per_class_recall": {k: v["recall"] for k, v in report["per_class"].items()},
        "expected_calibration_error": report.get("ece"),
        "robustness_val_48x48": robustness,
        "most_confused": report["most_confused"][:5],
        "confusion_png": Path(report["confusion_png"]).name,
        "size_bytes": {fmt: row["size_bytes"] for fmt, row in artifacts.items() if "size_bytes" in row},
        "latency_int8_p50_ms_one_thread": bench["p50_ms"],
        "latency_machine": f"{bench['cpu']} ({bench['arch']})",
        "limits": LIMITS,
        "date": dt.date.today().isoformat(),
    }
    write_json(export_dir / f"{name}.card.json", card)
    return card


def _robustness(int8: Path, val: str | Path) -> dict[str, float]:
    """The int8 model's val accuracy (its own normalization and test-time policy) on faces made dark, low-contrast or
    gamma-shifted (edge_fer.training.corruptions), beside clean: how much a dim room or a washed-out webcam costs."""
    from edge_fer.backends import load_classifier
    from edge_fer.training.data import load_split
    from edge_fer.training.evaluate import accuracy_under_corruptions
    from edge_fer.tta import with_tta

    faces = load_split(val, "val")
    return accuracy_under_corruptions(with_tta(load_classifier(int8, threads=1)), faces.x, faces.y)


def _accuracy_table(card: dict[str, Any]) -> list[str]:
    flip = card.get("flip_policy")
    if not flip:
        return [
            "| artifact | val accuracy |",
            "|---|---|",
            *(f"| {fmt} | {v:.4f} |" for fmt, v in card["val_accuracy"].items() if v is not None),
        ]
    ms = flip["latency_int8_one_thread_ms"]
    rows = [
        "| artifact | val accuracy | with its test-time policy | faces given extra views |",
        "|---|---|---|---|",
    ]
    for fmt, value in card["val_accuracy"].items():
        if value is None:
            continue
        with_policy = flip["val_accuracy"].get(fmt)
        policy = flip.get("policy", {}).get(fmt, {})
        rows.append(
            f"| {fmt} | {value:.4f} | "
            + (f"{with_policy:.4f} | {policy['flipped_fraction']:.1%} |" if with_policy is not None else "- | - |")
        )
    rows += [
        "",
        f"With its test-time policy ({policy_views(flip.get('policy', {}).get('tflite-int8', {}))}) the int8 model "
        f"takes p50 {ms['p50_ms']:.2f} ms, mean {ms['mean_ms']:.2f} ms, "
        f"p90 {ms['p90_ms']:.2f} ms per face on one thread (timed on the val faces in turn).",
    ]
    return rows


def _robustness_lines(card: dict[str, Any]) -> list[str]:
    rob, ece = card.get("robustness_val_48x48"), card.get("expected_calibration_error")
    lines = []
    if rob:
        lines += [
            "",
            "Val accuracy (int8, its policy) on 48x48 faces made dim or hazy: "
            + ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in rob.items())
            + f" (normalization: {card.get('preprocessing', {}).get('normalize', {'method': 'none'})['method']}).",
        ]
    if ece is not None:
        lines += ["", f"Expected calibration error on val (15 bins, top label): {ece:.3f}."]
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """The README section of a card."""
    lines = [
        f"**{card['name']}** ({card['arch']}): {card['params']:,} parameters, {card['macs_per_face'] / 1e6:.1f}M MACs "
        f"per face; int8 TFLite {card['size_bytes'].get('tflite-int8', 0) / 1e6:.2f} MB, "
        f"p50 {card['latency_int8_p50_ms_one_thread']:.2f} ms per face on one thread ({card['latency_machine']}).",
        "",
        *_accuracy_table(card),
        "",
        f"Per-class recall (int8{', with its test-time policy' if card.get('flip_policy') else ''}): "
        + ", ".join(f"{k} {v:.2f}" for k, v in card["per_class_recall"].items())
        + ".",
        *_robustness_lines(card),
        "",
        f"Trained with `{card['training']['command']}` ({card['training']['epochs_done']} of "
        f"{card['training']['epochs_planned']} epochs, best at epoch {card['training']['best_epoch']}, "
        f"{card['training']['train_seconds'] / 3600:.1f} h on {card['training']['hardware']['cpu']}"
        + (
            f"; BatchNorm statistics re-estimated on clean training faces at the end: Keras val "
            f"{card['training']['val_accuracy_before_bn_recalibration']:.4f} before)."
            if card["training"].get("bn_recalibrated")
            else ")."
        ),
        "",
        "Known limits: " + " ".join(card["limits"]),
    ]
    return "\n".join(lines)
