"""Face detection with BlazeFace (MediaPipe's short- and full-range models) on edge-fer's TFLite backend.

The .tflite files are MediaPipe's (Apache-2.0) and ship inside edge-fer (``edge_fer/blazeface/``, with their
licence and source), so the runtime needs no download and no TensorFlow. Everything a frame
needs (interpreter, anchors, input buffer, letterbox geometry) is made once; a frame costs one resize,
one invoke and a decode of the few anchors above the threshold. Each face comes with BlazeFace's six
keypoints (eyes first), which the recognizer uses to turn a rolled face upright.

On top of the one-pass :class:`BlazeFace` (video): :class:`Rotations` (the same detector on turned copies of
a frame, for faces that lie sideways), :class:`TiledDetector` (``auto``, for still photos: both models,
turned every 45 degrees, and tiles sized by the smallest face sought) and :class:`WholeImage` (``none``:
the image is the face).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from edge_fer.backends import create_interpreter
from edge_fer.boxes import iou_xyxy, overlap_of_smaller_xyxy, xyxy_to_xywh
from edge_fer.choices import DetectorKind
from edge_fer.errors import EdgeFerError, ModelError

__all__ = [
    "DET_COLUMNS",
    "KEYPOINTS",
    "BlazeFace",
    "DetectorKind",
    "FaceDetector",
    "Rotations",
    "TiledDetector",
    "WholeImage",
    "as_detections",
    "create_detector",
    "model_file",
]

#: Default detection confidence per model. MediaPipe uses 0.5; short-range at 0.5 fires on blurred lights
#: and watermarks (0.49-0.56 on the test video, where the real face scores 0.70+), full-range does not.
DEFAULT_CONF = {"short": 0.6, "full": 0.5}
#: Faces smaller than this (box side, pixels) are skipped by default: too few pixels for an emotion.
DEFAULT_MIN_FACE = 20
#: IoU above which two detections are merged by weighted NMS (MediaPipe's value).
DEFAULT_NMS_IOU = 0.3
#: Sigmoid inputs are clipped here (MediaPipe uses 100, which overflows float32 in exp).
_RAW_SCORE_LIMIT = 80.0


@dataclass(frozen=True)
class _Spec:
    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]


#: Where the shipped BlazeFace models are (see the README beside them for source and licence).
MODELS_DIR = Path(__file__).resolve().parent / "blazeface"

# From MediaPipe's face_detection_{short,full}_range_common.pbtxt (SSD anchor options).
_SPECS = {
    "short": _Spec("face_detection_short_range.tflite", 128, (8, 16), (2, 6)),
    "full": _Spec("face_detection_full_range.tflite", 192, (4,), (1,)),
}


#: BlazeFace's six keypoints, in the order it emits them. "Right" and "left" are the person's own: in an
#: upright face seen from the front the right eye is on the image's left.
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")
#: Columns of a detection row: ``x, y, w, h, score`` then ``x, y`` of each of :data:`KEYPOINTS`.
DET_COLUMNS = 5 + 2 * len(KEYPOINTS)


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces: called with a BGR uint8 frame, returns a float32 array of rows
    ``x, y, w, h, score`` in frame pixels, best first: (N, 5), or (N, :data:`DET_COLUMNS`) with the
    :data:`KEYPOINTS` ``x, y`` after the score (NaN where unknown). Keypoints let the recognizer turn a
    rolled face upright; without them faces are cut by their box alone."""

    def __call__(self, bgr: np.ndarray) -> np.ndarray: ...


def model_file(kind: str) -> Path:
    """Path of the BlazeFace .tflite for ``kind`` (``short`` or ``full``), shipped in ``edge_fer/blazeface/``."""
    path = MODELS_DIR / _SPECS[kind].file
    if not path.is_file():
        raise ModelError(f"face detector {path} is missing; reinstall edge-fer")
    return path


def ssd_anchors(size: int, strides: tuple[int, ...], per_cell: tuple[int, ...]) -> np.ndarray:
    """Anchor centres (A, 2) in [0, 1], in the order the model emits them (MediaPipe's SsdAnchorsCalculator
    with fixed anchor size: every anchor is 1x1 so only its centre matters)."""
    out = []
    for stride, repeats in zip(strides, per_cell):
        cells = size // stride
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
        centres = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        out.append(np.repeat(centres, repeats, axis=0))
    return np.concatenate(out).astype(np.float32)


