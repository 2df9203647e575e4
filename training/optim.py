"""Optimizers and learning-rate schedules by name, from Keras."""

from __future__ import annotations

from typing import Any

import keras

from edge_fer.training.choices import Optimizer, Schedule

OPTIMIZERS = tuple(o.value for o in Optimizer)
SCHEDULES = tuple(s.value for s in Schedule)


def make_schedule(name: str, lr: float, steps_per_epoch: int, epochs: int, warmup_epochs: int = 0) -> Any:
    """A float or a Keras schedule; ``plateau`` is a constant here, lowered by ReduceLROnPlateau."""
    if name in ("constant", "plateau"):
        return lr
    if name == "inverse-time":
        # The report's schedule: 1/2 of the initial rate at epoch 10, 1/3 at epoch 20, ...
        return keras.optimizers.schedules.InverseTimeDecay(lr, 10 * steps_per_epoch, 1.0, staircase=True)
    if name == "cosine":
        warm = warmup_epochs * steps_per_epoch
        total = max(epochs * steps_per_epoch - warm, 1)
        if warm:
            return keras.optimizers.schedules.CosineDecay(0.0, total, warmup_target=lr, warmup_steps=warm)
        return keras.optimizers.schedules.CosineDecay(lr, total)
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def make_optimizer(name: str, learning_rate: Any, momentum: float = 0.9, weight_decay: float = 0.0) -> keras.Optimizer:
    """A Keras optimizer by name; ``momentum`` applies to sgd and rmsprop."""
    wd = {"weight_decay": weight_decay} if weight_decay else {}
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, **wd)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate, **wd)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=momentum > 0, **wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, momentum=momentum, **wd)
    if name == "adadelta":
        return keras.optimizers.Adadelta(learning_rate, **wd)
    if name == "ftrl":
        return keras.optimizers.Ftrl(learning_rate, **wd)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
