"""The one graph every format is converted from: raw-pixel faces in, class probabilities out.

Input ``face``: (None, 48, 48, 1) float32 gray pixels 0..255 (dynamic batch; the model scales them
itself); output ``probs``. TFLite converts its frozen form, tf2onnx the function itself.
"""

from __future__ import annotations

from typing import Any

from edge_fer.preprocessing import INPUT_SIZE
from edge_fer.quiet import import_tensorflow, quiet_native

INPUT_NAME = "face"
OUTPUT_NAME = "probs"


def input_signature() -> list[Any]:
    tf = import_tensorflow()
    return [tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 1), tf.float32, name=INPUT_NAME)]


def serving_function(model: Any) -> Any:
    """``model`` in inference mode (dropout off, BatchNorm on its moving statistics) as a tf.function."""
    tf = import_tensorflow()

    @tf.function(input_signature=input_signature())
    def serve(face):
        return {OUTPUT_NAME: model(face, training=False)}

    return serve


def frozen_function(model: Any) -> Any:
    """:func:`serving_function` with its variables folded into constants (Keras 3 variables otherwise stay
    resource reads the TFLite calibrator cannot run)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with quiet_native():
        return convert_variables_to_constants_v2(serving_function(model).get_concrete_function())
