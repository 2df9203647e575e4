"""The one preprocessing path (crop -> gray -> resize -> scale) for training, export and runtime.

Training reads dataset images through :func:`to_face_input`; the runtime crops a detected face with
:func:`square_box` and sends it through the same function; exported models record :data:`SPEC` so a
runtime can refuse a model that expects anything else.
"""

from __future__ import annotations

import math
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


def to_uint8(image: np.ndarray) -> np.ndarray:
    """The same image as uint8: 16-bit keeps its high byte, float in [0, 1] or [0, 255] is scaled,
    other integers (and bool) are clipped to 0..255."""
    img = np.asarray(image)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(img.dtype, np.floating):
        img = np.nan_to_num(img.astype(np.float32, copy=False), nan=0.0, posinf=255.0, neginf=0.0)
        top = 1.0 if float(img.max(initial=0.0)) <= 1.0 else 255.0
        return np.clip(img * (255.0 / top), 0, 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        return np.clip(img, 0, 255).astype(np.uint8)
    raise ValueError(f"an image of dtype {img.dtype} is not a picture")


def _channels(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        raise ValueError(f"an image with {img.shape[2]} channels is not gray, BGR or BGRA")
    if img.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or 3-D image array, got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"an empty image (shape {img.shape})")
    return img


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return an 8-bit single-channel image from gray, BGR, BGRA, 16-bit, float or integer input."""
    img = to_uint8(_channels(np.asarray(image)))
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(np.ascontiguousarray(img), code)
    return img


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Return an 8-bit 3-channel BGR image (what the face detector takes) from any input :func:`to_gray` takes.
    A uint8 BGR input comes back as is, without a copy."""
    img = to_uint8(_channels(np.asarray(image)))
    if img.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGRA2BGR)
    return img


def to_face_input(face: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A face crop (any size, any channels) as the model's ``size`` x ``size`` uint8 gray input."""
    gray = to_gray(face)
    if gray.shape != (size, size):
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return gray


def _square(box: Sequence[float], margin: float) -> tuple[int, int, int] | None:
    """Unclamped square ``(x0, y0, side)`` around ``box`` = (x, y, w, h), grown by ``margin`` on each side."""
    x, y, w, h = (float(v) for v in box)
    if not (math.isfinite(x + y + w + h + margin) and w > 0 and h > 0 and margin >= 0):
        return None
    side = max(1, round(max(w, h) * (1.0 + 2.0 * margin)))
    return round(x + w / 2.0 - side / 2.0), round(y + h / 2.0 - side / 2.0), side


def square_box(
    box: Sequence[float], frame_shape: Sequence[int], margin: float = DEFAULT_MARGIN
) -> tuple[int, int, int, int] | None:
    """Square crop ``(x0, y0, x1, y1)`` around ``box`` = (x, y, w, h), grown by ``margin``, clamped to
    the frame; None when nothing of it lies inside the frame."""
    frame_h, frame_w = int(frame_shape[0]), int(frame_shape[1])
    sq = _square(box, margin)
    if sq is None:
        return None
    x0, y0, side = sq
    x1, y1 = x0 + side, y0 + side
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame_w), min(y1, frame_h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def face_input(frame: np.ndarray, box: Sequence[float], margin: float = DEFAULT_MARGIN) -> np.ndarray | None:
    """The model input (48x48 uint8 gray) for one face: the :func:`square_box` region through
    :func:`to_face_input`. Where the square was clamped at a frame border, the part outside the frame is
    filled by repeating the border pixels, so a face at the edge keeps its proportions instead of being
    stretched. None when the box lies wholly outside the frame."""
    clamped = square_box(box, frame.shape, margin)
    if clamped is None:
        return None
    x0, y0, x1, y1 = clamped
    crop = frame[y0:y1, x0:x1]
    sx0, sy0, side = _square(box, margin)  # type: ignore[misc]  # not None when clamped is not None
    w, h = x1 - x0, y1 - y0
    if (w, h) == (side, side):
        return to_face_input(crop)
    left, top = x0 - sx0, y0 - sy0
    crop = to_gray(crop)
    if side > INPUT_SIZE:
        # Shrink first and pad at model resolution: a huge box around a small frame must not allocate a
        # huge canvas.
        k = INPUT_SIZE / side
        w2, h2 = max(1, min(INPUT_SIZE, round(w * k))), max(1, min(INPUT_SIZE, round(h * k)))
        crop = cv2.resize(crop, (w2, h2), interpolation=cv2.INTER_AREA)
        left, top = min(round(left * k), INPUT_SIZE - w2), min(round(top * k), INPUT_SIZE - h2)
        w, h, side = w2, h2, INPUT_SIZE
    padded = cv2.copyMakeBorder(
        np.ascontiguousarray(crop), top, side - h - top, left, side - w - left, cv2.BORDER_REPLICATE
    )
    return to_face_input(padded)


def crop_faces(
    frame: np.ndarray, boxes: Sequence[Sequence[float]], margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, list[int]]:
    """Model inputs for every box that overlaps the frame, as (N, 48, 48, 1) uint8, and their indices."""
    crops, kept = [], []
    for i, box in enumerate(boxes):
        face = face_input(frame, box, margin)
        if face is None:
            continue
        crops.append(face)
        kept.append(i)
    if not crops:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 1), np.uint8), kept
    return np.stack(crops)[..., None], kept
