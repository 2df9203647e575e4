"""The one preprocessing path: conversions and face crops over arbitrary frames, dtypes and boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_fer.preprocessing import (
    INPUT_SIZE,
    crop_faces,
    face_input,
    square_box,
    to_bgr,
    to_face_input,
    to_gray,
    to_uint8,
)

DTYPES = [np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_]
CHANNELS = [None, 1, 3, 4]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def frames(draw: st.DrawFn) -> np.ndarray:
    h = draw(st.integers(1, 120))
    w = draw(st.integers(1, 120))
    channels = draw(st.sampled_from(CHANNELS))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (h, w) if channels is None else (h, w, channels)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.floating):
        top = draw(st.sampled_from([1.0, 255.0]))
        return (rng.random(shape) * top).astype(dtype)
    hi = 256 if dtype == np.uint8 else (65536 if dtype == np.uint16 else 1000)
    lo = -100 if np.issubdtype(dtype, np.signedinteger) else 0
    return rng.integers(lo, hi, shape).astype(dtype)


coords = st.floats(-500, 500, allow_nan=False, allow_infinity=False)
sizes = st.floats(0.5, 1000, allow_nan=False, allow_infinity=False)
boxes = st.tuples(coords, coords, sizes, sizes)
odd_boxes = st.tuples(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.one_of(st.floats(-10, 1e9, width=32), st.just(float("nan"))),
    st.one_of(st.floats(-10, 1e9, width=32), st.just(float("nan"))),
)


@SETTINGS
@given(frame=frames())
def test_to_gray_and_to_bgr_accept_any_dtype_and_channels(frame: np.ndarray) -> None:
    gray, bgr = to_gray(frame), to_bgr(frame)
    assert gray.dtype == np.uint8 and gray.shape == frame.shape[:2]
    assert bgr.dtype == np.uint8 and bgr.shape == (*frame.shape[:2], 3)
    face = to_face_input(frame)
    assert face.shape == (INPUT_SIZE, INPUT_SIZE) and face.dtype == np.uint8


@SETTINGS
@given(frame=frames(), box_list=st.lists(st.one_of(boxes, odd_boxes), max_size=6), margin=st.floats(0, 1))
def test_crop_faces_shapes_and_kept_indices(frame: np.ndarray, box_list: list, margin: float) -> None:
    crops, kept = crop_faces(frame, box_list, margin)
    expected = [i for i, b in enumerate(box_list) if square_box(b, frame.shape, margin) is not None]
    assert kept == expected
    assert crops.shape == (len(kept), INPUT_SIZE, INPUT_SIZE, 1) and crops.dtype == np.uint8


@SETTINGS
@given(h=st.integers(1, 400), w=st.integers(1, 400), box=boxes, margin=st.floats(0, 1))
def test_square_box_lies_inside_the_frame_and_is_square_unless_clamped(h: int, w: int, box: tuple, margin: float):
    sq = square_box(box, (h, w), margin)
    x, y, bw, bh = box
    if sq is None:
        # Nothing of the grown square overlaps the frame.
        side = max(bw, bh) * (1 + 2 * margin)
        cx, cy = x + bw / 2, y + bh / 2
        assert cx + side / 2 <= 1 or cy + side / 2 <= 1 or cx - side / 2 >= w - 1 or cy - side / 2 >= h - 1
        return
    x0, y0, x1, y1 = sq
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    if x0 > 0 and y0 > 0 and x1 < w and y1 < h:
        assert x1 - x0 == y1 - y0
        assert abs((x1 - x0) - max(bw, bh) * (1 + 2 * margin)) <= 1
        assert abs((x0 + x1) / 2 - (x + bw / 2)) <= 1 and abs((y0 + y1) / 2 - (y + bh / 2)) <= 1


@SETTINGS
@given(h=st.integers(1, 150), w=st.integers(1, 150), box=boxes, value=st.integers(0, 255))
def test_constant_frame_gives_constant_crop_even_when_padded(h: int, w: int, box: tuple, value: int) -> None:
    frame = np.full((h, w, 3), value, np.uint8)
    face = face_input(frame, box, 0.1)
    if face is not None:
        assert face.shape == (INPUT_SIZE, INPUT_SIZE)
        assert np.all(face == value)


def test_crop_inside_the_frame_is_the_plain_resized_square() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    box = (100, 50, 60, 80)  # side 80 * 1.2 = 96 around centre (130, 90)
    assert square_box(box, frame.shape, 0.1) == (82, 42, 178, 138)
    crops, kept = crop_faces(frame, [box], 0.1)
    want = cv2.resize(cv2.cvtColor(frame[42:138, 82:178], cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
    assert kept == [0]
    np.testing.assert_array_equal(crops[0, :, :, 0], want)


@pytest.mark.parametrize(
    ("box", "edge"),
    [((-10, 60, 100, 100), "left"), ((210, 60, 100, 100), "right"), ((100, -10, 100, 100), "top")],
)
def test_crop_at_frame_border_is_clamped_and_keeps_proportions(box: tuple, edge: str) -> None:
    """The grown square around a face at the frame edge sticks out: the crop is clamped to the frame and
    the missing strip padded, so the face stays centred and round instead of being stretched to 48x48."""
    frame = np.zeros((220, 300), np.uint8)
    x, y, w, h = box
    cv2.circle(frame, (round(x + w / 2), round(y + h / 2)), 30, 255, cv2.FILLED)  # wholly inside the frame
    sq = square_box(box, frame.shape, 0.1)  # side 120, 20 px of it outside the frame
    assert sq is not None
    x0, y0, x1, y1 = sq
    assert (x0 == 0) if edge == "left" else (x1 == 300) if edge == "right" else (y0 == 0)
    assert sorted([x1 - x0, y1 - y0]) == [100, 120]  # clamped: no longer square
    face = face_input(frame, box, 0.1)
    assert face is not None and face.shape == (48, 48)
    # Radius 30 of a 120 px square is 12 of 48: a disc of diameter ~24 centred in the crop. Stretching the
    # clamped 100x120 crop instead would move its centre ~4 px and make it ~29 px wide along the cut axis.
    ys, xs = np.nonzero(face > 127)
    assert abs(xs.mean() - 23.5) < 1.0 and abs(ys.mean() - 23.5) < 1.0
    assert xs.max() - xs.min() + 1 == pytest.approx(24, abs=1.5)
    assert ys.max() - ys.min() + 1 == pytest.approx(24, abs=1.5)


def test_box_wholly_outside_and_degenerate_boxes_are_skipped() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    bad = [(200, 200, 10, 10), (-50, -50, 10, 10), (10, 10, 0, 5), (np.nan, 1, 5, 5), (1, 1, np.inf, 5)]
    crops, kept = crop_faces(frame, [*bad, (40, 40, 20, 20)])
    assert kept == [5] and crops.shape == (1, 48, 48, 1)
    assert crop_faces(frame, [])[0].shape == (0, 48, 48, 1)


def test_huge_box_on_a_tiny_frame_does_not_allocate_a_huge_canvas() -> None:
    frame = np.full((1, 1, 3), 77, np.uint8)
    face = face_input(frame, (0, 0, 1e8, 1e8), 0.1)
    assert face is not None and face.shape == (48, 48) and np.all(face == 77)


def test_dtype_conversions() -> None:
    assert to_uint8(np.array([[0, 65535, 256]], np.uint16)).tolist() == [[0, 255, 1]]
    assert to_uint8(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist() == [[0, 127, 255]]
    assert to_uint8(np.array([[np.nan, -5.0, 300.0]], np.float64)).tolist() == [[0, 0, 255]]
    assert to_uint8(np.array([[True, False]])).tolist() == [[255, 0]]
    assert to_gray(np.full((2, 2, 4), 200, np.uint8)).tolist() == [[200, 200], [200, 200]]
    with pytest.raises(ValueError):
        to_gray(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError):
        to_bgr(np.zeros((0, 4, 3), np.uint8))
