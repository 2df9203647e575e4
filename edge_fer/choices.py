"""Names the runtime CLI offers as choices, kept free of heavy imports so the CLI starts fast."""

from __future__ import annotations

from enum import Enum


class Backend(str, Enum):
    """Emotion-classifier backend; ``auto`` picks by the model's suffix."""

    auto = "auto"
    tflite = "tflite"
    onnx = "onnx"
    keras = "keras"


class DetectorKind(str, Enum):
    """Face detector."""

    short = "short"  # BlazeFace short-range: faces within ~2 m (webcams, selfies); 128x128 input, fastest
    full = "full"  # BlazeFace full-range: faces within ~5 m, group photos; 192x192 input
    auto = "auto"  # both merged, full-range also on tiles of very big photos: for still images


class TTA(str, Enum):
    """Flip test-time averaging."""

    model = "model"  # the model's own policy from its metadata (none if it has none)
    none = "none"  # the bare model
    flip = "flip"  # always average with the mirrored face


class Engine(str, Enum):
    """Where an archive's videos are analysed (``predict --out DIR --engine``)."""

    local = "local"  # in this process, one after another
    ray = "ray"  # on Ray workers: a local Ray instance, or a cluster (--ray-address)
