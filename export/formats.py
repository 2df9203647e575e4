"""The one table of export formats: CLI names, file names, help text and parity gates derive from it.

Add a format here and in the converter that :func:`edge_fer.export.exporter.convert` dispatches to; the CLI's
``--formats`` choices, its help, the sidecar's ``format`` field and the parity thresholds follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge_fer.errors import EdgeFerError


@dataclass(frozen=True)
class ExportFormat:
    """One artifact kind: how it is named, what it needs, and how close to Keras it must stay."""

    #: CLI name, also written to the sidecar's ``format`` field.
    name: str
    #: Runtime backend that loads it (:mod:`edge_fer.backends`).
    backend: str
    #: File suffix.
    suffix: str
    #: Appended to the model's stem: ``best`` -> ``best_int8.tflite``. Unique per format and never empty,
    #: because the sidecar JSON is named by stem (``best.json`` belongs to ``best.keras``).
    tag: str
    #: Numeric precision of weights and activations, for reports and metadata.
    quantization: str
    #: Needs representative training faces (``--data``) to calibrate activation ranges.
    calibrated: bool
    #: Parity gate: the export fails when the artifact's accuracy is more than this many points below
    #: the Keras model's...
    max_accuracy_drop: float
    #: ...or its top-1 agrees with Keras on fewer than this share of validation faces.
    min_agreement: float
    description: str

    def filename(self, stem: str) -> str:
        """``best`` -> ``best_int8.tflite``."""
        return f"{stem}{self.tag}{self.suffix}"

    def path(self, out_dir: Path, stem: str) -> Path:
        return Path(out_dir) / self.filename(stem)


#: Float formats should agree with Keras up to ties; quantized ones within the issue's budget
#: (at most 1.0 accuracy point lost, at least 97% top-1 agreement).
FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        "tflite-fp32", "tflite", ".tflite", "_fp32", "float32", False, 0.5, 0.99, "TFLite, float32 weights and math"
    ),
    ExportFormat(
        "tflite-fp16", "tflite", ".tflite", "_fp16", "float16", False, 0.5, 0.99, "TFLite, float16 weights (GPU)"
    ),
    ExportFormat(
        "tflite-dynamic",
        "tflite",
        ".tflite",
        "_dynamic",
        "dynamic-range",
        False,
        1.0,
        0.97,
        "TFLite, int8 weights, float activations",
    ),
    ExportFormat(
        "tflite-int8",
        "tflite",
        ".tflite",
        "_int8",
        "int8",
        True,
        1.0,
        0.97,
        "TFLite full integer: int8 ops, int8 I/O (uint8 or float on request); calibrated",
    ),
    ExportFormat("onnx", "onnx", ".onnx", "_onnx", "float32", False, 0.5, 0.99, "ONNX (tf2onnx), float32"),
    ExportFormat(
        "onnx-int8",
        "onnx",
        ".onnx",
        "_onnx_int8",
        "int8",
        True,
        1.0,
        0.97,
        "ONNX int8 QDQ (onnxruntime static quantization); calibrated",
    ),
)

BY_NAME: dict[str, ExportFormat] = {f.name: f for f in FORMATS}
NAMES: tuple[str, ...] = tuple(BY_NAME)

#: ONNX opset written by default: onnxruntime 1.17+ runs opset 17 fully; tf2onnx 1.17 writes up to 18.
DEFAULT_OPSET = 17
#: Representative training faces for int8 calibration: a few hundred cover FER's activation ranges.
DEFAULT_CALIB_SIZE = 300

#: Without ``--formats``: every format that needs no calibration data, plus tflite-int8 when there is data.
DEFAULT_FLOAT = ("tflite-fp32", "tflite-fp16", "tflite-dynamic", "onnx")
DEFAULT_WITH_DATA = (*DEFAULT_FLOAT, "tflite-int8")


def get_format(name: str) -> ExportFormat:
    """The format called ``name``; a one-line error listing the valid names otherwise."""
    try:
        return BY_NAME[name.strip().lower()]
    except KeyError:
        raise EdgeFerError(f"unknown export format {name!r}; choose from {', '.join(NAMES)} or 'all'") from None


def parse_formats(spec: str | Iterable[str] | None, int8: bool = False, have_data: bool = False) -> list[ExportFormat]:
    """Formats from a comma list or names ('all' for every one), ``--int8`` and the defaults, in table order.

    ``--int8`` alone means just tflite-int8; with ``--formats`` it adds tflite-int8 to them.
    """
    if isinstance(spec, str):
        names = [s for s in (p.strip() for p in spec.split(",")) if s]
    else:
        names = [s.strip() for s in spec or [] if s.strip()]
    if any(n.lower() == "all" for n in names):
        names = list(NAMES)
    if not names:
        names = ["tflite-int8"] if int8 else list(DEFAULT_WITH_DATA if have_data else DEFAULT_FLOAT)
    elif int8:
        names.append("tflite-int8")
    chosen = {get_format(n).name for n in names}
    return [f for f in FORMATS if f.name in chosen]


def help_text() -> str:
    """The ``--formats`` help, generated from the table."""
    rows = "; ".join(f"{f.name}: {f.description}" for f in FORMATS)
    return f"Comma list, or 'all'. {rows}. Default: {','.join(DEFAULT_FLOAT)}, plus tflite-int8 when --data is given."