def weighted_nms(
    corners: np.ndarray,
    scores: np.ndarray,
    iou: float = DEFAULT_NMS_IOU,
    keypoints: np.ndarray | None = None,
    average_keypoints: bool = True,
) -> np.ndarray:
    """MediaPipe's weighted NMS: each cluster of overlapping boxes becomes their score-weighted mean, with
    the best score. Steadier boxes than plain NMS. Returns (K, 5) ``x0, y0, x1, y1, score``, best first;
    with ``keypoints`` (N, 12), (K, 17) with the cluster's keypoints after the score: their weighted mean
    (members without keypoints, NaN, do not count), or with ``average_keypoints=False`` those of the
    best member that has them."""
    order = np.argsort(-scores, kind="stable")
    corners, scores = corners[order], scores[order]
    kps = None if keypoints is None else keypoints[order]
    out = []
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & (iou_xyxy(corners[i : i + 1], corners)[0] > iou)
        members[i] = True
        w = scores[members]
        merged = (corners[members] * w[:, None]).sum(axis=0) / w.sum()
        row = [*merged, scores[i]]
        if kps is not None:
            k = kps[members]
            known = np.isfinite(k[:, 0])
            if not known.any():
                row.extend(np.full(k.shape[1], np.nan))
            elif average_keypoints:
                row.extend((k[known] * w[known, None]).sum(axis=0) / w[known].sum())
            else:
                row.extend(k[np.flatnonzero(known)[0]])
        out.append(row)
        alive &= ~members
    return np.asarray(out, np.float32).reshape(-1, 5 if kps is None else 5 + kps.shape[1])


