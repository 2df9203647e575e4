"""The runtime's per-face photometric normalization as a Keras layer, for the training model.

:func:`edge_fer.preprocessing.normalize_faces` (numpy, OpenCV) prepares faces for every backend at run time;
training needs the same operation inside the graph, after the augmentation layers (a brightness or gamma
change drawn by augmentation must be normalized away exactly as a dim camera frame is). The layer first
rounds to uint8 levels, as a camera delivers them, then reproduces the numpy result: ``equalize`` is
OpenCV's ``equalizeHist`` (same LUT, same rounding), ``equalize_center`` the same with the LUT from the face's
central square (:func:`edge_fer.preprocessing.equalize_from_center`), ``standardize`` the same float32 formula.
"""

from __future__ import annotations

from typing import Any

import keras

from edge_fer.preprocessing import FER2013_MEAN, FER2013_STD, NORMALIZERS, center_margin

_REGION = float(NORMALIZERS["equalize_center"]["region"])


@keras.saving.register_keras_serializable(package="edge_fer")
class FaceNormalization(keras.layers.Layer):
    """Per-face normalization of (B, H, W, 1) gray faces in 0..255; ``method`` a key of ``NORMALIZERS``,
    ``region`` the central share of the side that ``equalize_center`` takes its mapping from."""

    def __init__(
        self,
        method: str = "none",
        mean: float = FER2013_MEAN,
        std: float = FER2013_STD,
        region: float = _REGION,
        **kwargs: Any,
    ):
        kwargs.setdefault("dtype", "float32")  # histogram and LUT in float32 even under mixed precision
        super().__init__(**kwargs)
        if method not in NORMALIZERS:
            raise ValueError(f"unknown normalization {method!r}; choose one of {', '.join(NORMALIZERS)}")
        self.method, self.mean, self.std, self.region = method, float(mean), float(std), float(region)

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        if self.method == "none":
            return x
        x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
        shape = tf.shape(x)
        flat = tf.reshape(x, [shape[0], -1])
        if self.method == "standardize":
            mean = tf.reduce_mean(flat, axis=1, keepdims=True)
            std = tf.math.reduce_std(flat, axis=1, keepdims=True)
            out = (flat - mean) * (self.std / tf.maximum(std, 1.0)) + self.mean
            return tf.reshape(tf.clip_by_value(tf.round(out), 0.0, 255.0), shape)
        levels = tf.cast(flat, tf.int32)
        counted = levels  # the pixels whose histogram makes the mapping
        if self.method == "equalize_center":
            h, w = int(inputs.shape[1]), int(inputs.shape[2])
            m = center_margin(min(h, w), self.region)
            counted = tf.reshape(tf.cast(x[:, m : h - m, m : w - m], tf.int32), [shape[0], -1])
        hist = tf.math.bincount(counted, minlength=256, maxlength=256, axis=-1, dtype=tf.float32)  # (B, 256)
        cdf = tf.cumsum(hist, axis=1)
        total = tf.cast(tf.shape(counted)[1], tf.float32)
        first = tf.argmax(tf.cast(hist > 0, tf.int32), axis=1)  # lowest level present
        first_count = tf.gather(hist, first, batch_dims=1)[:, None]
        spread = total - first_count
        scale = 255.0 / tf.maximum(spread, 1.0)
        lut = tf.clip_by_value(tf.round((cdf - first_count) * scale), 0.0, 255.0)
        out = tf.gather(lut, levels, batch_dims=1)
        # A face of one gray level stays as it is (OpenCV's rule).
        out = tf.where(spread[:, :1] > 0, out, flat)
        return tf.reshape(out, shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        extra = {"method": self.method, "mean": self.mean, "std": self.std, "region": self.region}
        return {**super().get_config(), **extra}
