"""Training-stream augmentation from Keras preprocessing layers, each part configurable or off.

The layers sit in front of the network in the *training* model only (they act when training=True),
so their random-seed state is saved with every checkpoint and a resumed run draws the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import numpy as np
from keras import layers


@dataclass
class AugmentConfig:
    """Strengths of each augmentation; 0 (or False) turns that part off."""

    rotation_deg: float = 15.0
    zoom: float = 0.1
    shift: float = 0.1
    shear: float = 0.0
    flip: bool = True
    brightness: float = 0.1
    contrast: float = 0.1
    erasing: float = 0.25
    #: Largest gamma exponent g: each face gets gamma drawn log-uniformly in [1/g, g] (1 = off): a camera's
    #: tone curve, under- and over-exposure that a linear brightness change does not model.
    gamma: float = 2.2
    #: Largest Gaussian blur (0 = off): out-of-focus and upsampled small faces.
    blur: float = 0.5
    #: Standard deviation of additive Gaussian sensor noise, gray levels (0 = off).
    noise: float = 4.0
    #: Share of faces set, shrunk, on a flat gray canvas (0 = off): a crop cut wider than FER2013's, or at a
    #: frame's edge, as the runtime's can be (see :class:`RandomCanvas`; measured in docs/experiments.md).
    canvas: float = 0.0

    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        """``ours`` (default), ``report`` (rotation 30, zoom .15, shift .2, shear .15, flip) or ``none``."""
        if name == "ours":
            return cls()
        if name == "report":
            return cls(rotation_deg=30, zoom=0.15, shift=0.2, shear=0.15, flip=True, **cls.photometric_off())
        if name == "none":
            return cls(rotation_deg=0, zoom=0, shift=0, shear=0, flip=False, **cls.photometric_off())
        raise ValueError(f"unknown augmentation preset {name!r}; choose ours, report or none")

    @staticmethod
    def photometric_off() -> dict[str, float]:
        """The photometric parts and the canvas switched off (also what a run saved before they existed gets)."""
        return {"brightness": 0, "contrast": 0, "erasing": 0, "gamma": 1.0, "blur": 0, "noise": 0, "canvas": 0}

    def to_dict(self) -> dict:
        return asdict(self)


@keras.saving.register_keras_serializable(package="edge_fer")
class RandomGamma(keras.layers.Layer):
    """Gamma curve ``255 * (x / 255) ** g`` per image, ``g`` log-uniform in [1/max_gamma, max_gamma];
    identity at inference. Keras has no gamma layer (RandomBrightness and RandomContrast are linear)."""

    def __init__(self, max_gamma: float = 2.2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_gamma, self.seed = float(max_gamma), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.max_gamma <= 1.0:
            return inputs
        ops = keras.ops
        batch = ops.shape(inputs)[0]
        log_g = keras.random.uniform((batch, 1, 1, 1), -1.0, 1.0, seed=self.seed_generator) * float(
            np.log(self.max_gamma)
        )
        x = ops.clip(ops.cast(inputs, "float32") / 255.0, 0.0, 1.0)
        return ops.cast(255.0 * ops.power(x, ops.exp(log_g)), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_gamma": self.max_gamma, "seed": self.seed}


@keras.saving.register_keras_serializable(package="edge_fer")
class RandomCanvas(keras.layers.Layer):
    """A share ``rate`` of the faces shrunk to 1/s of their side (s uniform in [1, ``max_scale``], one per
    batch; INTER_AREA-like area resampling) and set at a random place (one per batch) on a canvas of one
    random gray level per face; identity at inference.

    Why: the runtime cuts a face ``scale`` times the detector's box (``edge_fer.preprocessing``), which is up
    to ~20% wider than FER2013's own crop of that face (``benchmarks/framing.py``: 17-18% spread), and a face
    at the frame's edge gets its border repeated: both put flat bands around the face that FER2013's crops
    never have. Keras' RandomZoom fills a zoomed-out face by reflection or one fixed constant."""

    def __init__(self, rate: float = 0.25, max_scale: float = 1.3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.max_scale, self.seed = float(rate), float(max_scale), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_jit = False  # area resize and per-batch pad sizes do not compile under XLA (as RandomZoom)

    def call(self, inputs, training=None):
        if not training or self.rate <= 0:
            return inputs
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        batch, side = tf.shape(x)[0], int(inputs.shape[1])
        draws = keras.random.uniform((3,), seed=self.seed_generator)
        small = tf.cast(tf.round(side / (1.0 + draws[0] * (self.max_scale - 1.0))), tf.int32)
        small = tf.clip_by_value(small, 1, side)
        room = side - small
        top = tf.cast(tf.floor(draws[1] * tf.cast(room + 1, tf.float32)), tf.int32)
        left = tf.cast(tf.floor(draws[2] * tf.cast(room + 1, tf.float32)), tf.int32)
        shrunk = tf.image.resize(x, tf.stack([small, small]), method="area")
        placed = tf.pad(shrunk + 1.0, [[0, 0], [top, room - top], [left, room - left], [0, 0]])  # 0 = canvas
        level = keras.random.uniform((batch, 1, 1, 1), 0.0, 255.0, seed=self.seed_generator)
        canvas = tf.where(placed > 0, placed - 1.0, tf.round(level))
        pick = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < self.rate
        out = tf.where(pick, tf.reshape(canvas, tf.shape(x)), x)
        return tf.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "max_scale": self.max_scale, "seed": self.seed}


