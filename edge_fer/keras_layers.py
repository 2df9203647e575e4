"""Custom Keras layers of the zoo's networks, registered under a stable name (``edge_fer>Softmax``).

A saved ``.keras`` file finds its layers by that registered name, not by module path, so models saved when
this code lived in ``training.zoo.layers`` still load. Imported by :func:`edge_fer.quiet.import_tensorflow`.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="edge_fer")
class Softmax(keras.layers.Layer):
    """The seed000 report's own output layer: a trainable ``units`` x ``units`` matrix and bias, then softmax."""

    def __init__(self, units: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.w = self.add_weight(shape=(dim, self.units), initializer="glorot_uniform", name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return keras.ops.softmax(keras.ops.matmul(inputs, self.w) + self.b)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
