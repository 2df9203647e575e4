"""Expected calibration error: how far a classifier's confidence is from its accuracy.

The top-label ECE of Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017): faces are binned by
their top probability into ``bins`` equal-width bins, and each bin's |accuracy - mean confidence| is averaged,
weighted by its share of faces. 0 is perfectly calibrated; 0.05 means confidences are off by 5 points on average.
"""

from __future__ import annotations

import numpy as np

#: Equal-width confidence bins, as in Guo et al. (2017).
DEFAULT_BINS = 15


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    """Top-label ECE of (N, C) probabilities against (N,) integer labels, in [0, 1]. Raises ValueError on
    mismatched lengths or no faces."""
    probs, y_true = np.asarray(probs, np.float64), np.asarray(y_true)
    if len(probs) == 0 or len(probs) != len(y_true):
        raise ValueError(f"need as many labels as predictions (got {len(y_true)} and {len(probs)}), at least one")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)
