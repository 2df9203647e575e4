"""``train``, ``evaluate``, ``models`` and ``data check``: the training stage's commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edge_fer.choices import TTA, Backend, DetectorKind
from edge_fer.cli.consoles import make_console
from edge_fer.cli.progress import progress, stage
from edge_fer.errors import EXIT_INTERRUPTED, DataError, EdgeFerError
from edge_fer.quiet import import_tensorflow
from edge_fer.training import defaults
from edge_fer.training.choices import (
    DEFAULT_NORMALIZE,
    DEFAULT_PRECISION,
    AugmentPreset,
    Monitor,
    Normalization,
    Optimizer,
    Precision,
    Schedule,
)
from edge_fer.training.evaluate import DEFAULT_OUT
from edge_fer.tta import describe_tta
from edge_fer.wording import counted

console = make_console(stderr=True)
out = make_console()


def _check_arch(name: str | None) -> str | None:
    """Typer callback: an unknown architecture is a usage error listing the valid names."""
    if name is None:
        return None
    import_tensorflow()  # the zoo imports Keras: quietly, before typer has even reached the command
    from edge_fer.training.zoo import list_models

    names = list_models()
    if name not in names:
        raise typer.BadParameter(f"unknown architecture {name!r}; choose one of: {', '.join(names)}")
    return name


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    from edge_fer.training.train import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def train_cmd(
    data: Annotated[
        Path | None, typer.Option(help="FER2013 folder (train/ + val/ or test/, or one split), or fer2013.csv.")
    ] = None,
    arch: Annotated[
        str, typer.Option(help="Zoo architecture (see `edge-fer models`).", callback=_check_arch)
    ] = defaults.ARCH,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder for checkpoints, best model, curves.")] = Path(
        "runs/train"
    ),
    val: Annotated[
        Path | None, typer.Option(help="Validation folder or CSV (default: val/ or test/ beside train/).")
    ] = None,
    val_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.5, help="Stratified share held out when there is no validation split.")
    ] = defaults.VAL_FRACTION,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1, help=f"Epochs in all [default: {defaults.EPOCHS}]; with --resume, a new total to train to."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = defaults.BATCH_SIZE,
    seed: Annotated[int, typer.Option(min=0)] = defaults.SEED,
    optimizer: Annotated[Optimizer, typer.Option()] = Optimizer(defaults.OPTIMIZER),
    lr: Annotated[
        float | None,
        typer.Option(min=0.0, help=f"Initial learning rate (default {defaults.LR:g}, or the arch's own)."),
    ] = None,
    momentum: Annotated[float, typer.Option(min=0.0, max=1.0, help="For sgd and rmsprop.")] = defaults.MOMENTUM,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = defaults.WEIGHT_DECAY,
    schedule: Annotated[Schedule, typer.Option()] = Schedule(defaults.SCHEDULE),
    warmup_epochs: Annotated[int, typer.Option(min=0)] = defaults.WARMUP_EPOCHS,
    label_smoothing: Annotated[float, typer.Option(min=0.0, max=0.5)] = defaults.LABEL_SMOOTHING,
    class_weights: Annotated[
        bool, typer.Option("--class-weights/--no-class-weights", help="sklearn 'balanced' weights.")
    ] = False,
    augment: Annotated[
        AugmentPreset, typer.Option(help="Augmentation preset; the options below override parts.")
    ] = AugmentPreset.ours,
    rotation: Annotated[float | None, typer.Option(min=0.0, max=180.0, help="Max rotation, degrees.")] = None,
    zoom: Annotated[float | None, typer.Option(min=0.0, max=0.9)] = None,
    shift: Annotated[float | None, typer.Option(min=0.0, max=0.9, help="Width and height shift, fraction.")] = None,
    shear: Annotated[float | None, typer.Option(min=0.0, max=0.9)] = None,
    flip: Annotated[bool | None, typer.Option("--flip/--no-flip")] = None,
    brightness: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    contrast: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    erasing: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Random-erasing probability.")] = None,
    gamma: Annotated[
        float | None, typer.Option(min=1.0, max=5.0, help="Random gamma in [1/g, g] per face (1 = off).")
    ] = None,
    blur: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Random Gaussian blur strength.")] = None,
    noise: Annotated[float | None, typer.Option(min=0.0, max=50.0, help="Gaussian noise std, gray levels.")] = None,
    canvas: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of faces set, shrunk, on a flat gray canvas.")
    ] = None,
    normalize: Annotated[
        Normalization,
        typer.Option(help="Per-face photometric normalization, recorded in the model's metadata."),
    ] = Normalization(DEFAULT_NORMALIZE),
    init_from: Annotated[
        Path | None, typer.Option("--init-from", help="Start from this .keras model's weights (same --arch).")
    ] = None,
    precision: Annotated[
        Precision, typer.Option(help="Dtype policy; auto times float32 against mixed bf16/fp16 and keeps the faster.")
    ] = Precision(DEFAULT_PRECISION),
    teacher: Annotated[
        Path | None,
        typer.Option(
            help="Distil from this model: each face's target mixes in its probabilities for the face's original "
            "(for a reframed face, the FER2013 crop it was cut from; see edge-fer data reframe)."
        ),
    ] = None,
    distill: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="With --teacher: weight W of its (mirror-averaged) probabilities; target = (1-W) label + W teacher.",
        ),
    ] = 0.5,
    monitor: Annotated[
        Monitor, typer.Option(help="Metric that picks the best checkpoint and drives early stopping.")
    ] = Monitor(defaults.MONITOR),
    patience: Annotated[int, typer.Option(min=1, help="Early-stopping patience, epochs.")] = defaults.PATIENCE,
    time_budget: Annotated[
        str | None, typer.Option(help="Stop cleanly at an epoch boundary before this much time: 2h, 90m, 45s.")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the run in this folder (other options but --epochs/--time-budget come from it)."),
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="Local ImageNet weights file for seed001-vgg16.")] = None,
    deterministic: Annotated[bool, typer.Option(help="Deterministic TF ops (slower; bit-exact resumes).")] = False,
    recalibrate_bn: Annotated[
        bool,
        typer.Option(
            help="At the end, re-estimate the best model's BatchNorm statistics on clean training faces.",
        ),
    ] = True,
    force: Annotated[bool, typer.Option(help="Start over in a run folder that holds a run.")] = False,
    pseudo_label: Annotated[
        Path | None,
        typer.Option(
            help="Semi-supervised: after --epochs, label these unlabelled faces and train epochs/4 more on both."
        ),
    ] = None,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=0.999999, help="With --pseudo-label: top probability a face must exceed.")
    ] = defaults.PSEUDO_THRESHOLD,
) -> None:
    """Train a zoo model on FER2013; resumable (--time-budget, Ctrl-C, --resume)."""
    import_tensorflow()
    from edge_fer.training.augment import AugmentConfig
    from edge_fer.training.train import TrainConfig
    from edge_fer.training.train import resume as resume_run
    from edge_fer.training.train import train as train_run

    budget = _duration(time_budget)
    try:
        if resume is not None:
            result = resume_run(resume, epochs=epochs, time_budget_s=budget)
        else:
            if data is None:
                raise DataError("no training data: pass --data DIR (or fer2013.csv), or --resume RUN_DIR")
            aug = AugmentConfig.preset(augment.value)
            for key, value in dict(
                rotation_deg=rotation,
                zoom=zoom,
                shift=shift,
                shear=shear,
                flip=flip,
                brightness=brightness,
                contrast=contrast,
                erasing=erasing,
                gamma=gamma,
                blur=blur,
                noise=noise,
                canvas=canvas,
            ).items():
                if value is not None:
                    setattr(aug, key, value)
            cfg = TrainConfig(
                data=str(data),
                arch=arch,
                out=str(out_dir),
                val=str(val) if val else None,
                val_fraction=val_fraction,
                epochs=epochs if epochs is not None else defaults.EPOCHS,
                batch_size=batch_size,
                seed=seed,
                optimizer=optimizer.value,
                lr=lr,
                momentum=momentum,
                weight_decay=weight_decay,
                schedule=schedule.value,
                warmup_epochs=warmup_epochs,
                label_smoothing=label_smoothing,
                class_weights=class_weights,
                augment=aug.to_dict(),
                monitor=monitor.value,
                patience=patience,
                time_budget_s=budget,
                arch_kwargs={"weights": str(weights)} if weights else {},
                recalibrate_bn=recalibrate_bn,
                deterministic=deterministic,
                normalize=normalize.value,
                init_from=str(init_from) if init_from else None,
                precision=precision.value,
                teacher=str(teacher) if teacher else None,
                distill=distill,
            )
            if pseudo_label is not None:
                from edge_fer.training.pseudo import train_with_pseudo_labels

                _, result, pseudo = train_with_pseudo_labels(cfg, pseudo_label, threshold, force=force)
                console.print(
                    f"pseudo-labelled {pseudo['selected']} of {pseudo['unlabelled']} faces above {threshold} "
                    f"-> {pseudo['folder']}"
                )
            else:
                result = train_run(cfg, force=force)
    except KeyboardInterrupt:
        run = resume or out_dir
        raise _Interrupted(
            f"training stopped; the last completed epoch is saved: edge-fer train --resume {run}"
        ) from None
    s, best = result.summary, result.best
    line = f"[bold]{result.status}[/bold]: {result.epochs_done}/{s['epochs_planned']} epochs"
    if best.get("epoch") is not None and best.get("val_accuracy") is not None:
        line += (
            f"; best model: epoch {best['epoch']} (by {best.get('metric', 'val_loss')}), "
            f"val accuracy {best['val_accuracy']:.4f} as measured during training"
        )
    console.print(line)
    if result.best.get("bn_recalibrated"):
        console.print(
            f"BatchNorm recalibrated on clean training faces: best model's val accuracy "
            f"{result.best['val_accuracy_before_recalibration']:.4f} -> {result.best['val_accuracy_recalibrated']:.4f}"
        )
    console.print(f"best model: {result.run_dir / 'best.keras'}   curves: {result.run_dir / 'curves.png'}")
    if result.status == "stopped":
        raise _Interrupted(
            f"training stopped at epoch {result.epochs_done}; continue: edge-fer train --resume {result.run_dir}"
        )
    if result.status == "paused":
        console.print(f"time budget reached; continue with: edge-fer train --resume {result.run_dir}")


class _Interrupted(EdgeFerError):
    exit_code = EXIT_INTERRUPTED


def models_cmd(
    pattern: Annotated[str, typer.Argument(help="Shell-style filter, e.g. 'seed*'.")] = "*",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list on stdout.")] = False,
) -> None:
    """List the model zoo: name, parameters, MACs per face, description."""
    with stage("loading TensorFlow", quiet=as_json):
        import_tensorflow()
        from edge_fer.training.zoo.summary import describe_models

    with progress("building", quiet=as_json) as step:
        rows = describe_models(
            pattern, on_model=lambda i, n, name: step(completed=i, total=n, description=f"building {name}")
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"edge-fer model zoo ({len(rows)})")
    for col, just in (("name", "left"), ("params", "right"), ("MACs/face", "right"), ("description", "left")):
        table.add_column(col, justify=just)
    for r in rows:
        table.add_row(r["name"], f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}M", r["description"])
    out.print(table)


data_app = typer.Typer(help="Dataset tools.", no_args_is_help=True)


@data_app.command("check")
def data_check_cmd(
    folder: Annotated[Path, typer.Argument(help="A split folder of <label>/ subfolders, or a fer2013.csv.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Count faces per label, the imbalance ratio, and list every unusable file."""
    from edge_fer.training.datacheck import check_dataset

    report = check_dataset(folder)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"{folder}: {counted(report['total'], 'usable face')}", markup=False)
    if report["total"]:
        table = Table()
        table.add_column("label")
        table.add_column("faces", justify="right")
        table.add_column("share", justify="right")
        for label, n in report["counts"].items():
            table.add_row(label, f"{n:,}", f"{n / report['total']:.1%}")
        out.print(table)
    empty = report["empty_labels"]
    if report["total"] and empty:
        out.print(
            f"[yellow]class imbalance: infinite, no faces for {', '.join(empty)}[/yellow] "
            "(a model cannot learn a label it never sees)"
        )
    elif report["total"]:
        out.print(f"class imbalance (largest / smallest label): {report['imbalance_ratio']:.1f}")
    if report["problems"]:
        out.print(f"[yellow]{counted(len(report['problems']), 'unusable file')} (training skips them):[/yellow]")
        for p in report["problems"]:
            out.print(f"  {p['path']}: {p['reason']}", markup=False)
    else:
        out.print("no unreadable, corrupt, wrongly sized or unlabelled files")


