"""The zoo's custom layers. They live in :mod:`edge_fer.keras_layers` so the runtime's Keras backend can load
any zoo model without importing the training package; they are registered as ``edge_fer>Name``."""

from edge_fer.keras_layers import Softmax

__all__ = ["Softmax"]
