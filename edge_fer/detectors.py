"""Face detection with BlazeFace (MediaPipe's short- and full-range models) on edge-fer's TFLite backend.

The .tflite files are MediaPipe's (Apache-2.0) and ship inside edge-fer (``edge_fer/blazeface/``, with their
licence and source), so the runtime needs no download and no TensorFlow. Everything a frame
needs (interpreter, anchors, input buffer, letterbox geometry) is made once; a frame costs one resize,
one invoke and a decode of the few anchors above the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from edge_fer.backends import create_interpreter
from edge_fer.boxes import iou_xyxy, xywh_to_xyxy, xyxy_to_xywh
from edge_fer.choices import DetectorKind
from edge_fer.errors import EdgeFerError, ModelError

__all__ = ["BlazeFace", "DetectorKind", "FaceDetector", "TiledDetector", "create_detector", "model_file"]

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


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces: called with a BGR uint8 frame, returns an (N, 5) float32 array of
    ``x, y, w, h, score`` in frame pixels, best first."""

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


def weighted_nms(corners: np.ndarray, scores: np.ndarray, iou: float = DEFAULT_NMS_IOU) -> np.ndarray:
    """MediaPipe's weighted NMS: each cluster of overlapping boxes becomes their score-weighted mean, with
    the best score. Steadier boxes than plain NMS. Returns (K, 5) ``x0, y0, x1, y1, score``, best first."""
    order = np.argsort(-scores, kind="stable")
    corners, scores = corners[order], scores[order]
    out = []
    alive = np.ones(len(scores), bool)
    overlaps = iou_xyxy(corners, corners) > iou  # all pairs at once: one vectorised call, not one per cluster
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & overlaps[i]
        members[i] = True
        w = scores[members]
        merged = (corners[members] * w[:, None]).sum(axis=0) / w.sum()
        out.append([*merged, scores[i]])
        alive &= ~members
    return np.asarray(out, np.float32).reshape(-1, 5)


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
        """Faces in a BGR uint8 frame: (N, 5) ``x, y, w, h, score`` in frame pixels, best first."""
        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
            raise ValueError(f"BlazeFace takes BGR uint8 frames, got {bgr.dtype} {bgr.shape}")
        scale, px, py = self._letterbox(bgr)
        self.interpreter.set_tensor(self._in_index, self._input)
        self.interpreter.invoke()
        raw_scores = self.interpreter.get_tensor(self._score_index)[0, :, 0]
        hits = np.flatnonzero(raw_scores > self._logit)
        if len(hits) == 0:
            return np.zeros((0, 5), np.float32)
        raw = self.interpreter.get_tensor(self._box_index)[0, hits, :4]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[hits], -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
        # Offsets are in input pixels relative to the anchor centre; sizes in input pixels.
        cx = raw[:, 0] + self.anchors[hits, 0] * self.size
        cy = raw[:, 1] + self.anchors[hits, 1] * self.size
        half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
        corners = np.stack([cx - half_w - px, cy - half_h - py, cx + half_w - px, cy + half_h - py], axis=1) / scale
        valid = (raw[:, 2] > 0) & (raw[:, 3] > 0)
        if not valid.all():
            corners, scores = corners[valid], scores[valid]
        return xyxy_to_xywh(weighted_nms(corners.astype(np.float32), scores.astype(np.float32), self.nms_iou))


class TiledDetector:
    """For photos: short-range on the whole image for big faces, full-range on the whole image and on
    overlapping tiles for small, distant ones, merged by weighted NMS. Photos larger than ``max_side`` are
    shrunk once first. Several invokes per image, so meant for ``predict``, not for video."""

    def __init__(
        self,
        conf: float | None = None,
        nms_iou: float = DEFAULT_NMS_IOU,
        threads: int | None = None,
        tile: int = 1024,
        overlap: float = 0.25,
        max_side: int = 4096,
    ):
        self.short = BlazeFace("short", conf, nms_iou, threads)
        self.full = BlazeFace("full", conf, nms_iou, threads)
        self.tile, self.overlap, self.nms_iou, self.max_side = tile, overlap, nms_iou, max_side

    def tiles(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Square tiles ``(x0, y0, x1, y1)`` covering the frame with overlap; none up to twice the tile side
        (full-range on the whole image finds faces down to about 1/20 of its long side)."""
        if max(h, w) <= 2 * self.tile:
            return []
        side = max(self.tile, math.ceil(max(h, w) / 3))
        step = max(1, int(side * (1.0 - self.overlap)))
        xs = list(range(0, max(w - side, 0) + 1, step))
        ys = list(range(0, max(h - side, 0) + 1, step))
        if xs[-1] + side < w:
            xs.append(max(w - side, 0))
        if ys[-1] + side < h:
            ys.append(max(h - side, 0))
        return [(x, y, min(x + side, w), min(y + side, h)) for y in ys for x in xs]

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            # Beyond max_side more pixels only cost time: a face the detector can see at 1/3 of 4096 px is
            # big enough to be seen after one shrink.
            small = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            dets = self._detect(small)
            dets[:, :4] /= scale
            return dets
        return self._detect(bgr)

    def _detect(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        found = [self.short(bgr), self.full(bgr)]
        for x0, y0, x1, y1 in self.tiles(h, w):
            dets = self.full(np.ascontiguousarray(bgr[y0:y1, x0:x1]))
            # Drop faces cut by an inner tile edge: a neighbouring tile sees them whole.
            inner = np.ones(len(dets), bool)
            if x0 > 0:
                inner &= dets[:, 0] > 2
            if y0 > 0:
                inner &= dets[:, 1] > 2
            if x1 < w:
                inner &= dets[:, 0] + dets[:, 2] < (x1 - x0) - 2
            if y1 < h:
                inner &= dets[:, 1] + dets[:, 3] < (y1 - y0) - 2
            dets = dets[inner]
            dets[:, 0] += x0
            dets[:, 1] += y0
            found.append(dets)
        dets = np.concatenate(found)
        if len(dets) == 0:
            return dets
        corners = xywh_to_xyxy(dets)
        return xyxy_to_xywh(weighted_nms(corners[:, :4], corners[:, 4], self.nms_iou))


def create_detector(
    kind: str | DetectorKind = "short",
    conf: float | None = None,
    threads: int | None = None,
    nms_iou: float = DEFAULT_NMS_IOU,
) -> FaceDetector:
    """The detector for ``kind``: ``short`` (video, default), ``full`` (distant faces) or ``auto`` (photos).
    ``conf`` None: each model's own default (:data:`DEFAULT_CONF`)."""
    name = kind.value if isinstance(kind, DetectorKind) else str(kind)
    if name == "auto":
        return TiledDetector(conf, nms_iou, threads)
    if name in _SPECS:
        return BlazeFace(name, conf, nms_iou, threads)
    raise EdgeFerError(f"unknown detector {name!r}; choose one of {', '.join(k.value for k in DetectorKind)}")
