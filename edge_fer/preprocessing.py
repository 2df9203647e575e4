"""The one preprocessing path (crop -> gray -> resize -> scale) for training, export and runtime.

Training reads dataset images through :func:`to_face_input`; the runtime crops a detected face with
:func:`square_box` and sends it through the same function; exported models record :data:`SPEC` so a
runtime can refuse a model that expects anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Side of the square model input, in pixels.
INPUT_SIZE = 48
#: Models take raw gray pixel values 0..255 and scale them inside the graph (a Rescaling layer), so
#: every consumer feeds the same uint8 crop and int8 models get an exact input quantisation.
PIXEL_SCALE = 1.0 / 255.0
#: Margin added around a detected face box on each side, as a fraction of the box side.
DEFAULT_MARGIN = 0.1
#: What a model's metadata must say about its input for this runtime to feed it correctly.
SPEC: dict[str, object] = {
    "color": "gray",
    "size": INPUT_SIZE,
    "resize": "area",
    "input_range": [0, 255],
    "scaling": "in_model",
}


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return an 8-bit single-channel image from gray, BGR, BGRA, 16-bit or float input."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
        elif img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        else:
            raise ValueError(f"an image with {img.shape[2]} channels is not gray, BGR or BGRA")
    elif img.ndim != 2:
        raise ValueError(f"expected a 2-D or 3-D image array, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        top = 1.0 if float(np.nanmax(img, initial=0.0)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(img) * (255.0 / top), 0, 255).astype(np.uint8)
    return np.clip(img, 0, 255).astype(np.uint8)


def to_face_input(face: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A face crop (any size, any channels) as the model's ``size`` x ``size`` uint8 gray input."""
    gray = to_gray(face)
    if gray.shape != (size, size):
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return gray


def square_box(
    box: Sequence[float], frame_shape: Sequence[int], margin: float = DEFAULT_MARGIN
) -> tuple[int, int, int, int] | None:
    """Square crop ``(x0, y0, x1, y1)`` around ``box`` = (x, y, w, h), grown by ``margin``, clamped to
    the frame; None when nothing of it lies inside the frame."""
    frame_h, frame_w = int(frame_shape[0]), int(frame_shape[1])
    x, y, w, h = (float(v) for v in box)
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        return None
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    x1, y1 = round(cx + side / 2.0), round(cy + side / 2.0)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame_w), min(y1, frame_h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def crop_faces(
    frame: np.ndarray, boxes: Sequence[Sequence[float]], margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, list[int]]:
    """Model inputs for every box that overlaps the frame, as (N, 48, 48, 1) uint8, and their indices."""
    crops, kept = [], []
    for i, box in enumerate(boxes):
        sq = square_box(box, frame.shape, margin)
        if sq is None:
            continue
        x0, y0, x1, y1 = sq
        crops.append(to_face_input(frame[y0:y1, x0:x1]))
        kept.append(i)
    if not crops:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 1), np.uint8), kept
    return np.stack(crops)[..., None], kept
