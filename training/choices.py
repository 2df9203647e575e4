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


class Normalization(str, Enum):
    """Per-face photometric normalizations (edge_fer.preprocessing.NORMALIZERS)."""

    equalize = "equalize"
    equalize_center = "equalize_center"
    standardize = "standardize"
    none = "none"


class Precision(str, Enum):
    """Training dtype policies (edge_fer.training.precision)."""

    auto = "auto"
    float32 = "float32"
    mixed_bfloat16 = "mixed_bfloat16"
    mixed_float16 = "mixed_float16"


#: Defaults of new training runs, read by TrainConfig and the CLI alike.
DEFAULT_NORMALIZE = Normalization.equalize.value
DEFAULT_PRECISION = Precision.auto.value
