"""Training on several devices or machines with ``tf.distribute``: which strategy, which worker writes where,
agreeing on when to stop, and two faults of Keras 3's ``fit`` worked around.

- Under ``TF_CONFIG`` every worker runs the same ``edge-fer train`` command and
  ``MultiWorkerMirroredStrategy`` keeps one replica per worker in step (gradients all-reduced every batch).
- On one machine with several GPUs (or several logical devices, as the tests configure on a CPU),
  ``MirroredStrategy`` runs one replica per device.
- Otherwise the default (no-op) strategy.

Keras' multi-worker convention for files: the chief writes the real run folder; every other worker writes the
same files to a temporary folder of its own (``<run>/workertemp_<index>``, as ``tf.keras``'
``distributed_file_utils`` named it) and removes it at the end. Every worker saves, as that convention has
it, so no worker skips a step of the epoch's end that the others take.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edge_fer.errors import EXIT_INTERRUPTED, EdgeFerError

WORKER_TEMP_PREFIX = "workertemp_"


class WorkerLostError(EdgeFerError):
    """Another worker of the cluster stopped answering mid-run; the last completed epoch is saved (exit 130,
    like an interrupted run: ``--resume`` continues it)."""

    exit_code = EXIT_INTERRUPTED


def lost_worker_errors() -> tuple[type[Exception], ...]:
    """What a collective operation raises when a peer died (connection reset, missed heartbeats, aborted)."""
    import tensorflow as tf

    return (
        tf.errors.UnavailableError,
        tf.errors.DeadlineExceededError,
        tf.errors.AbortedError,
        tf.errors.CancelledError,
    )


def collective_error(exc: BaseException, limit: int = 120) -> str:
    """TensorFlow's reason for a failed collective, short: its first line without the ``{{function_node
    ...}}`` prefix (e.g. "Collective ops is aborted by: recvmsg:Connection reset by peer")."""
    text = re.sub(r"\{\{[^}]*\}\}", "", str(exc)).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit].rstrip() + " [...]"


def replica_devices() -> list[str]:
    """The devices ``MirroredStrategy`` should span: every GPU when there are several; on a machine without a
    GPU, every logical CPU device when the CPU was split into several (the tests do that); else none."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return devices if len(devices) > 1 else []


@functools.cache
def get_strategy() -> Any:
    """MultiWorkerMirroredStrategy under TF_CONFIG, MirroredStrategy on several devices, else the default.

    One per process (cached): a multi-worker strategy joins its cluster once, and must be created before
    TensorFlow runs any operation, so a run asks for it before loading a model."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = replica_devices()
    if devices:
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def is_distributed(strategy: Any) -> bool:
    """True for a mirrored strategy (several devices or workers), False for the default one."""
    import tensorflow as tf

    return isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy))


def task(strategy: Any) -> tuple[str | None, int]:
    """(task type, index) of this process in its cluster; (None, 0) outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def worker_count(strategy: Any) -> int:
    """How many worker processes train together (1 outside a multi-worker cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker")) or 1


def is_chief(strategy: Any) -> bool:
    """The chief: the "chief" task when the cluster names one, else worker 0 (as Keras decides)."""
    kind, index = task(strategy)
    if kind is None:
        return True
    if kind == "chief":
        return True
    if kind == "worker" and index == 0:
        spec = strategy.cluster_resolver.cluster_spec().as_dict()
        return "chief" not in spec
    return False


def write_dir(run_dir: Path, strategy: Any) -> Path:
    """Where this worker writes its run files: the run folder for the chief, a temporary folder of its own
    inside it for any other worker (removed by :func:`remove_write_dir`)."""
    if is_chief(strategy):
        return run_dir
    _, index = task(strategy)
    return run_dir / f"{WORKER_TEMP_PREFIX}{index}"


def remove_write_dir(run_dir: Path, strategy: Any) -> None:
    """Remove a non-chief worker's temporary folder (nothing for the chief)."""
    path = write_dir(run_dir, strategy)
    if path != run_dir:
        shutil.rmtree(path, ignore_errors=True)


def agree(strategy: Any, flag: bool) -> bool:
    """True on every worker when it is True on any: stop decisions (time budget, Ctrl-C) taken on one worker's
    clock must be taken by all, or the others would wait forever for a batch that never comes."""
    if worker_count(strategy) <= 1:
        return flag
    import tensorflow as tf

    votes = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
    return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None).numpy() > 0)


def chief_choice(strategy: Any, value: str, options: Sequence[str]) -> str:
    """The chief's ``value`` on every worker (``value`` is one of ``options``): a choice each worker makes
    by measuring, such as the training precision, must be one choice, or their steps would not match."""
    if worker_count(strategy) <= 1:
        return value
    import tensorflow as tf

    mine = float(options.index(value)) if is_chief(strategy) else 0.0
    votes = strategy.run(lambda: tf.constant(mine))
    return options[int(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None).numpy())]


def barrier(strategy: Any) -> None:
    """Wait until every worker gets here (a collective no-op; nothing to wait for on one worker)."""
    agree(strategy, False)


@contextlib.contextmanager
def keras_fit_fixes(model: Any, strategy: Any, element_spec: Any) -> Iterator[None]:
    """Work around two faults of Keras 3's ``fit`` under a tf.distribute strategy (keras-team/keras#20585,
    open; seen with Keras 3.15 and TensorFlow 2.21), for the duration of the block:

    1. Before the first step, ``fit``/``evaluate`` take a batch from the distributed dataset and all-reduce
       it (``strategy.reduce`` on the (x, y) pair) only to learn its shapes; with several workers that fails
       ("Attempt to convert a value (PerReplica...) to a Tensor"). The shapes are known without data: the
       dataset's ``element_spec`` (``tf.TensorSpec`` has the ``.shape`` and ``.dtype`` Keras reads).
    2. Each step's logs (scalar loss and metrics) are averaged over workers with ``strategy.reduce("MEAN",
       value, axis=0)``, which fails on a scalar ("Invalid reduction dimension 0 for input with 0
       dimensions"); a scalar is averaged over workers with ``axis=None`` here.
    """
    from keras.src.backend.tensorflow import trainer

    build = getattr(model, "_maybe_symbolic_build", None)
    original_reduce = getattr(trainer, "reduce_per_replica", None)
    if not is_distributed(strategy) or build is None or original_reduce is None:  # nothing to fix, or a new Keras
        yield
        return

    def build_from_spec(iterator: Any = None, data_batch: Any = None) -> None:
        build(data_batch=element_spec)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or worker_count(strategy) <= 1:
            return original_reduce(values, strategy, reduction)
        import tensorflow as tf

        def mean(value: Any) -> Any:
            rank = strategy.experimental_local_results(value)[0].shape.rank
            return strategy.reduce("MEAN", value, axis=0 if rank else None)

        return tf.nest.map_structure(mean, values)

    model._maybe_symbolic_build = build_from_spec
    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build
