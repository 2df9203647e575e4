"""Multiply-accumulates per face, counted from the layers' shapes (what edge latency scales with)."""

from __future__ import annotations

import math

import keras
from keras import layers

from edge_fer.training.zoo.layers import Softmax


def _out_hw(layer) -> int:
    shape = layer.output.shape
    return int(shape[1]) * int(shape[2])


def _layer_macs(layer) -> int:
    if isinstance(layer, keras.Model):
        return model_macs(layer)
    if isinstance(layer, layers.DepthwiseConv2D):
        k = math.prod(layer.kernel_size)
        return _out_hw(layer) * k * int(layer.input.shape[-1]) * layer.depth_multiplier
    if isinstance(layer, layers.SeparableConv2D):
        k = math.prod(layer.kernel_size)
        cin = int(layer.input.shape[-1])
        return _out_hw(layer) * (k * cin * layer.depth_multiplier + cin * layer.depth_multiplier * layer.filters)
    if isinstance(layer, layers.Conv2D):
        k = math.prod(layer.kernel_size)
        return _out_hw(layer) * k * int(layer.input.shape[-1]) * layer.filters // layer.groups
    if isinstance(layer, layers.Dense):
        return int(layer.input.shape[-1]) * layer.units
    if isinstance(layer, Softmax):
        return int(layer.input.shape[-1]) * layer.units
    return 0


def model_macs(model: keras.Model) -> int:
    """Sum of conv and dense multiply-accumulates for one 48x48 face."""
    return sum(_layer_macs(layer) for layer in model.layers)
