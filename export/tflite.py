"""Keras -> TFLite: float32, float16, dynamic-range and full-integer int8, through tf.lite's converter.

The model is frozen into one concrete function taking (None, 48, 48, 1) float32 raw pixels (dynamic
batch), so the converter neither writes a SavedModel nor prints one, and Keras 3 variables become
constants it can quantize.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from edge_fer.errors import EdgeFerError, ModelError
from edge_fer.export.calibration import Calibration
from edge_fer.export.formats import ExportFormat
from edge_fer.export.graph import frozen_function
from edge_fer.quiet import import_tensorflow, quiet_native

#: Input/output tensor types a full-integer model may have (``--uint8``, ``--float-io``).
INT8_IO = ("int8", "uint8", "float32")


def _configure(converter: Any, fmt: ExportFormat, calib: Calibration | None, io_dtype: str) -> None:
    tf = import_tensorflow()
    if fmt.quantization == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt.quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif fmt.quantization == "int8":
        if calib is None or len(calib) == 0:
            raise EdgeFerError(f"{fmt.name} needs representative faces to calibrate: pass --data DIR")
        if io_dtype not in INT8_IO:
            raise EdgeFerError(f"int8 model input/output type {io_dtype!r}: choose one of {', '.join(INT8_IO)}")
        converter.representative_dataset = lambda: ([batch] for batch in calib.batches(1))
        # Only int8 kernels: conversion fails loudly instead of leaving float ops behind.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, io_dtype)
        converter.inference_output_type = getattr(tf, io_dtype)
    elif fmt.quantization != "dynamic-range":
        raise EdgeFerError(f"{fmt.name}: no TFLite conversion for {fmt.quantization}")


def convert_tflite(
    model: Any, fmt: ExportFormat, calib: Calibration | None = None, io_dtype: str = "int8", frozen: Any = None
) -> bytes:
    """The .tflite flatbuffer of ``model`` in format ``fmt`` (``frozen``: a :func:`frozen_function` to reuse)."""
    tf = import_tensorflow()
    frozen = frozen if frozen is not None else frozen_function(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    _configure(converter, fmt, calib, io_dtype)
    try:
        with quiet_native(), warnings.catch_warnings():
            # int8 I/O: "Statistics for quantized inputs were expected" - the calibrator measures them.
            warnings.simplefilter("ignore", UserWarning)
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError...
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ModelError(f"{fmt.name}: TFLite conversion failed ({first.strip()[:300]})") from exc


def tflite_facts(flatbuffer: bytes) -> dict[str, Any]:
    """Input/output dtypes, quantization and operators of a converted model, for its metadata and tests."""
    from edge_fer.backends import _interpreter_class

    interpreter_cls, _ = _interpreter_class()
    with quiet_native():
        interpreter = interpreter_cls(model_content=flatbuffer)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    ops = sorted({op["op_name"] for op in interpreter._get_ops_details()} - {"DELEGATE"})
    float_tensors = sum(1 for t in interpreter.get_tensor_details() if np.dtype(t["dtype"]) in (np.float32, np.float16))
    return {
        "input_dtype": np.dtype(inp["dtype"]).name,
        "output_dtype": np.dtype(out["dtype"]).name,
        "input_quantization": _quant(inp["quantization"]),
        "output_quantization": _quant(out["quantization"]),
        "ops": ops,
        "float_tensors": float_tensors,
    }


def _quant(q: tuple[float, int]) -> dict[str, float] | None:
    scale, zero = q
    return None if scale == 0 else {"scale": float(scale), "zero_point": int(zero)}
