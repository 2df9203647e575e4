"""Choosing the training dtype policy by measurement: float32 against the mixed policy the hardware offers.

Mixed bfloat16 pays off on CPUs with bf16 matrix units (Intel AMX, AVX-512 BF16: 1.4-1.8x per step measured
on edgefer-s on the project's Xeon machines) and mixed float16 on GPUs with tensor cores; on other CPUs it
is emulated and slower, and XLA jit was slower on every CPU tried. So ``precision=auto`` times a few training
steps of the run's own network and batch under each candidate and keeps the fastest.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
#: Steps timed per candidate in each round, after one warm-up step that builds the graph; rounds alternate
#: the candidates and each keeps its fastest round, so a burst of other work on a shared machine does not
#: decide the choice.
PROBE_STEPS = 3
PROBE_ROUNDS = 3
#: A mixed policy must beat float32 by this factor to be chosen (timing noise on a shared machine).
MIN_SPEEDUP = 1.1
#: Runs with fewer training steps in all stay in float32 unprobed: the probe (~10-30 s) would not pay off.
MIN_STEPS_TO_PROBE = 500


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def candidates() -> list[str]:
    """float32 plus the mixed policy this machine has hardware for: mixed_float16 on a GPU, mixed_bfloat16 on a
    CPU with AVX-512 BF16 or AMX."""
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return ["float32", "mixed_float16"]
    flags = cpu_flags()
    if flags & {"avx512_bf16", "amx_bf16"}:
        return ["float32", "mixed_bfloat16"]
    return ["float32"]


def _probe_model(policy: str, arch: str, arch_kwargs: dict[str, Any], batch: int) -> Any:
    """A compiled model of ``arch`` under ``policy`` and one batch of noise faces, warmed up (graph built)."""
    import keras

    from edge_fer.training.zoo import create_model

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = create_model(arch, **arch_kwargs)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, *model.input_shape[1:])).astype("float32")
    y = np.eye(model.output_shape[-1], dtype="float32")[rng.integers(0, model.output_shape[-1], batch)]
    model.train_on_batch(x, y)
    return model, x, y


def _time_policies(policies: list[str], arch: str, arch_kwargs: dict[str, Any], batch: int) -> dict[str, float]:
    probes = {p: _probe_model(p, arch, arch_kwargs, batch) for p in policies}
    best = dict.fromkeys(policies, float("inf"))
    for _ in range(PROBE_ROUNDS):
        for policy, (model, x, y) in probes.items():
            started = time.perf_counter()
            for _ in range(PROBE_STEPS):
                model.train_on_batch(x, y)
            best[policy] = min(best[policy], (time.perf_counter() - started) * 1000.0 / PROBE_STEPS)
    return best


def choose_precision(
    arch: str, arch_kwargs: dict[str, Any], batch: int, total_steps: int | None = None
) -> dict[str, Any]:
    """Time each candidate policy and return ``{"precision", "ms_per_step": {policy: ms}, "speedup"}``;
    ``speedup`` is float32's time over the chosen one's (1.0 when float32 is kept). A run of fewer than
    :data:`MIN_STEPS_TO_PROBE` steps keeps float32 without probing."""
    if total_steps is not None and total_steps < MIN_STEPS_TO_PROBE:
        return {"precision": "float32", "ms_per_step": {}, "speedup": 1.0, "reason": "run too short to probe"}
    options = candidates()
    if options == ["float32"]:
        return {"precision": "float32", "ms_per_step": {}, "speedup": 1.0, "reason": "no bf16/fp16 hardware"}
    times = {p: round(ms, 1) for p, ms in _time_policies(options, arch, arch_kwargs, batch).items()}
    best = min(times, key=times.get)  # type: ignore[arg-type]
    speedup = times["float32"] / times[best]
    if best != "float32" and speedup < MIN_SPEEDUP:
        best, speedup = "float32", 1.0
    log.info("precision: %s (ms per step %s; %.2fx float32)", best, times, speedup)
    return {"precision": best, "ms_per_step": times, "speedup": round(speedup, 2)}


@contextlib.contextmanager
def restored_policy() -> Iterator[None]:
    """Put Keras' global dtype policy back as it was after the block: a run's mixed policy must not leak into
    whatever the process builds next (another run, an export, a test)."""
    import keras

    previous = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _float32_config(config: Any) -> Any:
    """``config`` with every layer's dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config.get("config", {}), "name": "float32"}}
        return {k: _float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    return config


def float32_model(model: Any) -> Any:
    """``model`` itself when it computes in float32, else a float32 copy with the same weights: what a mixed
    precision run saves as its best model, so export and every backend get an ordinary float32 network."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in model._flatten_layers()):
        return model
    copy = model.__class__.from_config(_float32_config(model.get_config()))
    copy.set_weights([np.asarray(keras.ops.convert_to_numpy(w), "float32") for w in model.weights])
    return copy
