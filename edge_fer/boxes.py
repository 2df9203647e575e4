"""Face boxes: the two layouts edge-fer uses and the overlap (IoU) between them.

The runtime hands boxes around as ``x, y, w, h`` (top-left corner, width, height; pixels), the layout of its
JSON and of :class:`~edge_fer.recognizer.Face`. Overlap and merging are simpler on corners, ``x0, y0, x1, y1``.
Arrays are (N, 4) or wider: columns past the fourth (a detector's score) are carried along unchanged.
"""

from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4+) ``x, y, w, h[, ...]`` -> a new (N, 4+) ``x0, y0, x1, y1[, ...]`` of the same dtype."""
    out = np.array(boxes, copy=True)
    out[:, 2] += out[:, 0]
    out[:, 3] += out[:, 1]
    return out


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4+) ``x0, y0, x1, y1[, ...]`` -> a new (N, 4+) ``x, y, w, h[, ...]`` of the same dtype."""
    out = np.array(boxes, copy=True)
    out[:, 2] -= out[:, 0]
    out[:, 3] -= out[:, 1]
    return out


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every corner box of ``a`` (N, 4+) and of ``b`` (M, 4+): (N, M) float64 in [0, 1].

    Boxes of zero area overlap nothing (IoU 0), so degenerate detections never merge or match."""
    a, b = _rows(a)[:, :4], _rows(b)[:, :4]
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def overlap_of_smaller_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area between every corner box of ``a`` (N, 4+) and of ``b`` (M, 4+):
    (N, M) in [0, 1]; 1 when one box lies wholly inside the other, whatever their sizes (IoU is low then)."""
    a, b = _rows(a)[:, :4], _rows(b)[:, :4]
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    return np.where(smaller > 0, iw * ih / np.where(smaller > 0, smaller, 1.0), 0.0)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every ``x, y, w, h`` box of ``a`` (N, 4+) and of ``b`` (M, 4+): (N, M)."""
    return iou_xyxy(xywh_to_xyxy(_rows(a)), xywh_to_xyxy(_rows(b)))


def _rows(boxes: np.ndarray) -> np.ndarray:
    """Boxes as a float64 (N, K) array: one box given as a flat (K,) row becomes (1, K); nothing, (0, 4)."""
    arr = np.asarray(boxes, np.float64)
    return arr.reshape(-1, arr.shape[-1]) if arr.size else arr.reshape(0, 4)
