"""Our own edge architectures, designed for accuracy per millisecond of int8 inference on one CPU thread.

Only ops that convert to full-integer TFLite: Conv2D, DepthwiseConv2D, BatchNorm (folded at export),
ReLU, max pooling, global average pooling, Dense, Softmax. Measured on the 2-core x86 dev machine, plain
3x3 convs at 48x48 with 24 channels beat depthwise-separable blocks in int8 latency per accuracy point,
and 32 channels at full resolution fall off a cliff in CPU training speed; hence the shapes below.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from edge_fer.training.zoo.common import pixel_input
from edge_fer.training.zoo.registry import register


def _conv_bn_relu(x, filters: int, separable: bool, name: str, bn_momentum: float = 0.99):
    if separable:
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_dw_bn")(x)
        x = layers.ReLU(name=f"{name}_dw_relu")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    else:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def edge_net(
    num_classes: int = 7,
    widths: Sequence[int] = (24, 48, 96, 192),
    depths: Sequence[int] = (2, 2, 3, 3),
    separable: Sequence[bool] = (False, False, False, False),
    dropout: float = 0.4,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """Stages of conv-BN-ReLU at 48, 24, 12 and 6 pixels, max-pool between, global average pool, dense."""
    inputs, x = pixel_input()
    for s, (width, depth, sep) in enumerate(zip(widths, depths, separable)):
        for b in range(depth):
            # The first conv of a stage stays plain: it changes the width, where depthwise saves little.
            x = _conv_bn_relu(x, width, sep and b > 0, name=f"s{s}b{b}", bn_momentum=bn_momentum)
        if s < len(widths) - 1:
            x = layers.MaxPooling2D(name=f"s{s}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="drop")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax", name="logits")(x))


register(
    "edgefer-s",
    "ours: 10 conv-BN-ReLU (24-48-96-192), GAP; ~90M MACs, int8 0.3-0.8 ms/face on one x86 thread",
)(edge_net)
register(
    "edgefer-xs",
    "ours, smaller: 32-64-128-256 with depthwise-separable convs after each stage's first; int8 ~0.55 ms",
    widths=(32, 64, 128, 256),
    depths=(2, 2, 2, 2),
    separable=(True, True, True, True),
    dropout=0.3,
)(edge_net)
