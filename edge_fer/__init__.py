"""edge-fer: real-time facial emotion recognition on edge devices.

The runtime imports no TensorFlow: numpy, OpenCV and a TFLite interpreter (or onnxruntime) suffice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from edge_fer.images import load_image
    from edge_fer.recognizer import EmotionRecognizer, Face

__all__ = ["EmotionRecognizer", "Face", "__version__", "load_image"]


def __getattr__(name: str) -> Any:
    """Import the recognizer lazily so ``import edge_fer`` stays cheap."""
    if name in {"EmotionRecognizer", "Face"}:
        from edge_fer import recognizer

        return getattr(recognizer, name)
    if name == "load_image":
        from edge_fer.images import load_image

        return load_image
    raise AttributeError(name)