def as_detections(dets: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Any detector's output as (N, :data:`DET_COLUMNS`) float32: rows of 5 get NaN keypoints."""
    arr = np.asarray(dets, np.float32)
    if arr.size == 0:
        return np.zeros((0, DET_COLUMNS), np.float32)
    arr = arr.reshape(len(arr), -1)
    if arr.shape[1] == DET_COLUMNS:
        return arr
    if arr.shape[1] != 5:
        raise ValueError(f"a face detector returned rows of {arr.shape[1]} values; expected 5 or {DET_COLUMNS}")
    return np.concatenate([arr, np.full((len(arr), DET_COLUMNS - 5), np.nan, np.float32)], axis=1)


#: Two detections from different passes are one face when this much of the smaller box lies inside the other:
#: a full-range pass or a tile often fires on part of a face (mouth and nose) that another pass saw whole, and
#: IoU stays low for such nested boxes (0.2 for a box half the side of the other).
NESTED_OVERLAP = 0.6


def merge_detections(dets: np.ndarray, iou: float = DEFAULT_NMS_IOU, ranks: np.ndarray | None = None) -> np.ndarray:
    """NMS over (N, :data:`DET_COLUMNS`) rows from several passes (turned images, tiles): each cluster of
    overlapping rows (IoU above ``iou``, or one box mostly inside the other: :data:`NESTED_OVERLAP`) is kept
    as its leader's row, box and keypoints together, with the cluster's best score.
    The leader is the row of lowest ``ranks`` (see :func:`keypoint_rank`), then of best score: passes over
    differently turned images disagree on a face's box and keypoints, the one that sees it upright places
    them best, and a mean with a sideways guess would tilt and resize the face. Best score first."""
    if len(dets) == 0:
        return np.zeros((0, DET_COLUMNS), np.float32)
    rank = np.zeros(len(dets), np.float32) if ranks is None else ranks
    order = np.lexsort((-dets[:, 4], rank))
    dets = dets[order]
    corners = dets[:, :4].copy()
    corners[:, 2:] += corners[:, :2]
    alive = np.ones(len(dets), bool)
    out = []
    for i in range(len(dets)):
        if not alive[i]:
            continue
        one = corners[i : i + 1]
        members = alive & (
            (iou_xyxy(one, corners)[0] > iou) | (overlap_of_smaller_xyxy(one, corners)[0] > NESTED_OVERLAP)
        )
        members[i] = True
        row = dets[i].copy()
        row[4] = dets[members, 4].max()
        out.append(row)
        alive &= ~members
    merged = np.stack(out)
    return merged[np.argsort(-merged[:, 4], kind="stable")]


class BlazeFace:
    """One BlazeFace model: letterboxes a frame to its square input, decodes SSD boxes, applies a
    confidence threshold and weighted NMS. Not thread-safe (one interpreter, one input buffer)."""

    def __init__(
        self,
        kind: str = "short",
        conf: float | None = None,
        nms_iou: float = DEFAULT_NMS_IOU,
        threads: int | None = None,
    ):
        if kind not in _SPECS:
            raise EdgeFerError(f"unknown BlazeFace model {kind!r}; choose one of {', '.join(_SPECS)}")
        conf = DEFAULT_CONF[kind] if conf is None else float(conf)
        if not 0.0 < conf < 1.0:
            raise EdgeFerError(f"detector confidence {conf} must be between 0 and 1")
        spec = _SPECS[kind]
        self.kind, self.conf, self.nms_iou, self.size = kind, conf, nms_iou, spec.size
        self.path = model_file(kind)
        self.interpreter, self.runtime = create_interpreter(self.path, threads)
        inp = self.interpreter.get_input_details()[0]
        outs = self.interpreter.get_output_details()
        if list(inp["shape"]) != [1, spec.size, spec.size, 3]:
            raise ModelError(f"face detector {self.path}: unexpected input {list(inp['shape'])}")
        by_width = {int(o["shape"][-1]): o["index"] for o in outs}
        self._in_index, self._box_index, self._score_index = inp["index"], by_width[16], by_width[1]
        self.anchors = ssd_anchors(spec.size, spec.strides, spec.anchors_per_cell)
        n_out = int(next(o["shape"][1] for o in outs))
        if len(self.anchors) != n_out:
            raise ModelError(f"face detector {self.path}: {n_out} outputs, {len(self.anchors)} anchors")
        self._logit = math.log(conf / (1.0 - conf))
        self._input = np.full((1, spec.size, spec.size, 3), -1.0, np.float32)
        self._geometry: tuple[int, int, float, int, int, int, int, int] | None = None
        self._small = self._rgb = np.empty((0, 0, 3), np.uint8)

    def _letterbox(self, bgr: np.ndarray) -> tuple[float, int, int]:
        """Resize ``bgr`` into the middle of the input buffer as RGB in [-1, 1]; (scale, pad_x, pad_y)."""
        h, w = bgr.shape[:2]
        if self._geometry is None or self._geometry[:2] != (h, w):
            scale = min(self.size / w, self.size / h)
            nw, nh = max(1, min(self.size, round(w * scale))), max(1, min(self.size, round(h * scale)))
            px, py = (self.size - nw) // 2, (self.size - nh) // 2
            # Bilinear (as MediaPipe samples) is 25x faster than INTER_AREA on video frames; past a 6x
            # reduction (photos, 4K) INTER_AREA keeps small faces from aliasing away.
            interp = cv2.INTER_LINEAR if scale >= 1 / 6 else cv2.INTER_AREA
            self._geometry = (h, w, scale, nw, nh, px, py, interp)
            self._small = np.empty((nh, nw, 3), np.uint8)
            self._rgb = np.empty((nh, nw, 3), np.uint8)
            self._input.fill(-1.0)  # black padding, in the model's range
        _, _, scale, nw, nh, px, py, interp = self._geometry
        cv2.resize(bgr, (nw, nh), dst=self._small, interpolation=interp)
        cv2.cvtColor(self._small, cv2.COLOR_BGR2RGB, dst=self._rgb)
        view = self._input[0, py : py + nh, px : px + nw]
        np.multiply(self._rgb, 2.0 / 255.0, out=view, casting="unsafe")  # 3x faster than from a reversed view
        view -= 1.0
        return scale, px, py

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR uint8 frame: (N, :data:`DET_COLUMNS`) ``x, y, w, h, score`` and the six keypoints'
        ``x, y``, in frame pixels, best first."""
        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
            raise ValueError(f"BlazeFace takes BGR uint8 frames, got {bgr.dtype} {bgr.shape}")
        scale, px, py = self._letterbox(bgr)
        self.interpreter.set_tensor(self._in_index, self._input)
        self.interpreter.invoke()
        raw_scores = self.interpreter.get_tensor(self._score_index)[0, :, 0]
        hits = np.flatnonzero(raw_scores > self._logit)
        if len(hits) == 0:
            return np.zeros((0, DET_COLUMNS), np.float32)
        raw = self.interpreter.get_tensor(self._box_index)[0, hits]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[hits], -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
        # Offsets (box centre and each keypoint) are in input pixels relative to the anchor centre; sizes in
        # input pixels.
        anchor = self.anchors[hits] * self.size
        cx, cy = raw[:, 0] + anchor[:, 0], raw[:, 1] + anchor[:, 1]
        half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
        corners = np.stack([cx - half_w - px, cy - half_h - py, cx + half_w - px, cy + half_h - py], axis=1) / scale
        kps = raw[:, 4:16].reshape(-1, len(KEYPOINTS), 2) + anchor[:, None, :] - np.array([px, py], np.float32)
        kps = (kps / scale).reshape(-1, 2 * len(KEYPOINTS))
        valid = (raw[:, 2] > 0) & (raw[:, 3] > 0)
        if not valid.all():
            corners, scores, kps = corners[valid], scores[valid], kps[valid]
        merged = weighted_nms(
            corners.astype(np.float32), scores.astype(np.float32), self.nms_iou, kps.astype(np.float32)
        )
        return xyxy_to_xywh(merged)


#: Quarter turns (``--rotations`` on video): upright, and turned 90, 180 and 270 degrees.
QUARTER_TURNS = (0, 90, 180, 270)
#: Turns a still image is searched in (``auto``): every 45 degrees, so any face is within 22.5 degrees of
#: upright in one pass. BlazeFace misses rolled faces: on 150 FER2013 val faces set into frames, quarter
#: turns find 95% upright, 93% rolled 30 and 94% rolled 45 degrees; eighth turns 96, 98 and 96%.
EIGHTH_TURNS = (0, 45, 90, 135, 180, 225, 270, 315)
#: Whole-image passes over a still run on a copy shrunk (INTER_AREA) to this long side: the detectors see
#: at most 192 px anyway, and a turned copy of a 48-megapixel photo would cost seconds.
WHOLE_SIDE = 2048
_ROTATE_CODES = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def rotate_image(bgr: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``bgr`` turned ``degrees`` counter-clockwise on screen, and the 2x3 affine matrix that maps a point of
    the turned image back into ``bgr``. Quarter turns are exact (no resampling); other angles are bilinear
    on a canvas grown to hold the whole image, the corners filled by repeating the border."""
    h, w = bgr.shape[:2]
    degrees = float(degrees) % 360.0
    if degrees == 0:
        return bgr, np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    if degrees in _ROTATE_CODES:
        # Inverse of each turn in continuous pixel-edge coordinates (a W x H image turns into H x W).
        back = {90: [[0, -1, w], [1, 0, 0]], 180: [[-1, 0, w], [0, -1, h]], 270: [[0, 1, 0], [-1, 0, h]]}
        return cv2.rotate(bgr, _ROTATE_CODES[int(degrees)]), np.array(back[int(degrees)], np.float64)
    rad = math.radians(degrees)
    nw = math.ceil(abs(w * math.cos(rad)) + abs(h * math.sin(rad)))
    nh = math.ceil(abs(w * math.sin(rad)) + abs(h * math.cos(rad)))
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    forward[:, 2] += (nw / 2 - w / 2, nh / 2 - h / 2)
    turned = cv2.warpAffine(bgr, forward, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return turned, cv2.invertAffineTransform(forward)


def unrotate_detections(dets: np.ndarray, back: np.ndarray, swap: bool = False) -> np.ndarray:
    """Detections found in a turned image mapped back with ``back`` (from :func:`rotate_image`): keypoints
    exactly, boxes as a box of the same size around the mapped centre (``swap``: w and h swap, for turns of
    90 and 270 degrees)."""
    if len(dets) == 0 or np.array_equal(back, [[1, 0, 0], [0, 1, 0]]):
        return dets
    out = dets.copy()

    def mapped(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return back[0, 0] * x + back[0, 1] * y + back[0, 2], back[1, 0] * x + back[1, 1] * y + back[1, 2]

    cx, cy = mapped(dets[:, 0] + dets[:, 2] / 2, dets[:, 1] + dets[:, 3] / 2)
    bw, bh = (dets[:, 3], dets[:, 2]) if swap else (dets[:, 2], dets[:, 3])
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = cx - bw / 2, cy - bh / 2, bw, bh
    if dets.shape[1] > 5:
        out[:, 5::2], out[:, 6::2] = mapped(dets[:, 5::2], dets[:, 6::2])
    return out


class Rotations:
    """Any detector run on a frame turned by each of ``turns`` (degrees counter-clockwise), the faces mapped
    back and merged: finds faces that lie sideways or upside down (a camera on its side, a photo without its
    EXIF orientation) or rolled past what the detector sees. Costs one detector pass per turn."""

    def __init__(self, inner: FaceDetector, turns: Sequence[float] = QUARTER_TURNS, nms_iou: float = DEFAULT_NMS_IOU):
        self.inner, self.turns, self.nms_iou = inner, tuple(turns), nms_iou

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        found, ranks = [], []
        for turn in self.turns:
            turned, back = rotate_image(bgr, turn)
            dets = as_detections(self.inner(turned))
            ranks.append(keypoint_rank(dets, upright_pass=turn == 0))
            found.append(unrotate_detections(dets, back, swap=turn % 180 == 90))
        return merge_detections(np.concatenate(found), self.nms_iou, np.concatenate(ranks))


#: A pass's keypoints are trusted when they put the face within this many degrees of upright in that pass:
#: a face at any roll is within 45 degrees of upright in one of the quarter turns; BlazeFace, which learned
#: near-upright faces, places the eyes of a face it sees sideways 50-80 degrees off, or calls it upright.
TRUSTED_ROLL = 45.0
#: Among trusted passes the best score wins, the upright pass's raised by this much: on blurry faces the
#: turned passes sometimes fire on a face upside down or sideways. On 250 FER2013 val faces set into frames
#: (bare model 67.2%), pipeline accuracy clean / rolled 30 / rolled 45 / sideways: 64.0 / 63.6 / 64.8 / 65.6%
#: with no bonus, 64.8 / 64.8 / 64.0 / 65.2% with 0.1, 64.8 / 64.8 / 63.2 / 58.8% with the upright pass always
#: first.
UPRIGHT_BONUS = 0.1


def keypoint_rank(dets: np.ndarray, upright_pass: bool) -> np.ndarray:
    """Which detection's box and keypoints a face keeps when passes over turned images merge (lower wins):
    trusted detections (within :data:`TRUSTED_ROLL` of upright in their pass) by score, the upright pass's
    raised by :data:`UPRIGHT_BONUS`; then the others by score."""
    if len(dets) == 0:
        return np.zeros(0, np.float32)
    roll = np.degrees(np.arctan2(dets[:, 8] - dets[:, 6], dets[:, 7] - dets[:, 5]))
    trusted = np.abs(roll) <= TRUSTED_ROLL
    bonus = UPRIGHT_BONUS if upright_pass else 0.0
    return np.where(trusted, -(dets[:, 4] + bonus), 10.0 - dets[:, 4]).astype(np.float32)


class WholeImage:
    """``--detector none``: the whole image is one face (crops from a dataset or from another detector)."""

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        row = np.full((1, DET_COLUMNS), np.nan, np.float32)
        row[0, :5] = (0, 0, w, h, 1.0)
        return row


@dataclass
class DetectStats:
    """What the last call of a :class:`TiledDetector` cost: passes over the whole image, tiles, seconds."""

    whole_passes: int = 0
    tiles: int = 0
    levels: int = 0
    seconds: float = 0.0
    shrunk_to: tuple[int, int] | None = None


#: A face this many pixels across (in the model's 192x192 input) is found by full-range reliably; it finds
#: faces from ~12 px in real photos (group-six-faces.jpg's faces scaled down one by one).
FULL_RANGE_FACE_PX = 24
#: Tile side: full-range's input, so a tile is fed without resizing.
TILE = 192
#: Default smallest face side (pixels) that ``auto`` looks for in big photos.
DEFAULT_MIN_FACE_PX = 64
#: Full-range's threshold on tiles: hundreds of tiles per big photo give texture many chances to pass
#: 0.5 (a jacket fold and a drain grate at 0.55-0.57 in the sideways group photo; its faces score 0.58-0.95
#: in tiles, and upright faces 0.84 and up).
TILE_CONF = 0.6
#: Photos longer than this are shrunk first; bounds the number of tiles (and the time) per photo.
MAX_SIDE = 16000


#: A still whose mean gray level is below this share of white is brightened for the detectors only (the
#: crops are cut from the image as it is): gamma raising its mean to half of white.
DARK_MEAN = 0.3
#: A still whose gray levels (0.5th to 99.5th percentile) span less than this share of 0..255 (a dim room, haze,
#: a washed-out print) is first stretched linearly to the full range, for the detectors only.
NARROW_RANGE = 0.6
#: Percentiles that set that range: a few specular or black pixels do not count.
RANGE_PERCENTILES = (0.5, 99.5)


def gray_range(bgr: np.ndarray) -> tuple[float, float]:
    """The gray levels at :data:`RANGE_PERCENTILES` of ``bgr`` (from its 256-bin histogram)."""
    gray = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cdf = np.cumsum(cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel())
    lo, hi = (np.searchsorted(cdf, cdf[-1] * q / 100.0) for q in RANGE_PERCENTILES)
    return float(lo), float(hi)


def expose_for_detection(bgr: np.ndarray) -> np.ndarray:
    """``bgr`` as the detectors should see it: stretched linearly to the full range where its levels span
    less than :data:`NARROW_RANGE` of it, then brightened by a gamma curve that lifts its mean to mid-gray
    where it is dark (mean below :data:`DARK_MEAN`); else ``bgr`` itself. BlazeFace misses faces in dark
    midtones (on 200 FER2013 val faces set into frames under gamma 2.2 it finds 83.5%, 90% after the gamma
    curve; clean 91.5%), and on a dim or hazy photo it draws looser boxes (the group photo at x0.3 exposure or
    contrast: 12-15% wider for some faces than on the clean photo, the same after the stretch), which changes the
    crop's framing."""
    if not bgr.size:
        return bgr
    lo, hi = gray_range(bgr)
    if 0 < hi - lo < NARROW_RANGE * 255.0:
        lut = np.clip(np.rint((np.arange(256) - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        bgr = cv2.LUT(bgr, lut)
    mean = sum(cv2.mean(bgr)[:3]) / (3 * 255.0)
    if mean >= DARK_MEAN or mean <= 0.0:
        return bgr
    gamma = math.log(0.5) / math.log(mean)
    lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255).astype(np.uint8)
    return cv2.LUT(bgr, lut)


#: A face whose eye line is this many degrees or more off the nearest quarter turn gets its box again from
#: the short-range detector on an upright view of it (the roll alignment's own threshold, see
#: :data:`edge_fer.preprocessing.ALIGN_MIN_DEGREES`).
REFINE_MIN_DEGREES = 20.0
#: The upright view spans this many box sides around the face, and is this many pixels wide.
REFINE_CONTEXT, REFINE_PX = 2.0, 256


def refine_rolled(bgr: np.ndarray, dets: np.ndarray, short: FaceDetector) -> np.ndarray:
    """``dets`` with the box of each rolled face (eyes :data:`REFINE_MIN_DEGREES` or more off a quarter turn)
    re-measured upright. BlazeFace's box for a rolled face is not the face's upright box: on the group photo
    rolled 30 degrees one face's box is 1.33x its upright size, others' 0.88x, so a crop framed from it is
    too loose or too tight. One short-range pass on a :data:`REFINE_PX`-pixel view turned upright by the eye
    line (the same turn the aligned crop makes) gives the box an upright face would get; its centre and
    keypoints are mapped back, the box stays square and axis-aligned in image coordinates. A face the pass
    does not find keeps its box. Costs one short-range pass per rolled face (stills only)."""
    if len(dets) == 0 or dets.shape[1] < 9:
        return dets
    out = dets.copy()
    for i, det in enumerate(dets):
        roll = math.degrees(math.atan2(det[8] - det[6], det[7] - det[5]))
        if not np.isfinite(roll) or abs(roll - 90.0 * round(roll / 90.0)) < REFINE_MIN_DEGREES:
            continue
        cx, cy = det[0] + det[2] / 2.0, det[1] + det[3] / 2.0
        k = REFINE_PX / (REFINE_CONTEXT * max(det[2], det[3]))
        forward = cv2.getRotationMatrix2D((float(cx), float(cy)), roll, k)
        forward[:, 2] += (REFINE_PX / 2.0 - cx, REFINE_PX / 2.0 - cy)
        view = cv2.warpAffine(bgr, forward, (REFINE_PX, REFINE_PX), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        found = as_detections(short(view))
        if len(found) == 0:
            continue
        centres = found[:, :2] + found[:, 2:4] / 2.0
        best = int(np.argmin(np.hypot(*(centres - REFINE_PX / 2.0).T)))
        if np.hypot(*(centres[best] - REFINE_PX / 2.0)) > REFINE_PX / (2.0 * REFINE_CONTEXT):
            continue  # the face the view was centred on is not the one found
        back = cv2.invertAffineTransform(forward)
        side = max(found[best, 2], found[best, 3]) / k
        mx, my = back[:, :2] @ centres[best] + back[:, 2]
        out[i, :4] = (mx - side / 2.0, my - side / 2.0, side, side)
        pts = found[best, 5:].reshape(-1, 2)
        out[i, 5:] = (pts @ back[:, :2].T + back[:, 2]).ravel()
    return out


class TiledDetector:
    """For still photos: short- and full-range on the whole image (shrunk to :data:`WHOLE_SIDE`), turned by
    each of ``turns`` (so rolled, sideways and upside-down faces are found too), and full-range over a pyramid
    of tiles for small faces in big photos, all merged by NMS (see :func:`merge_detections`); a dark photo is
    brightened for them first (:func:`expose_for_detection`).

    The tiles are sized by the face sought, not by the photo: level 0 shrinks the photo so that a face of
    ``min_face`` pixels becomes :data:`FULL_RANGE_FACE_PX` and cuts it into 192x192 tiles overlapping by
    ``overlap`` (a face up to ``overlap`` x 192 input pixels lies whole in some tile); each next level halves
    the scale, until the photo fits one tile. Work grows with the photo's area over ``min_face`` squared:
    photos longer than ``max_side`` are shrunk to it first. ``stats`` tells what the last call cost.
    """

    def __init__(
        self,
        conf: float | None = None,
        nms_iou: float = DEFAULT_NMS_IOU,
        threads: int | None = None,
        min_face: int = DEFAULT_MIN_FACE_PX,
        turns: Sequence[float] = EIGHTH_TURNS,
        overlap: float = 0.35,
        max_side: int = MAX_SIDE,
    ):
        if min_face < 8:
            raise EdgeFerError(f"smallest face {min_face} px is below 8 px; faces that small carry no expression")
        self.short = BlazeFace("short", conf, nms_iou, threads)
        self.full = BlazeFace("full", conf, nms_iou, threads)
        self.whole = Rotations(_Both(self.short, self.full, nms_iou), turns, nms_iou)
        self.min_face, self.overlap, self.nms_iou, self.max_side = min_face, overlap, nms_iou, max_side
        self.tile_conf = max(self.full.conf, TILE_CONF)
        self.stats = DetectStats()

    def levels(self, h: int, w: int) -> list[float]:
        """Scales of the tile pyramid for an ``h`` x ``w`` photo (empty when it fits one tile already)."""
        out = []
        scale = FULL_RANGE_FACE_PX / self.min_face
        while max(h, w) * scale > TILE:
            out.append(min(scale, 1.0))
            if scale >= 1.0:
                break
            scale /= 2.0
        return out

    def tiles(self, h: int, w: int) -> list[tuple[int, int]]:
        """Top-left corners of the ``TILE`` squares covering an ``h`` x ``w`` image with ``overlap``."""
        step = max(1, int(TILE * (1.0 - self.overlap)))

        def starts(n: int) -> list[int]:
            out = list(range(0, max(n - TILE, 0) + 1, step))
            if out[-1] + TILE < n:
                out.append(n - TILE)
            return out

        return [(x, y) for y in starts(h) for x in starts(w)]

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        h, w = bgr.shape[:2]
        shrink = min(1.0, self.max_side / max(h, w))
        self.stats = DetectStats(shrunk_to=None)
        if shrink < 1.0:
            size = (max(1, round(w * shrink)), max(1, round(h * shrink)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            self.stats.shrunk_to = size
        bgr = expose_for_detection(bgr)
        whole = self._whole(bgr)
        self.stats.whole_passes = 2 * len(self.whole.turns)
        tiled = np.concatenate([np.zeros((0, DET_COLUMNS), np.float32), *self._tiled(bgr)])
        # A face the whole-image passes found keeps their box and keypoints; tiles add the faces they missed.
        ranks = np.concatenate([np.zeros(len(whole), np.float32), np.ones(len(tiled), np.float32)])
        dets = merge_detections(np.concatenate([whole, tiled]), self.nms_iou, ranks)
        dets = refine_rolled(bgr, dets, self.short)
        if shrink < 1.0:
            dets[:, :4] /= shrink
            dets[:, 5:] /= shrink
        self.stats.seconds = time.perf_counter() - start
        return dets

    def _whole(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        k = min(1.0, WHOLE_SIDE / max(h, w))
        if k == 1.0:
            return self.whole(bgr)
        small = cv2.resize(bgr, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        dets = self.whole(small)
        dets[:, :4] /= k
        dets[:, 5:] /= k
        return dets

    def _tiled(self, bgr: np.ndarray) -> list[np.ndarray]:
        h, w = bgr.shape[:2]
        found = []
        for scale in self.levels(h, w):
            self.stats.levels += 1
            img = bgr
            if scale < 1.0:
                img = cv2.resize(
                    bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
                )
            sh, sw = img.shape[:2]
            for x0, y0 in self.tiles(sh, sw):
                tile = img[y0 : y0 + TILE, x0 : x0 + TILE]
                if tile.shape[:2] != (TILE, TILE):  # an image narrower than a tile: pad, keep scale 1
                    tile = cv2.copyMakeBorder(
                        tile, 0, TILE - tile.shape[0], 0, TILE - tile.shape[1], cv2.BORDER_CONSTANT, value=0
                    )
                dets = self.full(np.ascontiguousarray(tile))
                dets = dets[dets[:, 4] >= self.tile_conf]
                self.stats.tiles += 1
                x1, y1 = x0 + TILE, y0 + TILE
                # Drop faces cut by an inner tile edge: a neighbouring tile sees them whole.
                inner = np.ones(len(dets), bool)
                if x0 > 0:
                    inner &= dets[:, 0] > 2
                if y0 > 0:
                    inner &= dets[:, 1] > 2
                if x1 < sw:
                    inner &= dets[:, 0] + dets[:, 2] < TILE - 2
                if y1 < sh:
                    inner &= dets[:, 1] + dets[:, 3] < TILE - 2
                dets = dets[inner]
                dets[:, [0, 5, 7, 9, 11, 13, 15]] += x0
                dets[:, [1, 6, 8, 10, 12, 14, 16]] += y0
                dets[:, :4] /= scale
                dets[:, 5:] /= scale
                found.append(dets)
        return found


class _Both:
    """Short- and full-range on the same image, merged."""

    def __init__(self, short: BlazeFace, full: BlazeFace, nms_iou: float):
        self.short, self.full, self.nms_iou = short, full, nms_iou

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        return merge_detections(np.concatenate([self.short(bgr), self.full(bgr)]), self.nms_iou)


def create_detector(
    kind: str | DetectorKind = "short",
    conf: float | None = None,
    threads: int | None = None,
    nms_iou: float = DEFAULT_NMS_IOU,
    rotations: bool | None = None,
    min_face: int = DEFAULT_MIN_FACE_PX,
) -> FaceDetector:
    """The detector for ``kind``: ``short`` (video, default), ``full`` (distant faces), ``auto`` (photos: both
    models, eighth turns and tiles for faces down to ``min_face`` px) or ``none`` (the whole image is the
    face). ``rotations``: also search the image turned (None: ``auto`` does, every 45 degrees;
    ``short`` and ``full`` do not; True: they do, by quarter turns). ``conf`` None: each model's own default
    (:data:`DEFAULT_CONF`)."""
    name = kind.value if isinstance(kind, DetectorKind) else str(kind)
    if name == "auto":
        turns = (0,) if rotations is False else EIGHTH_TURNS
        return TiledDetector(conf, nms_iou, threads, min_face=min_face, turns=turns)
    if name == "none":
        return WholeImage()
    if name in _SPECS:
        det = BlazeFace(name, conf, nms_iou, threads)
        return Rotations(det, QUARTER_TURNS, nms_iou) if rotations else det
    raise EdgeFerError(f"unknown detector {name!r}; choose one of {', '.join(k.value for k in DetectorKind)}")
