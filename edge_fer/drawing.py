"""The overlay: a box per face in its emotion's colour, the label and confidence, a small probability bar
chart beside the box, and the frame rate. Draws in place (no copy of the frame)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from edge_fer.recognizer import Face

#: BGR colour per label; unknown labels get grey.
COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 240),
    "neutral": (200, 200, 200),
    "sad": (200, 120, 40),
    "surprise": (40, 160, 255),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _scale(frame: np.ndarray, face_side: int | None = None) -> float:
    """Font scale that reads on a 320x240 webcam frame and on a 4K photo alike, and (for a face's label)
    stays near the size of the face, so labels of small faces in a group photo do not cover their neighbours."""
    scale = float(np.clip(min(frame.shape[:2]) / 720.0, 0.35, 3.0))
    if face_side is not None:
        scale = min(scale, max(0.35, face_side / 160.0))
    return scale


def _label(frame: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float) -> None:
    """Text on a filled box of ``color``, bottom-left at (x, y), kept inside the frame."""
    thick = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    h, w = frame.shape[:2]
    x = int(min(max(x, 0), max(w - tw - 4, 0)))
    y = int(min(max(y, th + base + 4), h - 1))
    cv2.rectangle(frame, (x, y - th - base - 4), (x + tw + 4, y), color, cv2.FILLED)
    ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
    cv2.putText(frame, text, (x + 2, y - base - 2), _FONT, scale, ink, thick, cv2.LINE_AA)


Rect = tuple[int, int, int, int]  # x, y, w, h in pixels


def overlap_area(a: Rect, b: Rect) -> int:
    """Area (pixels) that two rectangles share."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def _chart_size(frame: np.ndarray, face: Face) -> tuple[int, int, int, float, int]:
    """(row height, bar width, label width, text scale, chart width) of a face's bar chart: a row per label,
    the chart about as tall as the face box."""
    h = face.box[3]
    fh, fw = frame.shape[:2]
    row_h = int(np.clip(h / max(1, len(face.probs)), 9, max(9, min(fh, fw) / 40)))
    bar_w = 4 * row_h
    text_scale = row_h / 26.0
    (lw, _), _ = cv2.getTextSize("surprise", _FONT, text_scale, 1)
    return row_h, bar_w, lw, text_scale, lw + bar_w + 6


def chart_place(frame: np.ndarray, face: Face, obstacles: Sequence[Rect] = ()) -> Rect:
    """Where a face's bar chart goes: right of its box, else left, below or above, whichever lies inside the
    frame and covers the least of ``obstacles`` (other faces' boxes, charts already drawn); ties keep that order.
    Returns the chart's rectangle (x, y, w, h)."""
    x, y, w, h = face.box
    fh, fw = frame.shape[:2]
    row_h, _, _, _, cw = _chart_size(frame, face)
    ch = max(1, len(face.probs)) * row_h
    label_h = int(row_h * 1.6)  # the label above (or below) the box
    candidates = [(x + w + 4, y), (x - cw - 4, y), (x, y + h + label_h + 4), (x, y - ch - label_h - 4)]

    def clipped(cx: int, cy: int) -> Rect:
        return int(min(max(cx, 0), max(fw - cw, 0))), int(min(max(cy, 0), max(fh - ch, 0))), cw, ch

    def cost(xy: tuple[int, int]) -> tuple[bool, int]:
        cx, cy = xy
        outside = not (cx >= 0 and cy >= 0 and cx + cw <= fw and cy + ch <= fh)
        return outside, sum(overlap_area(clipped(cx, cy), o) for o in (*obstacles, face.box))

    return clipped(*min(candidates, key=cost))  # min keeps the first of equals: right, left, below, above


def draw_bars(frame: np.ndarray, face: Face, at: Rect | None = None) -> Rect:
    """A bar per label, about as tall as the face box, at ``at`` (default :func:`chart_place` with no other
    faces); returns the chart's rectangle."""
    row_h, bar_w, lw, text_scale, _ = _chart_size(frame, face)
    x0, y0, cw, ch = at if at is not None else chart_place(frame, face)
    for i, (label, p) in enumerate(face.probs.items()):
        top = y0 + i * row_h
        color = COLORS.get(label, (160, 160, 160))
        bx = x0 + lw + 4
        cv2.rectangle(frame, (x0, top), (bx + bar_w, top + row_h), (40, 40, 40), cv2.FILLED)
        cv2.putText(frame, label, (x0 + 1, top + row_h - 3), _FONT, text_scale, (255, 255, 255), 1, cv2.LINE_AA)
        filled = round(bar_w * float(np.clip(p, 0.0, 1.0)))
        if filled > 0:
            cv2.rectangle(frame, (bx, top + 2), (bx + filled, top + row_h - 2), color, cv2.FILLED)
    return x0, y0, cw, ch


def draw_faces(frame: np.ndarray, faces: Sequence[Face], bars: bool = True) -> np.ndarray:
    """Draw every face onto ``frame`` (BGR uint8, in place) and return it. Each bar chart goes where it covers
    the fewest other faces and charts (:func:`chart_place`)."""
    for face in faces:
        x, y, w, h = face.box
        scale = _scale(frame, min(w, h))
        color = COLORS.get(face.label, (160, 160, 160))
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, max(2, round(scale * 3)))
        text = f"{face.label} {face.score:.0%}"
        if face.track_id is not None:
            text = f"#{face.track_id} {text}"
        _label(frame, text, x, y - 2 if y > 20 else y + h + 20, color, scale)
    if bars:
        boxes = [tuple(int(v) for v in f.box) for f in faces]
        charts: list[Rect] = []
        for i, face in enumerate(faces):
            others = [b for j, b in enumerate(boxes) if j != i]
            charts.append(draw_bars(frame, face, chart_place(frame, face, others + charts)))
    return frame


def draw_fps(frame: np.ndarray, fps: float) -> np.ndarray:
    """The frame rate in the top-left corner."""
    _label(frame, f"{fps:.0f} fps", 4, 4, (30, 30, 30), _scale(frame))
    return frame
