"""``edge-fer train``: a resumable Keras training run from a FER2013 folder or CSV to a best model.

A run folder holds everything: ``state.json`` (config, progress, history), the last epoch's checkpoint
(model + optimizer + augmentation RNG), ``best.keras`` with its metadata, ``history.csv``, and at the
end ``curves.png`` and ``summary.json``. ``resume(run_dir)`` continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.atomic import atomic_path, write_json
from edge_fer.errors import DataError
from edge_fer.labels import LABELS
from edge_fer.metadata import ModelMeta
from edge_fer.preprocessing import normalize_faces, preprocessing_spec
from edge_fer.training import (
    defaults,
    normalization,  # noqa: F401  (registers the layer its checkpoints hold)
)
from edge_fer.training.augment import AugmentConfig
from edge_fer.training.choices import DEFAULT_NORMALIZE, DEFAULT_PRECISION

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a run; saved in state.json so ``--resume`` needs nothing else."""

    data: str
    arch: str = defaults.ARCH
    out: str = "runs/train"
    val: str | None = None
    val_fraction: float = defaults.VAL_FRACTION
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    seed: int = defaults.SEED
    optimizer: str = defaults.OPTIMIZER
    lr: float | None = None
    momentum: float = defaults.MOMENTUM
    weight_decay: float = defaults.WEIGHT_DECAY
    schedule: str = defaults.SCHEDULE
    warmup_epochs: int = defaults.WARMUP_EPOCHS
    label_smoothing: float = defaults.LABEL_SMOOTHING
    class_weights: bool = False
    augment: dict[str, Any] = field(default_factory=lambda: AugmentConfig().to_dict())
    monitor: str = defaults.MONITOR
    patience: int = defaults.PATIENCE
    time_budget_s: float | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    deterministic: bool = False
    #: More labelled folders appended to the training faces (e.g. pseudo-labelled ones).
    extra_train: list[str] = field(default_factory=list)
    #: At the end, re-estimate the best model's BatchNorm statistics on clean training faces.
    recalibrate_bn: bool = True
    #: Per-face photometric normalization the model is trained with and carries in its metadata
    #: (edge_fer.preprocessing.NORMALIZERS). Histogram equalization cancels brightness, contrast and gamma.
    normalize: str = DEFAULT_NORMALIZE
    #: Start from this .keras model's weights (same architecture): fine-tuning, e.g. onto a new normalization.
    init_from: str | None = None
    #: Keras dtype policy: ``auto`` times float32 against mixed_bfloat16 (CPUs with AVX-512 BF16 or AMX) or
    #: mixed_float16 (GPUs) for a few steps and keeps the faster; the choice is saved with the run.
    precision: str = DEFAULT_PRECISION
    #: Crop-consistency distillation (training.distill): this .keras or TFLite model's probabilities for each
    #: face's original, mixed into its target with weight ``distill``. None: hard labels only.
    teacher: str | None = None
    distill: float = 0.5


