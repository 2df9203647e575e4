"""Keras -> ONNX through tf2onnx, and int8 ONNX (QDQ) through onnxruntime's static quantization.

Both start from the same frozen raw-pixel function as the TFLite export (input ``face``, (N, 48, 48, 1)
float32, dynamic batch; output ``probs``), and the int8 model calibrates on the same faces as TFLite's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.errors import EdgeFerError, ModelError
from edge_fer.export.calibration import Calibration
from edge_fer.export.formats import DEFAULT_OPSET
from edge_fer.export.graph import INPUT_NAME, OUTPUT_NAME, frozen_function, input_signature
from edge_fer.quiet import import_tensorflow, quiet_native

CALIB_BATCH = 32


def convert_onnx(model: Any, opset: int = DEFAULT_OPSET, frozen: Any = None) -> bytes:
    """The float32 ONNX model of ``model``, serialized (``frozen``: a :func:`frozen_function` to reuse).

    tf2onnx gets the frozen graph wrapped in a fresh tf.function: given the Keras call directly, it would
    turn tensors the model captured eagerly (Normalization's mean in seed001-vgg16) into extra inputs.
    """
    tf = import_tensorflow()
    import tf2onnx
    from tf2onnx import constants

    top = max(constants.OPSET_TO_IR_VERSION)
    if not 13 <= opset <= top:
        raise EdgeFerError(f"ONNX opset {opset} is not supported here; choose 13..{top} (default {DEFAULT_OPSET})")
    try:
        with quiet_native():
            frozen = frozen if frozen is not None else frozen_function(model)
            serve = tf.function(
                lambda face: {OUTPUT_NAME: tf.nest.flatten(frozen(face))[0]}, input_signature=input_signature()
            )
            proto, _ = tf2onnx.convert.from_function(serve, input_signature=input_signature(), opset=opset)
    except Exception as exc:  # tf2onnx raises whatever the failing handler raised
        raise ModelError(f"onnx: tf2onnx conversion failed ({type(exc).__name__}: {str(exc)[:300]})") from exc
    return proto.SerializeToString()


class _Reader:
    """onnxruntime CalibrationDataReader over our calibration faces (subclassed lazily: ORT imports late)."""

    def __init__(self, calib: Calibration, input_name: str):
        self._batches = iter(calib.batches(CALIB_BATCH))
        self._name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}


def quantize_onnx(float_model: bytes, calib: Calibration | None) -> bytes:
    """Static int8 QDQ quantization (signed activations and per-channel weights, S8S8) of a float ONNX model."""
    if calib is None or len(calib) == 0:
        raise EdgeFerError("onnx-int8 needs representative faces to calibrate: pass --data DIR")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = type("FaceReader", (_Reader, CalibrationDataReader), {})(calib, INPUT_NAME)
    with tempfile.TemporaryDirectory(prefix="edge-fer-onnx-") as tmp:
        src, pre, dst = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(float_model)
        try:
            with quiet_native():
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
                quantize_static(
                    str(pre),
                    str(dst),
                    reader,
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                )
        except Exception as exc:  # onnxruntime.quantization raises plain exceptions
            raise ModelError(f"onnx-int8: quantization failed ({type(exc).__name__}: {str(exc)[:300]})") from exc
        return dst.read_bytes()


def onnx_facts(model_bytes: bytes) -> dict[str, Any]:
    """Opset, I/O types and quantize-node count of a serialized ONNX model, for its metadata and tests."""
    import onnx

    proto = onnx.load_from_string(model_bytes)
    elem = onnx.helper.tensor_dtype_to_np_dtype
    inp, out = proto.graph.input[0], proto.graph.output[0]
    ops = sorted({n.op_type for n in proto.graph.node})
    return {
        "opset": next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None),
        "input_name": inp.name,
        "input_dtype": np.dtype(elem(inp.type.tensor_type.elem_type)).name,
        "output_dtype": np.dtype(elem(out.type.tensor_type.elem_type)).name,
        "quantize_nodes": sum(1 for n in proto.graph.node if n.op_type == "QuantizeLinear"),
        "ops": ops,
    }
