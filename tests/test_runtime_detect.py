"""BlazeFace detection: anchors, NMS, letterboxing, and real faces in the shared photo and video."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge_fer.boxes import iou_xywh
from edge_fer.detectors import BlazeFace, TiledDetector, create_detector, model_file, ssd_anchors, weighted_nms
from edge_fer.errors import EdgeFerError

# Where the six faces of group-six-faces.jpg are (x, y, w, h), looked up by eye on the annotated image.
GROUP_FACES = [
    (320, 350, 110, 110),
    (578, 416, 110, 110),
    (843, 377, 102, 102),
    (1181, 374, 112, 112),
    (1527, 375, 108, 108),
    (819, 944, 490, 490),
]


def _matched(found: np.ndarray, truth: list) -> int:
    return int((iou_xywh(np.asarray(truth), found).max(axis=1, initial=0.0) > 0.4).sum())


def test_anchor_layout_matches_the_models() -> None:
    short = ssd_anchors(128, (8, 16), (2, 6))
    full = ssd_anchors(192, (4,), (1,))
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[1], short[0])  # two anchors per 16x16 cell
    np.testing.assert_allclose(short[512], [0.5 / 8, 0.5 / 8])  # then six per 8x8 cell
    np.testing.assert_allclose(full[-1], [47.5 / 48, 47.5 / 48])


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    corners = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    out = weighted_nms(corners, scores, 0.3)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out[0], [0.4, 0.4, 10.4, 10.4, 0.9], atol=1e-5)  # score-weighted mean box
    np.testing.assert_allclose(out[1], [50, 50, 60, 60, 0.8])
    assert weighted_nms(corners[:0], scores[:0]).shape == (0, 5)


@pytest.mark.parametrize("kind", ["short", "full", "auto"])
def test_blank_and_odd_sized_frames_have_no_faces(kind: str) -> None:
    det = create_detector(kind, threads=1)
    for shape in [(240, 320, 3), (1, 1, 3), (7, 900, 3), (900, 7, 3)]:
        out = det(np.full(shape, 128, np.uint8))
        assert out.shape == (0, 5) and out.dtype == np.float32


def test_detector_rejects_bad_settings_and_frames() -> None:
    with pytest.raises(EdgeFerError, match="choose one of"):
        create_detector("medium")
    with pytest.raises(EdgeFerError, match="between 0 and 1"):
        BlazeFace("short", conf=1.5)
    with pytest.raises(ValueError, match="BGR uint8"):
        BlazeFace("short")(np.zeros((10, 10), np.uint8))


def test_detector_models_ship_inside_the_package() -> None:
    code = (
        "import sys, pathlib, edge_fer; from edge_fer.detectors import model_file; "
        "assert model_file('short').name == 'face_detection_short_range.tflite'; "
        "assert model_file('full').stat().st_size > 100_000; "
        "pkg = pathlib.Path(edge_fer.__file__).parent; "
        "assert model_file('short').parent == pkg / 'blazeface'; "
        "assert (pkg / 'blazeface' / 'LICENSE').read_text().lstrip().startswith('Apache License'); "
        "assert 'tensorflow' not in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert model_file("short").is_file()


def test_tiles_cover_big_photos_only() -> None:
    det = TiledDetector(threads=1)
    assert det.tiles(1536, 2048) == []
    tiles = det.tiles(4500, 6000)
    assert tiles and all(x1 - x0 == y1 - y0 == 2000 for x0, y0, x1, y1 in tiles)
    covered = np.zeros((4500, 6000), bool)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] = True
    assert covered.all()


@pytest.mark.shared
@pytest.mark.parametrize("kind", ["full", "auto"])
def test_group_photo_faces(media_dir, kind: str) -> None:
    image = cv2.imread(str(media_dir / "group-six-faces.jpg"))
    found = create_detector(kind, threads=1)(image)
    assert _matched(found, GROUP_FACES) >= 5
    assert len(found) <= 7
    assert np.all(found[:, 4] >= 0.5) and np.all(np.diff(found[:, 4]) <= 0)  # best first


@pytest.mark.shared
def test_short_range_finds_the_close_face_in_the_group_photo(media_dir) -> None:
    image = cv2.imread(str(media_dir / "group-six-faces.jpg"))
    found = create_detector("short", threads=1)(image)
    assert _matched(found, GROUP_FACES[-1:]) == 1


@pytest.mark.shared
def test_video_face_in_most_frames(media_dir) -> None:
    cap = cv2.VideoCapture(str(media_dir / "woman-with-phone.mp4"))
    det = create_detector("short", threads=1)
    counts, centres = [], []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        found = det(frame)
        counts.append(len(found))
        if len(found):
            x, y, w, h, _ = found[0]
            centres.append((x + w / 2, y + h / 2, w))
    counts_a = np.array(counts)
    assert len(counts) == 115
    assert (counts_a >= 1).mean() >= 0.9
    assert (counts_a >= 2).sum() <= 5  # no watermark/bokeh false positives at the default threshold
    cx, cy, w = np.median(np.array(centres), axis=0)
    assert 300 < cx < 380 and 60 < cy < 140 and 90 < w < 160  # her face, upper middle of the 596x336 frame
