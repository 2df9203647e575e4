"""Pieces every builder shares: the raw-pixel input with in-graph scaling."""

from __future__ import annotations

import keras

from edge_fer.preprocessing import PIXEL_SCALE
from edge_fer.training.zoo.registry import INPUT_SHAPE


def pixel_input() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The model input (raw gray pixels 0..255) and the same scaled to 0..1 inside the graph."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    return inputs, keras.layers.Rescaling(PIXEL_SCALE, name="scale")(inputs)