@data_app.command("reframe")
def data_reframe_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="A FER2013 folder with train/<label>/ (and val/).")],
    out_dir: Annotated[
        Path,
        typer.Argument(metavar="OUT", help="New dataset folder: train/ (originals linked + reframed) and val/."),
    ],
    model: Annotated[
        Path | None, typer.Option(help="Model whose framing to cut by (default: the shipped model's).")
    ] = None,
    detector: Annotated[
        DetectorKind,
        typer.Option(help="Face detector that finds each face in its frame: short (~1 min), full, or auto (~25 min)."),
    ] = DetectorKind.short,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout (counts, seconds).")] = False,
) -> None:
    """Each training face as the runtime cuts it (set into a frame, found, cropped), beside the original:
    fine-tune on OUT to close the gap between FER2013's crops and the pipeline's. Resumable."""
    from edge_fer.training.reframe import reframe_dataset

    if detector is DetectorKind.none:
        raise EdgeFerError("--detector none cuts nothing: choose short, full or auto")

    def tick(done: int, total: int) -> None:
        if not as_json:
            console.print(f"[dim]{done:,} of {total:,} faces[/dim]")

    result = reframe_dataset(data, out_dir, model=model, detector=detector.value, progress=tick)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    done = f"{counted(result.written, 'reframed face')} written, {result.kept:,} kept from an earlier run"
    out.print(f"{done}; {result.missed:,} of {result.faces:,} faces not found in their frame ({result.seconds} s)")
    out.print(f"train on it: edge-fer train --data {result.out} ...", markup=False)


