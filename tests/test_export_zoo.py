"""Every architecture of the zoo exports: float TFLite and ONNX for all, int8 for the custom-Softmax seed000."""

from __future__ import annotations

import numpy as np
import pytest

from edge_fer.export import export_model
from edge_fer.training.zoo import create_model, list_models

ZOO = [pytest.param(n, marks=pytest.mark.slow) if n == "seed001-vgg16" else n for n in list_models()]


def _saved(name: str, folder):
    import keras

    keras.utils.set_random_seed(0)
    path = folder / f"{name}.keras"
    create_model(name).save(path)
    return path


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_exports_to_float_tflite_and_onnx(name, tiny_fer, tmp_path):
    path = _saved(name, tmp_path)
    result = export_model(
        path, "tflite-fp32,onnx", out_dir=tmp_path / "out", val=tiny_fer / "val", latency_runs=1, strict=False
    )
    assert [r.format for r in result.parity.rows] == ["tflite-fp32", "onnx"]
    for row in result.parity.rows:
        assert row.max_prob_diff is not None and row.max_prob_diff < 1e-4, (row.format, row.max_prob_diff)
        assert row.size_bytes > 0


def test_custom_softmax_model_exports_to_int8(tiny_fer, tmp_path):
    """seed000-baseline ends in the zoo's own Softmax layer (matmul + bias + softmax): it must go full integer."""
    path = _saved("seed000-baseline", tmp_path)
    result = export_model(
        path,
        "tflite-int8,onnx-int8",
        data=tiny_fer,
        out_dir=tmp_path / "out",
        calib_size=70,
        latency_runs=1,
        strict=False,
    )
    tflite, onnx = result.artifacts
    assert tflite.facts["input_dtype"] == "int8" and tflite.facts["output_dtype"] == "int8"
    assert tflite.facts["float_tensors"] == 0
    assert "SOFTMAX" in tflite.facts["ops"]
    assert onnx.facts["quantize_nodes"] > 0
    for row in result.parity.rows:
        assert row.max_prob_diff is not None and row.max_prob_diff < 0.1, (row.format, row.max_prob_diff)
        assert np.isfinite(row.latency_p50_ms)
