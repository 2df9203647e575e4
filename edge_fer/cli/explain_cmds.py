"""``explain``, ``filters``, ``sweep`` and ``experiment``: looking inside the models, and the reports' studies.

Thin commands over ``edge_fer.training.explain``, ``edge_fer.training.filters``, ``edge_fer.training.sweep`` and
``edge_fer.training.experiments``; TensorFlow and the training package are imported inside the commands only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edge_fer.cli.consoles import make_console
from edge_fer.cli.progress import progress, stage
from edge_fer.errors import DataError
from edge_fer.quiet import import_tensorflow
from edge_fer.training import defaults
from edge_fer.training.filters import FILTER_STEPS, MAX_FILTERS
from edge_fer.wording import counted

out = make_console()


class Method(str, Enum):
    saliency = "saliency"
    gradcam = "gradcam"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@contextmanager
def _progress(total: int, what: str, quiet: bool = False) -> Iterator[Callable[[int, str], None]]:
    """A progress bar over ``total`` runs on stderr; yields ``on_start(i, name)`` for the library to call."""
    with progress(what, total, quiet=quiet) as step:
        yield lambda i, name: step(completed=i, description=f"{what}: {name}")


def explain_cmd(
    model: Annotated[Path, typer.Argument(help="A .keras model (gradients are needed).")],
    images: Annotated[list[Path], typer.Argument(help="Face crops (48x48 or any small square) or photos.")],
    method: Annotated[Method, typer.Option(help="saliency: input gradients; gradcam: last conv layer.")] = (
        Method.saliency
    ),
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for one PNG per image.")] = Path("runs/explain"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list on stdout.")] = False,
) -> None:
    """Per face: the crop, its saliency (or Grad-CAM) map and the crop masked by it, side by side."""
    with stage("loading TensorFlow", quiet=as_json):
        import_tensorflow()
        from edge_fer.training.explain import explain_images

    with stage(f"{method.value} of {counted(len(images), 'image')}", quiet=as_json):
        records = explain_images(model, [str(p) for p in images], method.value, out_dir)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    table = Table(title=f"{model.name}: {method.value}")
    for col in ("image", "face", "box", "predicted", "prob", "figure"):
        table.add_column(col, justify="right" if col in ("face", "prob") else "left")
    for r in records:
        if r["face"] is None:
            table.add_row(Path(r["image"]).name, "-", "-", "no face found", "-", "-")
            continue
        box = "crop" if r["box"] is None else ",".join(map(str, r["box"]))
        table.add_row(Path(r["image"]).name, str(r["face"]), box, r["label"], f"{r['probability']:.2f}", r["png"])
    out.print(table)


def filters_cmd(
    model: Annotated[Path, typer.Argument(help="A .keras model.")],
    layer: Annotated[str | None, typer.Option(help="Layer to inspect (default: the first convolution).")] = None,
    face: Annotated[
        Path | None, typer.Option(help="A face crop (or photo) to show the layer's feature maps of.")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the PNGs.")] = Path("runs/filters"),
    steps: Annotated[int, typer.Option(min=1, help="Gradient-ascent steps from noise.")] = FILTER_STEPS,
    max_filters: Annotated[int, typer.Option(min=1, help="Draw at most this many filters of the layer.")] = MAX_FILTERS,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the starting noise.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """The input pattern that maximally activates each filter of a layer, and one face's feature maps."""
    with stage("loading TensorFlow", quiet=as_json):
        import_tensorflow()
        from edge_fer.training.filters import inspect_filters

    with progress(f"loading {model.name}", quiet=as_json) as step:
        report = inspect_filters(
            model,
            layer,
            out_dir,
            face,
            steps=steps,
            max_filters=max_filters,
            seed=seed,
            on_step=lambda done, total: step(completed=done, total=total, description="gradient ascent"),
        )
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(
        f"layer {report['layer']}: {report['filters']} of {report['channels']} filters -> {report['filters_png']}"
    )
    moved = report["mean_change"]
    out.print(f"mean change from the starting noise, 0..255: median {sorted(moved)[len(moved) // 2]:.1f}")
    if report["feature_maps_png"]:
        out.print(f"feature maps of {face}: {report['feature_maps_png']}")


