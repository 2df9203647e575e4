"""``edge-fer explain``: where a model looks. Vanilla-gradient saliency and Grad-CAM, one figure per image.

Saliency is the absolute gradient of the top class's probability with respect to the input pixels (the
report's figure: face | saliency map | face masked by the map). Grad-CAM weights the last convolutional
feature maps by their mean gradient and keeps the positive part, upsampled to 48x48. A face crop (a
small square image) is explained directly; anything larger is a photo: faces are detected and each one
is cut by the runtime's own recognizer (:meth:`edge_fer.recognizer.EmotionRecognizer.crops`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_fer.atomic import atomic_path
from edge_fer.errors import DataError, EdgeFerError, ModelError
from edge_fer.preprocessing import INPUT_SIZE, to_face_input

log = logging.getLogger(__name__)

METHODS = ("saliency", "gradcam")
#: A square image at most this many pixels a side is taken as one face crop; larger ones as photos.
MAX_CROP_SIDE = 128


@dataclass
class Explained:
    """One explained face: where it came from, what the model said, and the map (48x48, 0..1)."""

    image: str
    index: int
    box: list[int] | None
    label: str
    probability: float
    face: np.ndarray = field(repr=False)
    heatmap: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "face": self.index,
            "box": self.box,
            "label": self.label,
            "probability": round(self.probability, 4),
        }


def load_keras_model(path: str | Path) -> tuple[Any, list[str], Any]:
    """The Keras network, its labels and the runtime classifier wrapping it (via the backends' loader:
    clear errors for a wrong file)."""
    from edge_fer.backends import load_classifier

    path = Path(path)
    if path.suffix.lower() not in (".keras", ".h5"):
        raise ModelError(f"model {path}: explain and filters need gradients, so a .keras model (not {path.suffix})")
    clf = load_classifier(path, backend="keras")
    return clf.model, list(clf.meta.labels), clf


def _as_input(faces: np.ndarray) -> Any:
    import tensorflow as tf

    x = np.asarray(faces, np.float32)
    if x.ndim == 3:
        x = x[..., None]
    return tf.constant(x)


def _normalise(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to 0..1 by its own maximum (an all-zero map stays zero)."""
    top = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(top > 0, maps / np.maximum(top, 1e-12), 0.0).astype(np.float32)


