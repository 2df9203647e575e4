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
    """Read a grid file: a non-empty JSON list of run objects (:func:`check_grid` checks the runs)."""
    path = Path(path)
    try:
        grid = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such grid file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON grid file ({exc})") from None
    if not isinstance(grid, list) or not grid or not all(isinstance(g, dict) for g in grid):
        raise DataError(f'{path}: a grid is a non-empty JSON list of objects such as {{"arch": "edgefer-s"}}')
    return grid


#: TrainConfig options a grid run may set, checked before anything trains: (integer?, lowest, highest) with
#: None for no bound. Options not listed here (added to TrainConfig later) pass unchecked.
_NUMBERS: dict[str, tuple[bool, float, float | None]] = {
    "epochs": (True, 1, None),
    "batch_size": (True, 1, None),
    "seed": (True, 0, None),
    "patience": (True, 1, None),
    "warmup_epochs": (True, 0, None),
    "momentum": (False, 0.0, 1.0),
    "weight_decay": (False, 0.0, None),
    "label_smoothing": (False, 0.0, 0.5),
    "val_fraction": (False, 0.01, 0.5),
}
_POSITIVE_OR_NONE = ("lr", "time_budget_s")
_FLAGS = ("class_weights", "deterministic", "recalibrate_bn")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _option_problem(key: str, value: Any) -> str | None:
    """What is wrong with one TrainConfig option's value, or None."""
    from edge_fer.training.choices import Monitor, Optimizer, Schedule

    choices = {"optimizer": Optimizer, "schedule": Schedule, "monitor": Monitor}
    if key in _NUMBERS:
        integer, low, high = _NUMBERS[key]
        if not _is_number(value) or (integer and not isinstance(value, int)):
            return f"{key} {value!r} is not {'an integer' if integer else 'a number'}"
        if value < low or (high is not None and value > high):
            return (
                f"{key} {value!r} is out of range ({f'at least {low:g}' if high is None else f'{low:g} to {high:g}'})"
            )
    elif key in _POSITIVE_OR_NONE:
        if value is not None and (not _is_number(value) or value <= 0):
            return f"{key} {value!r} is not a number above 0"
    elif key in _FLAGS:
        if not isinstance(value, bool):
            return f"{key} {value!r} is not true or false"
    elif key in choices:
        names = [c.value for c in choices[key]]
        if value not in names:
            return f"{key} {value!r}: choose one of {', '.join(names)}"
    elif key == "augment":
        from edge_fer.training.augment import AugmentConfig

        known = {f.name for f in fields(AugmentConfig)}
        if not isinstance(value, dict) or set(value) - known:
            return f"augment {value!r}: an object with some of {', '.join(sorted(known))}"
        bad = [k for k, v in value.items() if not (isinstance(v, bool) if k == "flip" else _is_number(v) and v >= 0)]
        if bad:
            return f"augment {', '.join(bad)}: strengths are numbers from 0 (flip: true or false)"
    elif key == "arch_kwargs" and not isinstance(value, dict):
        return f"arch_kwargs {value!r} is not an object"
    return None


def _arch_problem(arch: str, arch_kwargs: dict[str, Any]) -> str | None:
    """What the architecture's builder says about ``arch_kwargs``: unknown names from its signature, then
    what building the model once (no training; seconds at most) raises, e.g. seed002-grid's value ranges."""
    import inspect

    from edge_fer.training.zoo import create_model, get_entry

    params = inspect.signature(get_entry(arch).builder).parameters
    takes = [n for n in params if n != "num_classes"]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(arch_kwargs) - set(takes))
        if unknown:
            return f"{arch} takes no arch_kwargs {unknown}; it takes: {', '.join(takes) or 'none'}"
    try:
        create_model(arch, **arch_kwargs)
    except (TypeError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{arch} with arch_kwargs {json.dumps(arch_kwargs)}: {reason}"
    return None


def run_params(
    run: dict[str, Any], epochs: int, batch_size: int, seed: int, defaults: dict[str, Any] | None
) -> dict[str, Any]:
    """A grid run's TrainConfig fields (but data, val and out): the sweep's settings, then the run's own."""
    return {
        "monitor": "val_accuracy",
        "patience": 10**6,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        **(defaults or {}),
        **{k: v for k, v in run.items() if k != "name"},
    }


def check_grid(
    grid: list[dict[str, Any]],
    source: str = "grid",
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    defaults: dict[str, Any] | None = None,
) -> None:
    """Check every run before anything trains (a late run's bad value must not cost the earlier runs'
    hours, nor leave an empty run folder): keys, arch, each option's value, and the arch_kwargs its builder
    accepts. Raises DataError naming the first bad run (index and name) and its problem."""
    from edge_fer.training.train import TrainConfig
    from edge_fer.training.zoo import list_models

    allowed = {f.name for f in fields(TrainConfig)} - {"data", "out", "val"} | {"name"}
    known = set(list_models())
    built: set[str] = set()
    for i, (name, run) in enumerate(zip(run_names(grid) if _named(grid) else [""] * len(grid), grid)):
        where = f"{source}: run {i}" + (f" ({name})" if name else "")
        unknown = set(run) - allowed
        if unknown:
            raise DataError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        if run.get("arch") not in known:
            raise DataError(f"{where}: unknown or missing arch {run.get('arch')!r} (see edge-fer models)")
        for key, value in run_params(run, epochs, batch_size, seed, defaults).items():
            problem = _option_problem(key, value)
            if problem:
                raise DataError(f"{where}: {problem}")
        arch_kwargs = run.get("arch_kwargs") or {}
        signature = json.dumps([run["arch"], arch_kwargs], sort_keys=True, default=str)
        if signature not in built:
            problem = _arch_problem(run["arch"], arch_kwargs)
            if problem:
                raise DataError(f"{where}: {problem}")
            built.add(signature)


def _named(grid: list[dict[str, Any]]) -> bool:
    """Whether every run can be named yet (a missing arch is reported by check_grid itself)."""
    return all(run.get("name") or run.get("arch") for run in grid)


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
    check: bool = True,
) -> dict[str, Any]:
    """Train every run of ``grid`` on ``data``; write ``<out>/sweep.json`` and ``<out>/sweep_curves.png``.

    ``defaults`` are TrainConfig fields shared by all runs (a run's own keys win). ``on_start(i, name)``
    is called before each run (for progress bars). Every run is checked first (:func:`check_grid`; ``check``
    False: the caller has just done that)."""
    from edge_fer.training.checkpoint import RunState
    from edge_fer.training.train import TrainConfig

    if check:
        check_grid(grid, "grid", epochs, batch_size, seed, defaults)
    out = Path(out_dir)
    rows, histories = [], {}
    for i, (name, run) in enumerate(zip(run_names(grid), grid)):
        if on_start is not None:
            on_start(i, name)
        params = run_params(run, epochs, batch_size, seed, defaults)
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