@keras.saving.register_keras_serializable(package="edge_fer")
class RandomNoise(keras.layers.Layer):
    """Additive Gaussian sensor noise of ``stddev`` gray levels, clipped to 0..255; identity at inference.
    (keras.layers.GaussianNoise takes only a standard deviation below 1, for inputs scaled to 0..1.)"""

    def __init__(self, stddev: float = 4.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = float(stddev), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.stddev <= 0:
            return inputs
        noise = keras.random.normal(keras.ops.shape(inputs), stddev=self.stddev, seed=self.seed_generator)
        return keras.ops.clip(inputs + keras.ops.cast(noise, inputs.dtype), 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


def build_augmenter(cfg: AugmentConfig, seed: int) -> list[keras.layers.Layer]:
    """The augmentation layers for ``cfg`` (raw 0..255 gray input), each seeded from ``seed``."""
    out: list[keras.layers.Layer] = []
    fill = {"fill_mode": "reflect"}
    if cfg.flip:
        out.append(layers.RandomFlip("horizontal", seed=seed, name="aug_flip"))
    if cfg.rotation_deg:
        out.append(layers.RandomRotation(cfg.rotation_deg / 360.0, seed=seed + 1, name="aug_rotate", **fill))
    if cfg.zoom:
        out.append(layers.RandomZoom(cfg.zoom, cfg.zoom, seed=seed + 2, name="aug_zoom", **fill))
    if cfg.shift:
        out.append(layers.RandomTranslation(cfg.shift, cfg.shift, seed=seed + 3, name="aug_shift", **fill))
    if cfg.shear:
        out.append(layers.RandomShear(cfg.shear, cfg.shear, seed=seed + 4, name="aug_shear", fill_mode="reflect"))
    if cfg.canvas:
        out.append(RandomCanvas(cfg.canvas, seed=seed + 11, name="aug_canvas"))
    if cfg.brightness:
        out.append(layers.RandomBrightness(cfg.brightness, value_range=(0, 255), seed=seed + 5, name="aug_bright"))
    if cfg.contrast:
        out.append(layers.RandomContrast(cfg.contrast, value_range=(0, 255), seed=seed + 6, name="aug_contrast"))
    if cfg.gamma > 1.0:
        out.append(RandomGamma(cfg.gamma, seed=seed + 8, name="aug_gamma"))
    if cfg.blur:
        out.append(layers.RandomGaussianBlur(cfg.blur, kernel_size=3, sigma=(0.1, 1.0), seed=seed + 9, name="aug_blur"))
    if cfg.noise:
        out.append(RandomNoise(cfg.noise, seed=seed + 10, name="aug_noise"))
    if cfg.erasing:
        out.append(
            layers.RandomErasing(
                factor=cfg.erasing, scale=(0.02, 0.15), value_range=(0, 255), seed=seed + 7, name="aug_erase"
            )
        )
    return out
