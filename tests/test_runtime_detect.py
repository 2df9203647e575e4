"""BlazeFace detection: anchors, NMS, letterboxing, and real faces in the shared photo and video."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge_fer.detectors import (
    DET_COLUMNS,
    EIGHTH_TURNS,
    BlazeFace,
    Rotations,
    TiledDetector,
    WholeImage,
    create_detector,
    expose_for_detection,
    model_file,
    refine_rolled,
    rotate_image,
    ssd_anchors,
    unrotate_detections,
    weighted_nms,
)
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


def _iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0.0, min(ax1, bx1) - max(a[0], b[0])), max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _matched(found: np.ndarray, truth: list) -> int:
    return sum(any(_iou(t, f[:4]) > 0.4 for f in found) for t in truth)


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
        assert out.shape == (0, DET_COLUMNS) and out.dtype == np.float32


def test_weighted_nms_carries_keypoints_averaged_or_from_the_best_member() -> None:
    corners = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.6, 0.9], np.float32)
    kps = np.array([[0.0] * 12, [10.0] * 12], np.float32)
    mean = weighted_nms(corners, scores, 0.3, kps)
    np.testing.assert_allclose(mean[0, 5:], 6.0)  # (0 * 0.6 + 10 * 0.9) / 1.5
    best = weighted_nms(corners, scores, 0.3, kps, average_keypoints=False)
    np.testing.assert_allclose(best[0, 5:], 10.0)


@pytest.mark.parametrize("turn", [90, 180, 270, 45, 330])
def test_detections_in_a_turned_image_map_back(turn: int) -> None:
    """A dot and a square marked in an image, found in the turned image and mapped back, land where they were
    (exactly for quarter turns; within resampling for others)."""
    image = np.zeros((60, 100, 3), np.uint8)
    image[10, 70] = 255  # the "keypoint": the pixel (70, 10), centre (70.5, 10.5)
    image[20:40, 10:30] = 255  # a 20 x 20 "box"
    turned, back = rotate_image(image, turn)
    gray = turned[:, :, 0].astype(np.float32)
    n, _, stats, centroids = cv2.connectedComponentsWithStats((gray > 60).astype(np.uint8))
    dot, box = sorted(range(1, n), key=lambda i: stats[i, cv2.CC_STAT_AREA])[:2]
    side = stats[box, cv2.CC_STAT_AREA] ** 0.5
    row = np.full((1, DET_COLUMNS), np.nan, np.float32)
    bx, by = centroids[box] + 0.5
    row[0, :5] = (bx - side / 2, by - side / 2, side, side, 0.9)
    row[0, 5:7] = centroids[dot] + 0.5
    out = unrotate_detections(row, back, swap=turn % 180 == 90)
    tol = 1e-4 if turn % 90 == 0 else 1.0
    np.testing.assert_allclose(out[0, 5:7], [70.5, 10.5], atol=tol)
    np.testing.assert_allclose(out[0, :2] + out[0, 2:4] / 2, [20, 30], atol=tol)


def test_whole_image_detector_and_rotations_setting() -> None:
    det = create_detector("none")
    assert isinstance(det, WholeImage)
    out = det(np.zeros((30, 40, 3), np.uint8))
    assert out.shape == (1, DET_COLUMNS) and out[0, :5].tolist() == [0, 0, 40, 30, 1] and np.isnan(out[0, 5:]).all()
    assert isinstance(create_detector("short", rotations=True), Rotations)
    assert isinstance(create_detector("short"), BlazeFace)
    assert create_detector("auto", rotations=False).whole.turns == (0,)
    assert create_detector("auto").whole.turns == EIGHTH_TURNS
    assert create_detector("short", rotations=True).turns == (0, 90, 180, 270)


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


def test_tiles_are_sized_by_the_face_sought_not_by_the_photo() -> None:
    det = TiledDetector(threads=1, min_face=64)
    # Level 0 shrinks so a 64 px face is 24 px; each next level halves, until the photo fits one 192 px tile.
    assert det.levels(3000, 16000) == pytest.approx([0.375, 0.1875, 0.09375, 0.046875, 0.0234375])
    assert det.levels(480, 640) == pytest.approx([0.375])
    assert det.levels(400, 500) == []  # 500 * 0.375 < 192: the whole-image passes see 64 px faces
    assert TiledDetector(threads=1, min_face=16).levels(100, 200) == [1.0]  # never enlarged
    corners = det.tiles(1125, 6000)  # level 0 of the panorama
    covered = np.zeros((1125, 6000), bool)
    for x0, y0 in corners:
        covered[y0 : y0 + 192, x0 : x0 + 192] = True
    assert covered.all() and len(corners) == 48 * 9  # steps of 124 px (35% overlap)
    with pytest.raises(EdgeFerError, match="below 8 px"):
        TiledDetector(min_face=4)


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
            x, y, w, h = found[0, :4]
            centres.append((x + w / 2, y + h / 2, w))
    counts_a = np.array(counts)
    assert len(counts) == 115
    assert (counts_a >= 1).mean() >= 0.9
    assert (counts_a >= 2).sum() <= 5  # no watermark/bokeh false positives at the default threshold
    cx, cy, w = np.median(np.array(centres), axis=0)
    assert 300 < cx < 380 and 60 < cy < 140 and 90 < w < 160  # her face, upper middle of the 596x336 frame


def test_dark_stills_are_brightened_for_the_detector_only() -> None:
    dark = np.tile(np.linspace(0, 200, 30).astype(np.uint8), (20, 1))[..., None].repeat(3, axis=2)
    dark[:, :24] //= 4  # mostly dark, a few bright columns: a wide range, so no stretch, only the gamma curve
    bright = expose_for_detection(dark)
    assert dark.mean() < 0.3 * 255 and 0.35 * 255 < bright.mean() < 0.65 * 255  # its mean level lifted to mid-gray
    assert (np.diff(bright[0, :, 0].astype(int)) >= 0).all()  # order kept
    normal = np.full((20, 30, 3), 120, np.uint8)
    assert expose_for_detection(normal) is normal


@pytest.mark.parametrize("levels", [(10, 70), (100, 170)])  # a dim room (x0.3 exposure), haze (x0.3 contrast)
def test_narrow_range_stills_are_stretched_to_the_full_range_for_the_detector(levels) -> None:
    lo, hi = levels
    frame = np.tile(np.linspace(lo, hi, 64).astype(np.uint8), (32, 1))[..., None].repeat(3, axis=2)
    seen = expose_for_detection(frame)
    assert seen[0, 0, 0] <= 3 and seen[0, -1, 0] >= 252  # spans 0..255 now
    assert (np.diff(seen[0, :, 0].astype(int)) >= 0).all()  # order kept
    assert 0.3 * 255 <= seen.mean() <= 0.7 * 255
    wide = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (32, 1))[..., None].repeat(3, axis=2)
    assert expose_for_detection(wide) is wide


def _rolled_row(cx: float, cy: float, side: float, roll: float) -> np.ndarray:
    """A detection row whose eyes lie on a line rolled ``roll`` degrees (clockwise on screen, as face_geometry)."""
    row = np.zeros(DET_COLUMNS, np.float32)
    row[:5] = (cx - side / 2, cy - side / 2, side, side, 0.9)
    dx, dy = 0.2 * side * np.cos(np.radians(roll)), 0.2 * side * np.sin(np.radians(roll))
    row[5:9] = (cx - dx, cy - dy, cx + dx, cy + dy)
    return row


class ViewDetector:
    """Finds one face in the view: a box of ``side`` px, ``dx`` px right of the view's centre; records views."""

    def __init__(self, side: float = 64.0, dx: float = 0.0, found: bool = True):
        self.side, self.dx, self.found, self.views = side, dx, found, []

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        self.views.append(bgr.shape)
        if not self.found:
            return np.zeros((0, DET_COLUMNS), np.float32)
        c = bgr.shape[1] / 2
        row = np.zeros(DET_COLUMNS, np.float32)
        row[:5] = (c + self.dx - self.side / 2, c - self.side / 2, self.side, self.side, 0.9)
        row[5:9] = (c + self.dx - 10, c - 10, c + self.dx + 10, c - 10)
        return row[None]