#: What a run saved before a setting existed had in effect, so it resumes unchanged.
_LEGACY_CONFIG: dict[str, Any] = {"normalize": "none", "init_from": None, "precision": "float32"}


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` from an older state.json with the settings it ran under filled in (no new behaviour)."""
    out = {**_LEGACY_CONFIG, **config}
    out["augment"] = {**AugmentConfig.photometric_off(), **config.get("augment", {})}
    return out


@dataclass
class TrainResult:
    """What a finished (or paused) run reports."""

    run_dir: Path
    status: str
    epochs_done: int
    best: dict[str, Any]
    summary: dict[str, Any]


def parse_duration(text: str) -> float:
    """'2h', '90m', '1h30m', '45s' or plain seconds -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"cannot read duration {text!r}; write e.g. 2h, 90m, 1h30m or 45s")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def make_train_dataset(x: np.ndarray, y: np.ndarray, batch: int, seed: int, epochs: range, num_classes: int) -> Any:
    """Batches for ``epochs``: a stateless, seeded permutation per epoch, so a resumed run sees the
    same order as an uninterrupted one. Images go in as raw 0..255 floats; ``y`` is (N,) label indices
    (one-hot in the batches) or (N, num_classes) soft targets (as they are)."""
    import tensorflow as tf

    n = len(y)
    xs, ys = tf.constant(x[..., None]), tf.constant(y)

    def epoch_batches(epoch):
        order = tf.data.Dataset.range(n).batch(batch, drop_remainder=True)
        return order.map(lambda idx: tf.random.experimental.index_shuffle(idx, tf.stack([seed, epoch]), n - 1))

    def gather(idx):
        target = tf.gather(ys, idx)
        return tf.cast(tf.gather(xs, idx), tf.float32), target if y.ndim == 2 else tf.one_hot(target, num_classes)

    ds = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(epoch_batches)
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(x: np.ndarray, y: np.ndarray | None, batch: int, num_classes: int) -> Any:
    """Batches in order, raw 0..255 floats (and one-hot labels when given)."""
    import tensorflow as tf

    xs = tf.data.Dataset.from_tensor_slices(x[..., None])
    if y is None:
        return xs.batch(batch).map(lambda a: tf.cast(a, tf.float32))
    ds = tf.data.Dataset.from_tensor_slices((x[..., None], y))
    return ds.batch(batch).map(lambda a, b: (tf.cast(a, tf.float32), tf.one_hot(b, num_classes)))


def _build_training_model(cfg: TrainConfig, steps_per_epoch: int) -> tuple[Any, Any]:
    """(training model = augmentation + network, compiled; the network alone)."""
    import keras

    from edge_fer.training.augment import build_augmenter
    from edge_fer.training.normalization import FaceNormalization
    from edge_fer.training.optim import make_schedule
    from edge_fer.training.zoo import create_model

    core = create_model(cfg.arch, **cfg.arch_kwargs)
    if cfg.init_from:
        _init_weights(core, Path(cfg.init_from))
    aug = build_augmenter(AugmentConfig(**cfg.augment), cfg.seed)
    norm = FaceNormalization(cfg.normalize, name="normalize")
    model = keras.Sequential([keras.Input(core.input_shape[1:]), *aug, norm, core], name="train")
    schedule = make_schedule(cfg.schedule, _peak_lr(cfg), steps_per_epoch, cfg.epochs, cfg.warmup_epochs)
    _compile(model, cfg, schedule)
    return model, core


def _init_weights(core: Any, path: Path) -> None:
    """Copy the weights of the .keras model at ``path`` into ``core`` (same architecture)."""
    import keras

    if not path.is_file():
        raise DataError(f"--init-from {path}: no such model file")
    source = keras.models.load_model(path, compile=False)
    if [w.shape for w in source.weights] != [w.shape for w in core.weights]:
        raise DataError(f"--init-from {path}: its layers do not match the {core.name} architecture")
    core.set_weights(source.get_weights())
    log.info("weights initialised from %s", path)


def _peak_lr(cfg: TrainConfig) -> float:
    from edge_fer.training.zoo import get_entry

    return cfg.lr if cfg.lr is not None else (get_entry(cfg.arch).learning_rate or defaults.LR)


def _compile(model: Any, cfg: TrainConfig, schedule: Any) -> None:
    """Compile the training model with a fresh optimizer following ``schedule``."""
    import keras

    from edge_fer.training.optim import make_optimizer

    model.compile(
        optimizer=make_optimizer(cfg.optimizer, schedule, cfg.momentum, cfg.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def _extend_cosine(run_dir: Path, state: Any, epochs: int) -> None:
    """Rebuild a cosine run's schedule for ``epochs`` > its planned end. Keras keeps the old schedule inside
    the optimizer, and its decay would leave every added epoch at a zero rate. A run that finished its
    schedule restarts at the peak rate with its warm-up (a warm restart, as in SGDR); a run stopped before
    its end decays from its current rate to zero at the new end. The optimizer's moments start over."""
    from edge_fer.training.optim import make_schedule

    cfg = TrainConfig(**{**upgrade_config(state.config), "epochs": epochs})
    train_set, _ = _load_data(cfg)
    steps = len(train_set) // min(cfg.batch_size, len(train_set))
    finished = state.epoch >= state.config["epochs"]
    if finished:
        schedule = make_schedule("cosine", _peak_lr(cfg), steps, epochs - state.epoch, cfg.warmup_epochs)
        state.counters.pop("early_stopping", None)  # a new cycle: patience starts over
    else:
        schedule = make_schedule("cosine", float(state.history["lr"][-1]), steps, epochs - state.epoch)
    path = run_dir / state.checkpoint
    model, _ = _load_training_model(path)
    _compile(model, cfg, schedule)
    model.optimizer.build(model.trainable_variables)  # saved whole: loading it then matches variable for variable
    with atomic_path(path) as tmp:
        model.save(tmp)
    log.info("cosine schedule %s over epochs %d-%d", "restarted" if finished else "stretched", state.epoch + 1, epochs)


def _load_training_model(path: Path) -> tuple[Any, Any]:
    import keras

    import edge_fer.training.normalization
    import edge_fer.training.zoo.layers  # noqa: F401  (registers custom layers for loading)

    model = keras.models.load_model(path)
    return model, model.layers[-1]


class _StopOnSignal:
    """First Ctrl-C: finish this epoch, save, stop. Second Ctrl-C or SIGTERM: stop now (the last
    completed epoch's checkpoint is already safe)."""

    def __init__(self, callback: Any):
        self.callback = callback
        self._old: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and not self.callback.stop_requested:
            self.callback.stop_requested = True
            print("\nstopping at the end of this epoch (state is saved; Ctrl-C again to stop now)", file=sys.stderr)
            return
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _check_new_run_dir(run_dir: Path, force: bool) -> None:
    from edge_fer.errors import OutputExistsError

    if (run_dir / "state.json").exists() and not force:
        raise OutputExistsError(
            f"{run_dir} holds a training run already; continue it with --resume {run_dir}, "
            "or pass --force to start over there"
        )


def train(cfg: TrainConfig, force: bool = False, verbose: int | None = None) -> TrainResult:
    """Start a new run in ``cfg.out``."""
    from edge_fer.training.checkpoint import RunState
    from edge_fer.training.distribute import get_strategy, is_chief

    run_dir = Path(cfg.out)
    _check_new_run_dir(run_dir, force)
    for flag, model in (("--init-from", cfg.init_from), ("--teacher", cfg.teacher)):
        if model and not Path(model).is_file():  # before the run folder exists: nothing to clean up
            raise DataError(f"{flag} {model}: no such model file")
    strategy = get_strategy()  # before any TensorFlow operation: a multi-worker strategy must come first
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_chief(strategy):  # the other workers never touch the chief's files
        for stale in (run_dir / "ckpt").glob("*.keras") if (run_dir / "ckpt").is_dir() else []:
            stale.unlink()
    state = RunState(config=asdict(cfg))
    from edge_fer.training.precision import restored_policy

    with restored_policy():
        return _run(run_dir, state, verbose=verbose)


def resume(
    run_dir: str | Path, epochs: int | None = None, time_budget_s: float | None = None, verbose: int | None = None
) -> TrainResult:
    """Continue the run in ``run_dir`` from its last completed epoch (optionally to more epochs).

    Under several workers every worker resumes from the chief's run folder; the chief alone rewrites it for
    ``epochs`` (the others wait for that, then read it)."""
    from edge_fer.training.checkpoint import RunState
    from edge_fer.training.distribute import barrier, get_strategy, is_chief, worker_count

    def load() -> RunState:
        state = RunState.load(run_dir)
        state.config = upgrade_config(state.config)
        return state

    run_dir = Path(run_dir)
    state = load()
    strategy = get_strategy()
    if epochs is not None and is_chief(strategy):
        if epochs > state.config["epochs"]:
            if state.config.get("schedule") == "cosine" and state.checkpoint:
                _extend_cosine(run_dir, state, epochs)
            plan = {"at_epoch": state.epoch, "from_epochs": state.config["epochs"], "to_epochs": epochs}
            state.extensions.append(plan)
        state.config["epochs"] = epochs
        state.save(run_dir)
    if worker_count(strategy) > 1:
        barrier(strategy)
        state = load()
    state.config["time_budget_s"] = time_budget_s
    from edge_fer.training.precision import restored_policy

    with restored_policy():
        return _run(run_dir, state, verbose=verbose)


def _load_data(cfg: TrainConfig) -> tuple[Any, Any]:
    from edge_fer.training.data import load_split, load_train_val

    train_set, val_set = load_train_val(cfg.data, cfg.val, cfg.val_fraction, cfg.seed)
    for extra in cfg.extra_train:
        train_set = train_set.concat(load_split(extra, "train"))
    skipped = train_set.problems + val_set.problems
    if skipped:
        log.warning("skipped %d unusable files (run `edge-fer data check` to list them)", len(skipped))
    if len(train_set) == 0 or len(val_set) == 0:
        raise DataError(f"{cfg.data}: no usable training or validation faces")
    return train_set, val_set


def _run(run_dir: Path, state: Any, verbose: int | None = None) -> TrainResult:
    """Train from ``state`` to ``cfg.epochs``. Under several workers each runs this; the chief writes
    ``run_dir``, the others their own temporary folder inside it (training.distribute.write_dir)."""
    import keras
    import tensorflow as tf

    from edge_fer.training.checkpoint import (
        ResumableEarlyStopping,
        ResumableReduceLROnPlateau,
        RunCheckpoint,
        rng_restore,
    )
    from edge_fer.training.data import class_weights
    from edge_fer.training.distribute import (
        WorkerLostError,
        agree,
        chief_choice,
        collective_error,
        get_strategy,
        is_chief,
        keras_fit_fixes,
        lost_worker_errors,
        remove_write_dir,
        worker_count,
        write_dir,
    )
    from edge_fer.training.zoo import model_macs

    cfg = TrainConfig(**state.config)
    strategy = get_strategy()
    chief = is_chief(strategy)
    out_dir = write_dir(run_dir, strategy)
    if chief:
        for stale in _partial_files(run_dir):  # temp files of a run killed mid-write
            stale.unlink(missing_ok=True)
    else:
        remove_write_dir(run_dir, strategy)  # a worker's files of an earlier session: only the chief's count
    if cfg.epochs <= state.epoch:
        if chief and state.status in ("finished", "early-stopped") and _recalibration_pending(cfg, state):
            train_set, val_set = _load_data(cfg)  # a run that ended before recalibration existed or ran
            meta = _recalibrate_best(run_dir, state, cfg, train_set, val_set)
            summary = write_summary(run_dir, state, cfg, meta, 0.0)
            return TrainResult(run_dir, state.status, state.epoch, state.best, summary)
        raise DataError(
            f"{run_dir}: already trained {state.epoch} of {cfg.epochs} epochs; pass --epochs N to go further"
        )
    train_set, val_set = _load_data(cfg)
    batch = min(cfg.batch_size, len(train_set))
    steps = len(train_set) // batch
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    if cfg.precision == "auto":
        from edge_fer.training.precision import PRECISIONS, choose_precision

        probe = choose_precision(cfg.arch, cfg.arch_kwargs, batch, steps * (cfg.epochs - state.epoch))
        chosen = chief_choice(strategy, probe["precision"], PRECISIONS)  # one dtype on every worker
        state.config["precision"] = cfg.precision = chosen
        state.precision_probe = probe
    keras.mixed_precision.set_global_policy(cfg.precision)
    with strategy.scope():
        if state.checkpoint:
            model, core = _load_training_model(run_dir / state.checkpoint)
            rng_restore(model, state.rng)
        else:
            model, core = _build_training_model(cfg, steps)
    meta = ModelMeta(
        arch=cfg.arch,
        format="keras",
        preprocessing=preprocessing_spec(cfg.normalize),
        extra={"params": core.count_params(), "macs": model_macs(core), "precision": cfg.precision},
    )
    counters: dict[str, Any] = {
        "early_stopping": ResumableEarlyStopping(
            state.counters.get("early_stopping"),
            monitor=cfg.monitor,
            patience=cfg.patience,
            mode="min" if "loss" in cfg.monitor else "max",
        )
    }
    if cfg.schedule == "plateau":
        counters["plateau"] = ResumableReduceLROnPlateau(
            state.counters.get("plateau"),
            monitor=cfg.monitor,
            factor=0.5,
            patience=max(cfg.patience // 2, 2),
            mode="min" if "loss" in cfg.monitor else "max",
            min_lr=1e-6,
        )
    ckpt = RunCheckpoint(
        out_dir, state, core, meta, cfg.monitor, cfg.time_budget_s, counters, agree=lambda flag: agree(strategy, flag)
    )
    targets = train_set.y
    if cfg.teacher:
        from edge_fer.training.distill import distilled_targets

        _check_teacher(run_dir, state, cfg.teacher, chief)
        if verbose != 0:  # a minute or two with no other sign of life (Keras prints nothing until the first epoch)
            print(
                f"distillation: {cfg.teacher} reads the originals of {len(train_set.y):,} training faces "
                f"(weight {cfg.distill})",
                file=sys.stderr,
                flush=True,
            )
        targets = distilled_targets(cfg.teacher, train_set.x, train_set.y, train_set.paths, cfg.distill)
    train_ds = make_train_dataset(train_set.x, targets, batch, cfg.seed, range(state.epoch, cfg.epochs), len(LABELS))
    val_ds = make_eval_dataset(val_set.x, val_set.y, 256, len(LABELS))
    weights = class_weights(train_set.y) if cfg.class_weights else None
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    state.status = "running"
    started = time.monotonic()
    try:
        with _StopOnSignal(ckpt), keras_fit_fixes(model, strategy, train_ds.element_spec):
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=cfg.epochs,
                initial_epoch=state.epoch,
                steps_per_epoch=steps,
                class_weight=weights,
                shuffle=False,  # the dataset shuffles itself, per epoch and reproducibly (resume needs that)
                callbacks=[ckpt, *counters.values()],
                verbose=verbose,
            )
    except KeyboardInterrupt:
        _save_interrupted(state, out_dir)
        raise
    except lost_worker_errors() as exc:
        if worker_count(strategy) <= 1:
            raise
        _save_interrupted(state, out_dir)
        remove_write_dir(run_dir, strategy)
        raise WorkerLostError(
            f"a worker of the cluster was lost during epoch {state.epoch + 1} ({collective_error(exc)}); epoch "
            f"{state.epoch} is saved in {run_dir}: start every worker again with edge-fer train --resume {run_dir}"
        ) from exc
    if state.status == "running":
        early = counters["early_stopping"].stopped_epoch > 0
        state.status = "early-stopped" if early else "finished"
        state.save(out_dir)
        if chief and _recalibration_pending(cfg, state):
            _recalibrate_best(run_dir, state, cfg, train_set, val_set)
    wall_s = time.monotonic() - started
    if not chief:
        remove_write_dir(run_dir, strategy)
        return TrainResult(run_dir, state.status, state.epoch, state.best, summarize(run_dir, state, cfg, meta, wall_s))
    summary = write_summary(run_dir, state, cfg, meta, wall_s)
    return TrainResult(run_dir, state.status, state.epoch, state.best, summary)


def _save_interrupted(state: Any, out_dir: Path) -> None:
    """Mark a run stopped mid-epoch "interrupted" in its last committed state (the one on disk: the state in
    memory may be half-way through an epoch's end), whose checkpoint stays the one to resume from."""
    from edge_fer.training.checkpoint import STATE_FILE, RunState

    state.status = "interrupted"
    if (out_dir / STATE_FILE).is_file():
        committed = RunState.load(out_dir)
        committed.status = "interrupted"
        committed.save(out_dir)


def _partial_files(run_dir: Path) -> list[Path]:
    """Temporary files (atomic_path's ``.name.part.ext``) left in the run folder, not in workers' folders."""
    from edge_fer.training.distribute import WORKER_TEMP_PREFIX

    return [
        p
        for p in run_dir.rglob(".*.part.*")
        if not any(part.startswith(WORKER_TEMP_PREFIX) for part in p.relative_to(run_dir).parts)
    ]


def _check_teacher(run_dir: Path, state: Any, teacher: str, chief: bool) -> None:
    """Record the teacher's SHA-256 on a run's first session; refuse a resumed run whose teacher file changed
    since (e.g. a teacher at ``assets/edgefer-s.keras`` after a new model shipped there): its targets would
    differ from the epochs already trained. Raises DataError."""
    from edge_fer.digest import file_digest

    path = Path(teacher)
    if not path.is_file():
        raise DataError(f"--teacher {teacher}: no such model file (a resumed run reads it again from there)")
    digest = file_digest(path)
    if state.teacher_sha256 is None:
        state.teacher_sha256 = digest
        if chief:
            state.save(run_dir)
    elif digest != state.teacher_sha256:
        raise DataError(
            f"--teacher {teacher} is not the model this run started with (its SHA-256 changed); "
            "put that model back there, or start a new run"
        )


def _recalibration_pending(cfg: TrainConfig, state: Any) -> bool:
    return cfg.recalibrate_bn and bool(state.best) and "bn_recalibrated" not in state.best


def _recalibrate_best(run_dir: Path, state: Any, cfg: TrainConfig, train_set: Any, val_set: Any) -> ModelMeta:
    """Re-estimate the best model's BatchNorm statistics on clean training faces (edge_fer.training.recalibrate) and
    save it in place. Val accuracy before and after is recorded, not used to decide anything."""
    from edge_fer.metadata import read_meta, write_meta
    from edge_fer.training.checkpoint import BEST_MODEL
    from edge_fer.training.recalibrate import recalibrate_batchnorm
    from edge_fer.training.zoo import model_macs

    path = run_dir / BEST_MODEL
    core, _ = _load_training_model(path)

    def accuracy() -> float:
        faces = normalize_faces(val_set.x, cfg.normalize).astype("float32")[..., None]
        probs = core.predict(faces, batch_size=256, verbose=0)
        return float(np.mean(probs.argmax(axis=1) == val_set.y))

    before = accuracy()
    layers = recalibrate_batchnorm(core, normalize_faces(train_set.x, cfg.normalize), cfg.seed)
    after = accuracy() if layers else before
    meta = read_meta(path) or ModelMeta(  # the checkpoint's sidecar already counts params and MACs
        arch=cfg.arch,
        format="keras",
        preprocessing=preprocessing_spec(cfg.normalize),
        extra={"params": core.count_params(), "macs": model_macs(core)},
    )
    if layers:
        with atomic_path(path) as tmp:
            core.save(tmp)
        meta.extra.update({"bn_recalibrated": True, "val_accuracy_before_recalibration": before, "val_accuracy": after})
        write_meta(path, meta)
        log.info(
            "BatchNorm statistics of %d layers re-estimated on clean training faces: val %.4f -> %.4f",
            layers,
            before,
            after,
        )
    state.best.update(
        {
            "bn_recalibrated": bool(layers),
            "val_accuracy_before_recalibration": before,
            "val_accuracy_recalibrated": after,
        }
    )
    state.save(run_dir)
    return meta


def summarize(run_dir: Path, state: Any, cfg: TrainConfig, meta: ModelMeta, wall_s: float) -> dict[str, Any]:
    """The run so far as summary.json holds it."""
    import platform

    from edge_fer.training.distribute import get_strategy, worker_count

    val_acc = state.history.get("val_accuracy", [])
    strategy = get_strategy()
    return {
        "arch": cfg.arch,
        "status": state.status,
        "epochs_done": state.epoch,
        "epochs_planned": cfg.epochs,
        "params": meta.extra.get("params"),
        "macs": meta.extra.get("macs"),
        "best": state.best,
        "best_val_accuracy": max(val_acc) if val_acc else None,
        "seconds_per_epoch_median": float(np.median(state.epoch_seconds)) if state.epoch_seconds else None,
        "precision": cfg.precision,
        "precision_probe": getattr(state, "precision_probe", None),
        "train_seconds_total": float(np.sum(state.epoch_seconds)),
        "last_session_wall_s": wall_s,
        "machine": f"{platform.machine()} {platform.processor() or ''} x{os.cpu_count()}".strip(),
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": worker_count(strategy),
        "config": asdict(cfg),
        "best_model": str(run_dir / "best.keras"),
    }


def write_summary(run_dir: Path, state: Any, cfg: TrainConfig, meta: ModelMeta, wall_s: float) -> dict[str, Any]:
    """summary.json and curves.png for the run so far."""
    from edge_fer.training.plots import plot_curves

    summary = summarize(run_dir, state, cfg, meta, wall_s)
    write_json(run_dir / "summary.json", summary)
    if state.history:
        plot_curves(state.history, run_dir / "curves.png", title=f"{cfg.arch} on {Path(cfg.data).name}")
    return summary