def evaluate_cmd(
    model: Annotated[Path, typer.Argument(help="A .keras, .tflite or .onnx model.")],
    data: Annotated[Path, typer.Option(help="Labelled faces: a split folder or fer2013.csv (PublicTest).")],
    tta: Annotated[
        TTA,
        typer.Option(help="Flip test-time averaging: the model's own policy, none, or always mirror."),
    ] = TTA.model,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the confusion PNG and report JSON.")] = DEFAULT_OUT,
    backend: Annotated[Backend, typer.Option(help="Backend; auto picks by the model's suffix.")] = Backend.auto,
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing confusion PNG/JSON.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix (PNG + JSON)."""
    from edge_fer.training.evaluate import evaluate_model

    with progress(f"evaluating {model.name}", quiet=as_json) as step:
        report = evaluate_model(
            model,
            data,
            tta=tta.value,
            out_dir=out_dir,
            backend=backend.value,
            threads=threads,
            force=force,
            on_faces=lambda done, total: step(completed=done, total=total, description=f"classifying {data}"),
        )
    if as_json:
        print(json.dumps(report))
        return
    out.print(f"{model} on {data}: accuracy {report['accuracy']:.4f} (n={report['n']})")
    if report["tta"]:
        out.print(f"test-time augmentation: {describe_tta(report['tta'])}")
    table = Table()
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, m in report["per_class"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(table)
    pairs = ", ".join(f"{p['true']}->{p['predicted']} {p['rate']:.0%}" for p in report["most_confused"][:5])
    out.print(f"most confused: {pairs}")
    out.print(f"confusion matrix: {report['confusion_png']}")


def card_cmd(
    run: Annotated[Path, typer.Argument(help="The training run folder of the model.")],
    export_dir: Annotated[
        Path, typer.Option("--export-dir", help="Folder with the exported artifacts and parity.json.")
    ],
    val: Annotated[Path, typer.Option(help="Validation faces for per-class recall and the confusion matrix.")],
    name: Annotated[str, typer.Option(help="Artifact stem: <name>_int8.tflite.")] = "edgefer-s",
) -> None:
    """Write the model card (JSON beside the model) and print its Markdown for the README."""
    with stage("loading TensorFlow"):
        import_tensorflow()
        from edge_fer.training.modelcard import build_card, card_markdown

    with stage(f"evaluating and benchmarking {name} for its card"):
        card = build_card(run, export_dir, val, name)
    print(card_markdown(card))


def register(app: typer.Typer) -> None:
    app.command("card")(card_cmd)
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("models")(models_cmd)
    app.add_typer(data_app, name="data")
