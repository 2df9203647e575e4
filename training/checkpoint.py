"""Run-folder state: atomic per-epoch checkpoints, the best model, and what a resumed run needs.

``state.json`` is the commit point: it names the checkpoint of the last completed epoch and is replaced
atomically only after that checkpoint is whole, so a run killed at any moment resumes from a good one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras

from edge_fer.atomic import atomic_path, write_json, write_text
from edge_fer.errors import DataError
from edge_fer.metadata import ModelMeta, write_meta
from edge_fer.training.precision import float32_model

STATE_FILE = "state.json"
BEST_MODEL = "best.keras"


@dataclass
class RunState:
    """Everything about a run except the weights: config, progress, history, stopping counters."""

    config: dict[str, Any]
    epoch: int = 0
    status: str = "new"
    checkpoint: str | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    rng: list[list[int]] = field(default_factory=list)
    #: Each ``--resume --epochs N`` past the plan: {"at_epoch", "from_epochs", "to_epochs"} (for the card).
    extensions: list[dict[str, int]] = field(default_factory=list)
    #: How ``precision=auto`` chose: ms per step of each policy tried and the speed-up
    #: (see edge_fer.training.precision).
    precision_probe: dict[str, Any] | None = None
    #: SHA-256 of the ``--teacher`` file when the run first read it: a resumed run must be taught by the same model.
    teacher_sha256: str | None = None

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        path = run_dir / STATE_FILE
        if not path.is_file():
            raise DataError(f"{run_dir}: not a training run folder (no {STATE_FILE}); start one with edge-fer train")
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{path}: unreadable run state ({exc})") from None

    def save(self, run_dir: Path) -> None:
        write_json(run_dir / STATE_FILE, asdict(self))


def _seed_states(model: keras.Model) -> list:
    """The random-seed state variables (augmentation, dropout) in a stable order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def rng_snapshot(model: keras.Model) -> list[list[int]]:
    """Keras does not save SeedGenerator states in .keras files; the run state keeps them instead."""
    return [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(model)]


def rng_restore(model: keras.Model, states: list[list[int]]) -> None:
    variables = _seed_states(model)
    if states and len(states) == len(variables):
        for var, value in zip(variables, states):
            var.assign(value)


class _Resumable:
    """Mixin for a Keras callback whose counters (``COUNTERS``) must survive a resume: they are
    snapshotted into state.json each epoch and restored after the callback's own ``on_train_begin``."""

    COUNTERS: tuple[str, ...] = ()

    def __init__(self, initial: dict[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._initial = initial or {}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for name, value in self._initial.items():
            if name in self.COUNTERS and value is not None:
                current = getattr(self, name, None)
                setattr(self, name, type(current)(value) if isinstance(current, (int, float)) else float(value))

    def snapshot(self) -> dict[str, float | None]:
        values = {name: getattr(self, name, None) for name in self.COUNTERS}
        return {k: (float(v) if v is not None else None) for k, v in values.items()}


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    """Keras early stopping whose wait counter and best value survive a resume."""

    COUNTERS = ("wait", "best")


class ResumableReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    """Keras reduce-on-plateau whose counters survive a resume (the rate itself lives in the optimizer)."""

    COUNTERS = ("wait", "best", "cooldown_counter")


class RunCheckpoint(keras.callbacks.Callback):
    """At every epoch end: checkpoint, best model, history CSV, state; and the time budget / stop request."""

    def __init__(
        self,
        run_dir: Path,
        state: RunState,
        core: keras.Model,
        meta: ModelMeta,
        monitor: str,
        time_budget_s: float | None,
        counters: dict[str, Any],
        agree: Callable[[bool], bool] | None = None,
    ):
        """``agree(flag)`` makes one worker's stop decision every worker's (training.distribute.agree): any
        worker's Ctrl-C or time budget stops them all at the same epoch boundary."""
        super().__init__()
        self.run_dir, self.state, self.core, self.meta = run_dir, state, core, meta
        self.monitor = monitor
        self.mode_min = "loss" in monitor
        self.time_budget_s = time_budget_s
        self.counters = counters
        self.stop_requested = False
        self.agree = agree or (lambda flag: flag)
        self._started = time.monotonic()
        self._epoch_start = 0.0
        (run_dir / "ckpt").mkdir(parents=True, exist_ok=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def _improved(self, value: float) -> bool:
        best = self.state.best.get("value")
        if best is None or math.isnan(best):
            return not math.isnan(value)
        return value < best if self.mode_min else value > best

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        st = self.state
        for key, value in logs.items():
            st.history.setdefault(key, []).append(value)
        st.epoch_seconds.append(time.monotonic() - self._epoch_start)
        value = logs.get(self.monitor, math.nan)
        if self._improved(value):
            with atomic_path(self.run_dir / BEST_MODEL) as tmp:
                float32_model(self.core).save(tmp)
            self.meta.extra.update(
                {"best_epoch": epoch + 1, self.monitor: value, "val_accuracy": logs.get("val_accuracy")}
            )
            write_meta(self.run_dir / BEST_MODEL, self.meta)
            st.best = {"metric": self.monitor, "value": value, "epoch": epoch + 1, **logs}
        name = f"ckpt/epoch-{epoch + 1:04d}.keras"
        with atomic_path(self.run_dir / name) as tmp:
            self.model.save(tmp)
        previous = st.checkpoint
        st.epoch, st.checkpoint, st.status = epoch + 1, name, "running"
        st.counters = {key: cb.snapshot() for key, cb in self.counters.items()}
        st.rng = rng_snapshot(self.model)
        st.save(self.run_dir)
        self._write_csv()
        if previous and previous != name:
            (self.run_dir / previous).unlink(missing_ok=True)
        over_budget = False
        if self.time_budget_s is not None:
            spent = time.monotonic() - self._started
            over_budget = spent + max(st.epoch_seconds[-3:]) > self.time_budget_s
        if self.agree(self.stop_requested):
            st.status = "stopped"
            self.model.stop_training = True
        elif self.agree(over_budget):
            st.status = "paused"
            self.model.stop_training = True
        if st.status in ("paused", "stopped"):
            st.save(self.run_dir)

    def _write_csv(self) -> None:
        keys = sorted(self.state.history)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["epoch", *keys])
        for i in range(self.state.epoch):
            writer.writerow([i + 1, *(f"{self.state.history[k][i]:.6g}" for k in keys)])
        write_text(self.run_dir / "history.csv", buf.getvalue())
