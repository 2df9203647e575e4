"""Small runtime models made from the ``trained_keras`` fixture: TFLite float32, TFLite int8 and ONNX,
each with its sidecar metadata. Converted once per test session (cached by the Keras path), whichever
runtime test file asks first."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np

from edge_fer.labels import LABELS
from edge_fer.metadata import ModelMeta, read_meta, write_meta
from edge_fer.preprocessing import normalization_of, normalize_faces


def synthetic_faces(n_per_label: int = 4, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(N, 48, 48, 1) uint8 faces of the pattern the fixture model learned, and their labels."""
    from conftest import synthetic_face

    rng = np.random.default_rng(seed)
    faces, labels = [], []
    for i in range(len(LABELS)):
        for _ in range(n_per_label):
            faces.append(synthetic_face(i, rng))
            labels.append(i)
    return np.stack(faces)[..., None], np.array(labels)


@functools.cache
def converted(keras_path: str) -> dict[str, Path]:
    """``{"keras", "tflite", "tflite_int8", "onnx"}`` model paths (ONNX only where tf2onnx is installed)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    from edge_fer.quiet import import_tensorflow

    src = Path(keras_path)
    out = src.parent / "runtime_models"
    out.mkdir(exist_ok=True)
    import_tensorflow()
    model = keras.models.load_model(src, compile=False)
    paths = {"keras": out / "model.keras"}
    shutil.copy(src, paths["keras"])
    shutil.copy(src.with_suffix(".json"), out / "model.json")

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    paths["tflite"] = out / "model_f32.tflite"
    paths["tflite"].write_bytes(conv.convert())

    prep = (read_meta(src) or ModelMeta()).preprocessing  # the normalization the model was trained with
    faces, _ = synthetic_faces(6, seed=3)
    faces = normalize_faces(faces, normalization_of(prep))

    def representative():
        for face in faces:
            yield [face[None].astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    paths["tflite_int8"] = out / "model_int8.tflite"
    paths["tflite_int8"].write_bytes(conv.convert())
    for key in ("tflite", "tflite_int8"):
        write_meta(paths[key], ModelMeta(format="tflite", preprocessing=prep))

    try:
        import tf2onnx
    except ImportError:
        return paths

    @tf.function(input_signature=[tf.TensorSpec((None, 48, 48, 1), tf.float32, name="faces")])
    def forward(x):
        return model(x, training=False)

    paths["onnx"] = out / "model.onnx"
    tf2onnx.convert.from_function(
        forward, input_signature=forward.input_signature, opset=13, output_path=str(paths["onnx"])
    )
    write_meta(paths["onnx"], ModelMeta(format="onnx", preprocessing=prep))
    return paths


def write_video(path: Path, n: int = 12, size: tuple[int, int] = (160, 120), value: int = 90) -> Path:
    """A short mp4 of flat gray frames with a little noise (no faces), ``size`` = (w, h)."""
    import cv2

    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, size)
    assert writer.isOpened()
    for _ in range(n):
        noise = rng.integers(-8, 9, (size[1], size[0], 3))
        writer.write(np.clip(value + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path


class FixedDetector:
    """A stand-in detector returning the same boxes (x, y, w, h, score) for every frame."""

    def __init__(self, boxes: list[tuple[float, float, float, float]] | np.ndarray, score: float = 0.9):
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.dets = np.concatenate([b, np.full((len(b), 1), score, np.float32)], axis=1)
        self.calls = 0

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.dets.copy()
