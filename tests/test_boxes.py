"""Box layouts and IoU: the one implementation the detector's NMS and the tracker share."""

from __future__ import annotations

import numpy as np
import pytest

from edge_fer.boxes import iou_xywh, iou_xyxy, xywh_to_xyxy, xyxy_to_xywh


def test_layouts_round_trip_and_carry_extra_columns() -> None:
    xywh = np.array([[10, 20, 30, 40, 0.9], [0, 0, 5, 5, 0.5]], np.float32)
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy, [[10, 20, 40, 60, 0.9], [0, 0, 5, 5, 0.5]])
    assert xyxy.dtype == np.float32
    np.testing.assert_array_equal(xyxy_to_xywh(xyxy), xywh)
    assert xywh[0, 2] == 30  # the input is left alone


def test_iou_values() -> None:
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [50, 50, 1, 1], [2, 2, 2, 2]])
    got = iou_xywh(a, b)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got[0], [1.0, 50 / 150, 0.0, 4 / 100])
    np.testing.assert_allclose(got[1], 0.0)
    np.testing.assert_allclose(iou_xyxy(xywh_to_xyxy(a), xywh_to_xyxy(b)), got)


def test_iou_edge_cases() -> None:
    box = np.array([0, 0, 10, 10])
    assert iou_xywh(box, box[None]).shape == (1, 1)  # one flat box is one row
    assert iou_xywh(np.zeros((0, 4)), box[None]).shape == (0, 1)
    assert iou_xywh(box[None], np.zeros((0, 5))).shape == (1, 0)
    # Touching edges and zero-area boxes overlap nothing; IoU is symmetric.
    assert iou_xywh(box, [[10, 0, 10, 10], [5, 5, 0, 0], [0, 0, 0, 0]]).tolist() == [[0.0, 0.0, 0.0]]
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 50, (5, 4)), rng.uniform(0, 50, (7, 4))
    np.testing.assert_allclose(iou_xywh(a, b), iou_xywh(b, a).T)
    assert iou_xywh(a, b).max() <= 1.0 and iou_xywh(a, a).diagonal() == pytest.approx(1.0)


def test_overlap_of_smaller_sees_nested_boxes_that_iou_misses() -> None:
    from edge_fer.boxes import overlap_of_smaller_xyxy

    big, inner, apart = [0, 0, 100, 100], [30, 40, 60, 70], [200, 0, 250, 50]
    assert overlap_of_smaller_xyxy(np.array([big]), np.array([inner, apart])).tolist() == [[1.0, 0.0]]
    assert iou_xyxy(np.array([big]), np.array([inner]))[0, 0] < 0.1


def test_merging_passes_keeps_one_face_for_a_box_nested_in_another() -> None:
    from edge_fer.detectors import DET_COLUMNS, merge_detections

    rows = np.full((2, DET_COLUMNS), np.nan, np.float32)
    rows[0, :5] = [271, 22, 131, 131, 0.89]  # the face (x, y, w, h, score)
    rows[1, :5] = [306, 73, 59, 59, 0.65]  # a second pass's box on its mouth and nose
    merged = merge_detections(rows)
    assert len(merged) == 1 and merged[0, :4].tolist() == [271, 22, 131, 131]
