"""``edge-fer sweep``: train a grid of zoo configurations and compare them (table JSON + one curve figure).

A grid file is a JSON list of objects, each a run: ``arch`` and optionally ``name``, ``arch_kwargs``,
``epochs`` and any other :class:`edge_fer.training.train.TrainConfig` field except ``data`` and ``out``. The
preset ``seed002`` is that report's six CNNs. Every run has its own folder under the sweep's, so an
interrupted sweep picks up where it stopped: finished runs are reused, a stopped one is resumed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from edge_fer.atomic import write_json
from edge_fer.errors import DataError
from edge_fer.training.defaults import BATCH_SIZE, SEED, SWEEP_EPOCHS


def preset(name: str) -> list[dict[str, Any]]:
    """A named grid: ``seed002`` (the report's six CNNs, c1..c6)."""
    from edge_fer.training.zoo.seeds import SEED002_GRID

    grids = {"seed002": [{"arch": name} for name in SEED002_GRID]}
    if name not in grids:
        raise DataError(f"unknown preset {name!r}; choose one of: {', '.join(grids)}")
    return grids[name]


def load_grid(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a grid file (a JSON list of run objects)."""
    from edge_fer.training.train import TrainConfig
    from edge_fer.training.zoo import list_models

    path = Path(path)
    try:
        grid = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such grid file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON grid file ({exc})") from None
    if not isinstance(grid, list) or not grid or not all(isinstance(g, dict) for g in grid):
        raise DataError(f'{path}: a grid is a non-empty JSON list of objects such as {{"arch": "edgefer-s"}}')
    allowed = {f.name for f in fields(TrainConfig)} - {"data", "out"} | {"name"}
    known = set(list_models())
    for i, run in enumerate(grid):
        unknown = set(run) - allowed
        if unknown:
            raise DataError(f"{path}: run {i}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        if run.get("arch") not in known:
            raise DataError(f"{path}: run {i}: unknown or missing arch {run.get('arch')!r} (see edge-fer models)")
    return grid


def run_names(grid: list[dict[str, Any]]) -> list[str]:
    """A distinct folder name per run: its ``name``, else its arch (numbered when repeated)."""
    names: list[str] = []
    for run in grid:
        base = str(run.get("name") or run["arch"])
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def run_or_resume(cfg: Any, force: bool, verbose: int | None) -> dict[str, Any]:
    """Train, resume or reuse the run in ``cfg.out``; its summary."""
    from edge_fer.training.train import resume, train

    run_dir = Path(cfg.out)
    summary_path = run_dir / "summary.json"
    if not force and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("status") in ("finished", "early-stopped") and summary.get("epochs_planned") == cfg.epochs:
            return summary
    if not force and (run_dir / "state.json").is_file():
        return resume(run_dir, epochs=cfg.epochs, verbose=verbose).summary
    return train(cfg, force=force, verbose=verbose).summary


def row_of(name: str, summary: dict[str, Any], history: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "name": name,
        "arch": summary["arch"],
        "arch_kwargs": summary["config"].get("arch_kwargs", {}),
        "params": summary["params"],
        "macs": summary["macs"],
        "epochs": summary["epochs_done"],
        "best_val_accuracy": summary["best_val_accuracy"],
        "best_epoch": int(max(range(len(history["val_accuracy"])), key=history["val_accuracy"].__getitem__)) + 1
        if history.get("val_accuracy")
        else None,
        "seconds_per_epoch": summary["seconds_per_epoch_median"],
        "train_seconds": summary["train_seconds_total"],
        "run_dir": str(Path(summary["best_model"]).parent),
    }


def run_sweep(
    data: str | Path,
    grid: list[dict[str, Any]],
    out_dir: str | Path,
    epochs: int = SWEEP_EPOCHS,
    val: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
    defaults: dict[str, Any] | None = None,
    force: bool = False,
    verbose: int | None = None,
    on_start: Callable[[int, str], None] | None = None,
    title: str = "sweep",
    data_label: str | None = None,
) -> dict[str, Any]:
    """Train every run of ``grid`` on ``data``; write ``<out>/sweep.json`` and ``<out>/sweep_curves.png``.

    ``defaults`` are TrainConfig fields shared by all runs (a run's own keys win). ``on_start(i, name)``
    is called before each run (for progress bars)."""
    from edge_fer.training.checkpoint import RunState
    from edge_fer.training.train import TrainConfig

    out = Path(out_dir)
    rows, histories = [], {}
    for i, (name, run) in enumerate(zip(run_names(grid), grid)):
        if on_start is not None:
            on_start(i, name)
        params = {
            "monitor": "val_accuracy",
            "patience": 10**6,
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            **(defaults or {}),
            **{k: v for k, v in run.items() if k != "name"},
        }
        cfg = TrainConfig(data=str(data), val=str(val) if val else None, out=str(out / name), **params)
        summary = run_or_resume(cfg, force, verbose)
        history = RunState.load(out / name).history
        histories[name] = history
        rows.append(row_of(name, summary, history))
    report = {"data": str(data), "runs": rows}
    report["curves_png"] = str(
        plot_sweep(histories, out / "sweep_curves.png", title=f"{title}: {data_label or Path(data).name}")
    )
    write_json(out / "sweep.json", report)
    return report


def plot_sweep(histories: dict[str, dict[str, list[float]]], path: Path, title: str = "") -> Path:
    """Validation accuracy (solid) and training accuracy (dashed) per epoch, one colour per run."""
    from edge_fer.training.plots import _pyplot, save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, hist) in enumerate(histories.items()):
        colour = colours[k % len(colours)]
        val = hist.get("val_accuracy", [])
        train = hist.get("accuracy", [])
        ax.plot(range(1, len(val) + 1), val, "-o", ms=3, color=colour, label=f"{name} val (best {max(val):.3f})")
        if train:
            ax.plot(range(1, len(train) + 1), train, "--", color=colour, alpha=0.6, label=f"{name} train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
