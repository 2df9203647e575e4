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


def draw_bars(frame: np.ndarray, face: Face) -> None:
    """A bar per label, about as tall as the face box, beside it (right if there is room, else left)."""
    x, y, w, h = face.box
    fh, fw = frame.shape[:2]
    rows = max(1, len(face.probs))
    row_h = int(np.clip(h / rows, 9, max(9, min(fh, fw) / 40)))
    bar_w = 4 * row_h
    text_scale = row_h / 26.0
    (lw, _), _ = cv2.getTextSize("surprise", _FONT, text_scale, 1)
    chart_w = lw + bar_w + 6
    x0 = x + w + 4 if x + w + 4 + chart_w <= fw else max(0, x - chart_w - 4)
    y0 = int(min(max(y, 0), max(fh - rows * row_h, 0)))
    for i, (label, p) in enumerate(face.probs.items()):
        top = y0 + i * row_h
        color = COLORS.get(label, (160, 160, 160))
        bx = x0 + lw + 4
        cv2.rectangle(frame, (x0, top), (bx + bar_w, top + row_h), (40, 40, 40), cv2.FILLED)
        cv2.putText(frame, label, (x0 + 1, top + row_h - 3), _FONT, text_scale, (255, 255, 255), 1, cv2.LINE_AA)
        filled = round(bar_w * float(np.clip(p, 0.0, 1.0)))
        if filled > 0:
            cv2.rectangle(frame, (bx, top + 2), (bx + filled, top + row_h - 2), color, cv2.FILLED)


def draw_faces(frame: np.ndarray, faces: Sequence[Face], bars: bool = True) -> np.ndarray:
    """Draw every face onto ``frame`` (BGR uint8, in place) and return it."""
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
            draw_bars(frame, face)
    return frame


def draw_fps(frame: np.ndarray, fps: float) -> np.ndarray:
    """The frame rate in the top-left corner."""
    _label(frame, f"{fps:.0f} fps", 4, 4, (30, 30, 30), _scale(frame))
    return frame
