"""The export stage: a trained .keras model to TFLite (fp32, fp16, dynamic-range, int8) and ONNX (float, int8 QDQ).

Every artifact carries its metadata (labels, input, preprocessing, quantization, flip policy) inside
itself and in a sidecar JSON, and is checked against the Keras model by the parity report. Names load
lazily, and TensorFlow only when a conversion runs, so the CLI's ``--help`` stays fast.

>>> from edge_fer.export import export_model
>>> result = export_model("runs/train/best.keras", ["tflite-int8", "onnx"], data="fer2013/")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Artifact": "edge_fer.export.exporter",
    "ExportResult": "edge_fer.export.exporter",
    "export_model": "edge_fer.export.exporter",
    "FORMATS": "edge_fer.export.formats",
    "ExportFormat": "edge_fer.export.formats",
    "get_format": "edge_fer.export.formats",
    "parse_formats": "edge_fer.export.formats",
    "ParityError": "edge_fer.export.parity",
    "ParityReport": "edge_fer.export.parity",
    "embed_meta": "edge_fer.export.embed",
    "embed_sidecar": "edge_fer.export.embed",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
