"""Photometric corruptions of faces or frames as dim, hazy or badly exposed cameras deliver them.

One definition for the 48x48 robustness figures (``benchmarks/photometric.py``, the model card) and anything
else that measures robustness: each returns uint8 images of the input's shape, rounded as a camera would.
"""

from __future__ import annotations

import numpy as np

#: Corruption names with their strength, as the project's robustness targets state them.
PHOTOMETRIC = ("clean", "dark", "low_contrast", "gamma")
DARK_FACTOR = 0.3
CONTRAST_FACTOR = 0.3
GAMMA = 2.2


def corrupt(images: np.ndarray, kind: str) -> np.ndarray:
    """``images`` (N, H, W[, C]) uint8 under ``kind``: ``clean``; ``dark`` (brightness x0.3); ``low_contrast``
    (x0.3 around each image's mean); ``gamma`` (``255 * (x / 255) ** 2.2``). Raises ValueError for another kind."""
    if kind == "clean":
        return images
    f = images.astype(np.float32)
    if kind == "dark":
        out = f * DARK_FACTOR
    elif kind == "low_contrast":
        mean = f.reshape(len(f), -1).mean(axis=1).reshape(-1, *([1] * (f.ndim - 1)))
        out = (f - mean) * CONTRAST_FACTOR + mean
    elif kind == "gamma":
        out = 255.0 * (f / 255.0) ** GAMMA
    else:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {', '.join(PHOTOMETRIC)}")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