def _sweep_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("run", "arch", "params", "MACs", "epochs", "best val acc", "best epoch", "s/epoch", "time"):
        table.add_column(col, justify="left" if col in ("run", "arch") else "right")
    for r in rows:
        table.add_row(
            r["name"],
            r["arch"],
            f"{r['params']:,}",
            f"{r['macs'] / 1e6:.1f}M",
            str(r["epochs"]),
            _pct(r["best_val_accuracy"]),
            str(r["best_epoch"]),
            f"{r['seconds_per_epoch']:.1f}" if r["seconds_per_epoch"] is not None else "-",
            f"{r['train_seconds']:.0f}s",
        )
    return table


def sweep_cmd(
    data: Annotated[Path, typer.Option(help="FER2013 folder (train/ + val/) or fer2013.csv.")],
    grid: Annotated[Path | None, typer.Option(help="JSON list of runs: {arch, arch_kwargs?, epochs?, ...}.")] = None,
    preset: Annotated[str | None, typer.Option(help="A named grid: seed002 (the report's six CNNs).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Sweep folder: one run folder per config.")] = Path(
        "runs/sweep"
    ),
    epochs: Annotated[
        int, typer.Option(min=1, help="Epochs for runs that do not set their own.")
    ] = defaults.SWEEP_EPOCHS,
    batch_size: Annotated[int, typer.Option(min=1)] = defaults.BATCH_SIZE,
    limit: Annotated[int | None, typer.Option(min=14, help="Train on a stratified subset of N faces.")] = None,
    seed: Annotated[int, typer.Option(min=0)] = defaults.SEED,
    quick: Annotated[bool, typer.Option(help="420 faces, 1 epoch per run: checks the path only.")] = False,
    force: Annotated[bool, typer.Option(help="Retrain runs that are finished already.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Train a grid of zoo configurations; table of params, MACs, epochs, best val accuracy, time; curves PNG."""
    import_tensorflow()
    from edge_fer.training.experiments import QUICK_EPOCHS, QUICK_LIMIT
    from edge_fer.training.splits import prepare_data
    from edge_fer.training.sweep import check_grid, load_grid, run_sweep
    from edge_fer.training.sweep import preset as preset_grid

    if grid is not None and preset is not None:
        raise DataError("give either --grid FILE or --preset NAME, not both")
    runs = load_grid(grid) if grid is not None else preset_grid(preset or "seed002")
    if quick:
        epochs, limit = QUICK_EPOCHS, limit or QUICK_LIMIT
        runs = [{k: v for k, v in r.items() if k != "epochs"} for r in runs]
    check_grid(runs, str(grid) if grid is not None else f"preset {preset or 'seed002'}", epochs, batch_size, seed)
    source = prepare_data(data, out_dir / "data", limit, seed)
    with _progress(len(runs), "sweep", quiet=as_json) as on_start:
        report = run_sweep(
            source,
            runs,
            out_dir,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            force=force,
            verbose=0 if as_json else None,  # stdout carries the JSON alone
            on_start=on_start,
            data_label=data.name + (f" ({limit} faces)" if limit else ""),
            check=False,
        )
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(_sweep_table(f"sweep on {data}" + (f" ({limit} faces)" if limit else ""), report["runs"]))
    out.print(f"curves: {report['curves_png']}   table: {out_dir / 'sweep.json'}")


experiment_app = typer.Typer(help="The research reports' experiments, reproduced.", no_args_is_help=True)


@experiment_app.command("pseudo-label")
def pseudo_label_cmd(
    data: Annotated[Path, typer.Option(help="FER2013 folder or fer2013.csv; its training faces are split 4:1:1.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Experiment folder.")] = Path("runs/pseudo-label"),
    arch: Annotated[str, typer.Option(help="Zoo architecture.")] = defaults.ARCH,
    epochs: Annotated[int, typer.Option(min=1, help="Phase 1: epochs on the labelled part.")] = (
        defaults.PSEUDO_EXPERIMENT_EPOCHS
    ),
    extra_epochs: Annotated[int, typer.Option(min=1, help="Phase 2: epochs more, with and without.")] = (
        defaults.PSEUDO_EXTRA_EPOCHS
    ),
    threshold: Annotated[float, typer.Option(min=0.0, max=0.999999, help="Top probability to exceed.")] = (
        defaults.PSEUDO_THRESHOLD
    ),
    limit: Annotated[int | None, typer.Option(min=42, help="Use a stratified subset of N training faces.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = defaults.BATCH_SIZE,
    lr: Annotated[float | None, typer.Option(min=0.0)] = None,
    seed: Annotated[int, typer.Option(min=0)] = defaults.SEED,
    quick: Annotated[bool, typer.Option(help="420 faces, 1 epoch per phase: checks the path only.")] = False,
    force: Annotated[bool, typer.Option(help="Delete the experiment folder and start over.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """The report's semi-supervised protocol: accuracy with and without pseudo-labels."""
    import_tensorflow()
    from edge_fer.training.experiments import QUICK_EPOCHS, QUICK_LIMIT, pseudo_label_experiment
    from edge_fer.training.zoo import list_models

    if arch not in list_models():
        raise typer.BadParameter(f"unknown architecture {arch!r}; see edge-fer models", param_hint="--arch")
    if quick:
        epochs, extra_epochs, limit = QUICK_EPOCHS, QUICK_EPOCHS, limit or QUICK_LIMIT
    with _progress(4, "pseudo-label", quiet=as_json) as on_start:
        stages = iter(range(4))
        report = pseudo_label_experiment(
            data,
            out_dir,
            arch=arch,
            epochs=epochs,
            extra_epochs=extra_epochs,
            threshold=threshold,
            limit=limit,
            seed=seed,
            batch_size=batch_size,
            lr=lr,
            force=force,
            verbose=0 if as_json else None,
            on_stage=lambda text: on_start(next(stages, 3), text),
        )
    if as_json:
        print(json.dumps(report, indent=2))
        return
    s = report["split"]
    table = Table(
        title=f"pseudo-labelling, {arch}: {s['train']} labelled / {s['unlabelled']} unlabelled / {s['val']} val, "
        f"{epochs} + {extra_epochs} epochs"
    )
    for col in ("run", "train faces", "val acc after phase 1", "final val acc", "best val acc"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in report["runs"]:
        table.add_row(
            r["run"],
            str(r["train_faces"]),
            _pct(r["val_accuracy_after_phase1"]),
            _pct(r["val_accuracy_final"]),
            _pct(r["best_val_accuracy"]),
        )
    out.print(table)
    acc = report["pseudo_label_accuracy"]
    out.print(
        f"pseudo-labelled {report['pseudo_selected']} of {s['unlabelled']} faces above {threshold}"
        + (f", {acc:.1%} of them correctly" if acc is not None else "")
    )
    out.print(f"curves: {report['curves_png']}")


@experiment_app.command("cnn-vs-dnn")
def cnn_vs_dnn_cmd(
    data: Annotated[Path, typer.Option(help="FER2013 folder (train/ + val/) or fer2013.csv.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Experiment folder.")] = Path("runs/cnn-vs-dnn"),
    epochs: Annotated[int, typer.Option(min=1)] = defaults.SWEEP_EPOCHS,
    limit: Annotated[int | None, typer.Option(min=14, help="Use a stratified subset of N training faces.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = defaults.BATCH_SIZE,
    lr: Annotated[float | None, typer.Option(min=0.0)] = None,
    seed: Annotated[int, typer.Option(min=0)] = defaults.SEED,
    quick: Annotated[bool, typer.Option(help="420 faces, 1 epoch each: checks the path only.")] = False,
    force: Annotated[bool, typer.Option(help="Delete the experiment folder and start over.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """The report's CNN against a DNN of about the same parameter count, same data and schedule."""
    import_tensorflow()
    from edge_fer.training.experiments import CNN_VS_DNN, QUICK_EPOCHS, QUICK_LIMIT, cnn_vs_dnn_experiment

    if quick:
        epochs, limit = QUICK_EPOCHS, limit or QUICK_LIMIT
    with _progress(len(CNN_VS_DNN), "cnn-vs-dnn", quiet=as_json) as on_start:
        report = cnn_vs_dnn_experiment(
            data,
            out_dir,
            epochs=epochs,
            limit=limit,
            seed=seed,
            batch_size=batch_size,
            lr=lr,
            force=force,
            verbose=0 if as_json else None,
            on_start=on_start,
        )
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(_sweep_table(f"CNN vs DNN on {data}" + (f" ({limit} faces)" if limit else ""), report["runs"]))
    out.print(
        f"CNN - DNN best val accuracy: {report['cnn_minus_dnn_accuracy']:+.4f} "
        f"at {report['param_ratio']:.2f}x the parameters; curves: {report['curves_png']}"
    )


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
    app.command("filters")(filters_cmd)
    app.command("sweep")(sweep_cmd)
    app.add_typer(experiment_app, name="experiment")