def saliency(model: Any, faces: np.ndarray, target: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, 48, 48) float32 = |d p_top / d pixel| unnormalised, probabilities (N, classes))."""
    import tensorflow as tf

    x = _as_input(faces)
    with tf.GradientTape() as tape:
        tape.watch(x)
        probs = model(x, training=False)
        cls = tf.argmax(probs, axis=1) if target is None else tf.constant(target)
        score = tf.gather(probs, cls, axis=1, batch_dims=1)
    grads = tape.gradient(score, x)
    maps = tf.reduce_max(tf.abs(grads), axis=-1).numpy()
    return maps.astype(np.float32), probs.numpy()


def last_conv_layer(model: Any) -> str:
    """Name of the last layer with a spatial (4-D) output that still holds more than one pixel."""
    import keras

    skip = (
        keras.layers.InputLayer,
        keras.layers.Rescaling,
        keras.layers.Dropout,
        keras.layers.MaxPooling2D,
        keras.layers.AveragePooling2D,
    )
    best = None
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if isinstance(layer, skip) or shape is None or len(shape) != 4:
            continue
        if (shape[1] or 0) * (shape[2] or 0) > 1:
            best = layer.name
    if best is None:
        raise ModelError(f"model {model.name}: no convolutional layer, so no Grad-CAM (use --method saliency)")
    return best


def gradcam(
    model: Any, faces: np.ndarray, layer: str | None = None, target: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, 48, 48) in 0..1, probabilities): ReLU of the gradient-weighted feature maps of ``layer``."""
    import keras
    import tensorflow as tf

    name = layer or last_conv_layer(model)
    probe = keras.Model(model.input, [model.get_layer(name).output, model.output])
    x = _as_input(faces)
    with tf.GradientTape() as tape:
        fmaps, probs = probe(x, training=False)
        cls = tf.argmax(probs, axis=1) if target is None else tf.constant(target)
        score = tf.gather(probs, cls, axis=1, batch_dims=1)
    grads = tape.gradient(score, fmaps)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * fmaps, axis=-1)).numpy()
    up = np.stack([cv2.resize(c, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for c in cam])
    return _normalise(np.maximum(up, 0.0)), probs.numpy()


def explain_faces(model: Any, faces: np.ndarray, method: str = "saliency") -> tuple[np.ndarray, np.ndarray]:
    """Maps in 0..1 (N, 48, 48) and probabilities for (N, 48, 48) uint8 faces."""
    if method == "saliency":
        maps, probs = saliency(model, faces)
        # A light blur, as the report's figure: single-pixel gradients read as noise otherwise.
        maps = np.stack([cv2.GaussianBlur(m, (3, 3), 0) for m in maps]) if len(maps) else maps
        return _normalise(maps), probs
    if method == "gradcam":
        return gradcam(model, faces)
    raise EdgeFerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def is_face_crop(image: np.ndarray) -> bool:
    """A small square image is one face crop; anything else is a photo to detect faces in."""
    h, w = image.shape[:2]
    return h == w and h <= MAX_CROP_SIDE


def detect_faces(bgr: np.ndarray, classifier: Any = None) -> tuple[np.ndarray, list[list[int]]]:
    """Faces (N, 48, 48) uint8 in a photo and their boxes [x, y, w, h], found and cut (framed, turned upright)
    by the runtime's recognizer exactly as ``predict`` does, imported only when a photo comes."""
    from edge_fer.recognizer import EmotionRecognizer

    crops, boxes = EmotionRecognizer(model=classifier).crops(bgr)
    return crops[..., 0], [[int(v) for v in box] for box in boxes]


def faces_in_image(path: Path, classifier: Any = None) -> tuple[np.ndarray, list[list[int] | None]]:
    """(N, 48, 48) uint8 faces of one image file and their boxes (None for a crop)."""
    raw = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    img = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if img is None:
        raise DataError(f"{path}: no such image, or not a readable image file")
    if is_face_crop(img):
        return to_face_input(img)[None], [None]
    crops, boxes = detect_faces(img, classifier)
    return crops, list(boxes)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_explanations(items: list[Explained], method: str, path: Path, title: str = "") -> Path:
    """One row per face: the crop, its map (jet), and the crop masked by the map."""
    plt = _pyplot()
    rows = max(len(items), 1)
    fig, axes = plt.subplots(rows, 3, figsize=(7.5, 2.6 * rows), squeeze=False)
    names = {"saliency": "saliency map", "gradcam": "Grad-CAM"}
    for r, item in enumerate(items):
        face = item.face.astype(np.float32)
        # The map's top 5% shows the face at full brightness, the rest fades out with the map.
        top = float(np.percentile(item.heatmap, 95))
        masked = face * np.clip(item.heatmap / top, 0.0, 1.0) if top > 0 else np.zeros_like(face)
        panels = (
            (face, "gray", f"{item.label} {item.probability:.0%}" + (f"  face {item.index}" if item.box else "")),
            (item.heatmap, "jet", names[method]),
            (masked, "gray", "masked by the map"),
        )
        for ax, (img, cmap, text) in zip(axes[r], panels):
            vmax = 1.0 if img is item.heatmap else 255.0
            ax.imshow(img, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
            ax.set_title(text, fontsize=9)
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (2.6 * rows)) if title else None)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def explain_images(
    model_path: str | Path, images: list[str | Path], method: str = "saliency", out_dir: str | Path = "runs/explain"
) -> list[dict[str, Any]]:
    """Explain every face of every image; one PNG per image in ``out_dir``. Returns one record per face."""
    if method not in METHODS:
        raise EdgeFerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    model, labels, clf = load_keras_model(model_path)
    out = Path(out_dir)
    records: list[dict[str, Any]] = []
    for image in images:
        path = Path(image)
        faces, boxes = faces_in_image(path, clf)
        if len(faces) == 0:
            log.warning("%s: no face found", path)
            records.append({"image": str(path), "face": None, "png": None})
            continue
        maps, probs = explain_faces(model, faces, method)
        top = probs.argmax(axis=1)
        items = [
            Explained(str(path), i, boxes[i], labels[top[i]], float(probs[i, top[i]]), faces[i], maps[i])
            for i in range(len(faces))
        ]
        png = plot_explanations(items, method, out / f"{path.stem}_{method}.png", title=f"{path.name}: {method}")
        records.extend({**it.to_dict(), "png": str(png)} for it in items)
    return records