def test_rolled_faces_get_their_box_from_an_upright_view() -> None:
    frame = np.zeros((400, 400, 3), np.uint8)
    dets = np.stack([_rolled_row(200, 200, 100, 30.0), _rolled_row(100, 100, 50, 5.0), _rolled_row(300, 300, 50, 88.0)])
    short = ViewDetector(side=64.0, dx=12.8)
    out = refine_rolled(frame, dets, short)
    assert short.views == [(256, 256, 3)]  # one pass, for the face rolled 30 degrees only (5 and 88 are near a turn)
    np.testing.assert_array_equal(out[1:], dets[1:])
    k = 256 / (2.0 * 100)  # view pixels per image pixel
    x, y, w, h = out[0, :4]
    assert w == h == pytest.approx(64 / k)  # the upright box's side, in image pixels
    centre = np.array([x + w / 2, y + h / 2])
    # 12.8 view px right of centre is 10 image px along the face's own horizontal, rolled 30 degrees on screen
    np.testing.assert_allclose(
        centre, [200 + 10 * np.cos(np.radians(30)), 200 + 10 * np.sin(np.radians(30))], atol=0.01
    )
    eyes = out[0, 5:9].reshape(2, 2)
    assert np.degrees(np.arctan2(*(eyes[1] - eyes[0])[::-1])) == pytest.approx(30.0, abs=0.01)  # roll kept


def test_a_rolled_face_the_upright_view_does_not_find_keeps_its_box() -> None:
    dets = _rolled_row(200, 200, 100, -40.0)[None]
    np.testing.assert_array_equal(
        refine_rolled(np.zeros((400, 400, 3), np.uint8), dets, ViewDetector(found=False)), dets
    )
    far = ViewDetector(dx=100.0)  # a face found, but not the one the view is centred on
    np.testing.assert_array_equal(refine_rolled(np.zeros((400, 400, 3), np.uint8), dets, far), dets)
