"""IoU tracking and per-track smoothing: ids follow faces, labels stop flickering, smoothing 0 is raw."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_fer.tracking import Tracker

SAD = np.array([0.0, 0.0, 0.0, 0.0, 0.45, 0.55, 0.0], np.float32)
NEUTRAL = np.array([0.0, 0.0, 0.0, 0.0, 0.55, 0.45, 0.0], np.float32)


def test_ids_follow_moving_faces_and_new_faces_get_new_ids() -> None:
    tr = Tracker(smoothing=3)
    probs = np.tile(SAD, (2, 1))
    ids, _ = tr.update(np.array([[0, 0, 50, 50], [200, 0, 50, 50]]), probs)
    assert ids == [1, 2]
    # Both move a little; given in the other order: ids follow the boxes, not the order.
    ids, _ = tr.update(np.array([[205, 2, 50, 50], [4, 3, 50, 50]]), probs)
    assert ids == [2, 1]
    ids, _ = tr.update(np.array([[8, 5, 50, 50], [400, 400, 50, 50]]), probs)
    assert ids == [1, 3]


def test_track_survives_a_short_gap_then_is_dropped() -> None:
    tr = Tracker(smoothing=3, max_missed=2)
    box = np.array([[10, 10, 40, 40]])
    assert tr.update(box, SAD[None])[0] == [1]
    for _ in range(2):
        tr.update(np.zeros((0, 4)), np.zeros((0, 7)))
    assert tr.update(box, SAD[None])[0] == [1]  # back after 2 missed frames: same face
    for _ in range(3):
        tr.update(np.zeros((0, 4)), np.zeros((0, 7)))
    assert tr.update(box, SAD[None])[0] == [2]  # gone for 3 > max_missed: a new track


def _labels(tracker: Tracker, n: int = 20) -> list[int]:
    box = np.array([[100, 100, 80, 80]], np.float32)
    out = []
    for i in range(n):
        _, smoothed = tracker.update(box + i, (SAD if i % 2 else NEUTRAL)[None])
        out.append(int(smoothed[0].argmax()))
    return out


def test_smoothing_stops_flicker() -> None:
    raw = _labels(Tracker(smoothing=0))
    assert raw == [4, 5] * 10  # flickers every frame
    smooth = _labels(Tracker(smoothing=4))
    changes = sum(a != b for a, b in itertools.pairwise(smooth))
    assert changes <= 1  # after the window fills, the average of alternating frames is steady


def test_smoothed_probabilities_are_the_window_mean() -> None:
    tr = Tracker(smoothing=3)
    box = np.array([[0, 0, 30, 30]])
    seq = [np.eye(7, dtype=np.float32)[k] for k in (0, 3, 3, 6)]
    outs = [tr.update(box, p[None])[1][0] for p in seq]
    np.testing.assert_allclose(outs[0], seq[0])
    np.testing.assert_allclose(outs[2], (seq[0] + seq[1] + seq[2]) / 3)
    np.testing.assert_allclose(outs[3], (seq[1] + seq[2] + seq[3]) / 3)  # window of 3: the first frame left


def test_negative_smoothing_is_refused() -> None:
    with pytest.raises(ValueError):
        Tracker(smoothing=-1)


def test_many_faces_one_frame() -> None:
    tr = Tracker()
    boxes = np.array([[60 * (i % 10), 60 * (i // 10), 50, 50] for i in range(50)], np.float32)
    ids, out = tr.update(boxes, np.tile(SAD, (50, 1)))
    assert sorted(ids) == list(range(1, 51))
    ids2, _ = tr.update(boxes + 2, np.tile(SAD, (50, 1)))
    assert ids2 == ids
    assert out.shape == (50, 7)
