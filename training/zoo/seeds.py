"""The networks of the research reports edge-fer grew from, exactly as they wrote them (48x48x1 input)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from edge_fer.training.zoo.common import pixel_input
from edge_fer.training.zoo.layers import Softmax
from edge_fer.training.zoo.registry import register

log = logging.getLogger(__name__)


def _conv_stack(x, plan: Sequence[tuple[int, float]], kernel: int = 3):
    """Each (filters, dropout): 'valid' conv + relu, 2x2 max-pool, dropout."""
    for filters, drop in plan:
        x = layers.Conv2D(filters, kernel, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(drop)(x)
    return x


def _dense_stack(x, plan: Sequence[tuple[int, float]], activation: str = "relu"):
    for units, drop in plan:
        x = layers.Dense(units, activation=activation)(x)
        x = layers.Dropout(drop)(x)
    return x


@register("seed000-baseline", "report 0 baseline: 2 convs (128, 256), dense 512, custom Softmax layer")
def seed000_baseline(num_classes: int = 7) -> keras.Model:
    inputs, x = pixel_input()
    x = _conv_stack(x, [(128, 0.1), (256, 0.4)])
    x = _dense_stack(layers.Flatten()(x), [(512, 0.3)])
    x = layers.Dense(num_classes)(x)
    return keras.Model(inputs, Softmax(num_classes, name="softmax")(x))


@register("seed000-deep", "report 0 deep: 4 convs (128-512), dense 512-256, custom Softmax layer")
def seed000_deep(num_classes: int = 7) -> keras.Model:
    inputs, x = pixel_input()
    x = _conv_stack(x, [(128, 0.4), (256, 0.4), (512, 0.4), (512, 0.4)])
    x = _dense_stack(layers.Flatten()(x), [(512, 0.4), (256, 0.3)])
    x = layers.Dense(num_classes)(x)
    return keras.Model(inputs, Softmax(num_classes, name="softmax")(x))


@register("seed004-cnn", "report 4 CNN: 3 convs of 64, dense 512 relu + 256 sigmoid")
def seed004_cnn(num_classes: int = 7) -> keras.Model:
    inputs, x = pixel_input()
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Dropout(0.25)(layers.MaxPooling2D()(x))
    x = _conv_stack(x, [(64, 0.25)])
    x = layers.Flatten()(x)
    x = _dense_stack(x, [(512, 0.48)])
    x = _dense_stack(x, [(256, 0.48)], activation="sigmoid")
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@register("seed004-dnn", "report 4 DNN: dense 1024-512-512, the CNN's parameter-matched peer")
def seed004_dnn(num_classes: int = 7) -> keras.Model:
    inputs, x = pixel_input()
    x = _dense_stack(layers.Flatten()(x), [(1024, 0.25), (512, 0.25), (512, 0.25)])
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@register("seed003-mlp", "report 3 MLP: one hidden dense layer of 128")
def seed003_mlp(num_classes: int = 7) -> keras.Model:
    inputs, x = pixel_input()
    x = layers.Dense(128, activation="relu")(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@register("seed001-cnn", "report 1 CNN: 2x conv32 5x5, 2x conv64 3x3 ('same'), dense 256")
def seed001_cnn(num_classes: int = 7) -> keras.Model:
    inputs, x = pixel_input()
    for filters, kernel in ((32, 5), (64, 3)):
        x = layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dense(256, activation="relu")(layers.Flatten()(x))
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@register(
    "seed001-vgg16",
    "report 1 transfer: VGG16 conv base (gray -> 3 channels), fine-tuned end to end; Flatten + Dense head",
    learning_rate=1e-4,
)
def seed001_vgg16(num_classes: int = 7, weights: str | None = None, size: int = 48) -> keras.Model:
    """``weights``: a local ImageNet ``*_notop.h5`` file; none means training from scratch."""
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"VGG16 weights file {weights} not found; give a local *_notop.h5 file")
    if weights is None:
        log.warning("seed001-vgg16: no ImageNet weights file given (--weights); training VGG16 from scratch")
    inputs = keras.Input((48, 48, 1), name="face")
    x = layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])
    if size != 48:
        x = layers.Resizing(size, size, name="upscale")(x)
    # VGG16's own "caffe" input: BGR with the ImageNet channel means removed (gray makes the order moot).
    x = layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0], name="imagenet_mean")(x)
    base = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(size, size, 3))
    base.trainable = True
    x = layers.Flatten()(base(x))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


# The seed002 report's configurable family and its six named configurations.
SEED002_GRID: dict[str, dict] = {
    "seed002-c1": {"filters": 32, "conv_layers": 2, "kernel": 3, "dense": 512},
    "seed002-c2": {"filters": 32, "conv_layers": 3, "kernel": 3, "dense": 512},
    "seed002-c3": {"filters": 32, "conv_layers": 4, "kernel": 3, "dense": 1024},
    "seed002-c4": {"filters": 64, "conv_layers": 2, "kernel": 4, "dense": 512},
    "seed002-c5": {"filters": 64, "conv_layers": 3, "kernel": 4, "dense": 1024},
    "seed002-c6": {"filters": 64, "conv_layers": 4, "kernel": 3, "dense": 1024},
}


def seed002_grid(
    num_classes: int = 7,
    filters: int = 32,
    conv_layers: int = 3,
    kernel: int = 3,
    dense: int = 512,
    l2: float = 1e-4,
    dropout: float = 0.5,
    seed: int = 0,
) -> keras.Model:
    """Report 2's family: filters doubling each conv layer, one dense layer, L2, dropout, N(0, 0.1) init."""
    if filters not in (32, 64) or not 2 <= conv_layers <= 4 or kernel not in (3, 4) or not 512 <= dense <= 1024:
        raise ValueError("seed002-grid: filters 32|64, conv_layers 2-4, kernel 3|4, dense 512-1024")
    reg = keras.regularizers.L2(l2)

    def init(i: int) -> keras.initializers.Initializer:
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.1, seed=seed + i)

    inputs, x = pixel_input()
    for i in range(conv_layers):
        x = layers.Conv2D(
            filters * 2**i, kernel, activation="relu", kernel_initializer=init(i), kernel_regularizer=reg
        )(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, activation="relu", kernel_initializer=init(10), kernel_regularizer=reg)(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(num_classes, activation="softmax", kernel_initializer=init(11))(x)
    return keras.Model(inputs, out)


register("seed002-grid", "report 2 configurable CNN family (filters, conv_layers, kernel, dense, l2, dropout)")(
    seed002_grid
)
for _name, _cfg in SEED002_GRID.items():
    _desc = (
        f"report 2 config: {_cfg['conv_layers']} convs from {_cfg['filters']} filters, "
        f"kernel {_cfg['kernel']}, dense {_cfg['dense']}"
    )
    register(_name, _desc, **_cfg)(seed002_grid)
