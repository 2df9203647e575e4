"""The overlay: each face's bar chart goes where it hides no other face and no other chart."""

from __future__ import annotations

import numpy as np

from edge_fer.drawing import chart_place, draw_faces, overlap_area
from edge_fer.labels import LABELS
from edge_fer.recognizer import Face


def face(x: int, y: int, side: int, label: str = "happy") -> Face:
    probs = {k: (0.7 if k == label else 0.05) for k in LABELS}
    return Face(box=(x, y, side, side), label=label, score=0.7, probs=probs)


def test_a_chart_goes_right_of_its_face_when_nothing_is_there() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    x, y, _, h = chart_place(frame, face(100, 100, 80))
    assert (x, y) == (184, 100) and abs(h - 80) <= 10  # right of the box, about as tall as the face


def test_crowded_faces_keep_their_charts_off_each_other_and_off_the_faces() -> None:
    """As on the sideways group photo: a large face at the right edge (no room on its right) with a small face
    to its left, where the large face's chart would go; the small face's chart then moves too."""
    frame = np.zeros((1300, 975, 3), np.uint8)
    big, small = face(585, 480, 320, "neutral"), face(240, 480, 70)
    first = chart_place(frame, big, [small.box])
    assert first[0] + first[2] <= big.box[0] and overlap_area(first, small.box) == 0  # left of it, clear of the other
    second = chart_place(frame, small, [big.box, first])
    assert all(overlap_area(second, other) == 0 for other in (first, big.box, small.box))
    out = draw_faces(frame.copy(), [big, small])
    assert out[first[1] + 2, first[0] + 2].tolist() == [40, 40, 40]  # the big chart's first row is not drawn over


def test_a_chart_stays_inside_the_frame() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    for f in (face(250, 10, 60), face(0, 180, 60), face(130, 90, 60)):
        x, y, w, h = chart_place(frame, f)
        assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 240
