"""Names the CLI offers as choices, kept free of TensorFlow imports so the CLI starts fast."""

from enum import Enum


class Optimizer(str, Enum):
    adam = "adam"
    nadam = "nadam"
    sgd = "sgd"
    rmsprop = "rmsprop"
    adadelta = "adadelta"
    ftrl = "ftrl"


class Schedule(str, Enum):
    constant = "constant"
    inverse_time = "inverse-time"
    cosine = "cosine"
    plateau = "plateau"


class Monitor(str, Enum):
    val_loss = "val_loss"
    val_accuracy = "val_accuracy"


class AugmentPreset(str, Enum):
    ours = "ours"
    report = "report"
    none = "none"
