"""Follow faces from frame to frame by box overlap, and smooth each face's emotion over a few frames.

A per-frame classifier flickers between neighbouring labels (neutral/sad, fear/surprise) on a face that
does not change; averaging a track's last few probability vectors steadies the label at the cost of a
few frames' delay. IoU matching is enough at video frame rates, where a face moves little per frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge_fer.boxes import iou_xywh

#: Default smoothing window in frames (about a fifth of a second at 25 fps).
DEFAULT_SMOOTHING = 5
#: A track survives this many frames without a matching detection (a blink of the detector).
DEFAULT_MAX_MISSED = 5
#: Minimum IoU between a track's last box and a detection for them to be the same face.
DEFAULT_MIN_IOU = 0.3


@dataclass
class Track:
    """One face followed across frames: its id, last box and recent probabilities."""

    track_id: int
    box: np.ndarray
    history: deque = field(default_factory=deque)
    missed: int = 0
    age: int = 0


class Tracker:
    """Greedy IoU tracker with per-track probability smoothing.

    ``smoothing`` is the window in frames over which a track's probabilities are averaged; 0 or 1 turns
    smoothing off (each frame's own probabilities are returned), tracking and ids stay on.
    """

    def __init__(
        self,
        smoothing: int = DEFAULT_SMOOTHING,
        min_iou: float = DEFAULT_MIN_IOU,
        max_missed: int = DEFAULT_MAX_MISSED,
    ):
        if smoothing < 0:
            raise ValueError(f"smoothing window {smoothing} must be 0 (off) or more frames")
        self.window = max(1, int(smoothing))
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (a new video, a jump in the stream)."""
        self.tracks.clear()
        self._next_id = 1

    def update(self, boxes: np.ndarray, probs: np.ndarray) -> tuple[list[int], np.ndarray]:
        """Match this frame's faces (``boxes`` (N, 4) xywh, ``probs`` (N, C)) to tracks; return their track
        ids and smoothed probabilities (N, C), in the order given."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        probs = np.asarray(probs, np.float32)
        if probs.ndim != 2 or len(probs) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but probabilities of shape {probs.shape}")
        ids = [0] * len(boxes)
        assigned = [-1] * len(boxes)
        if self.tracks and len(boxes):
            ious = iou_xywh(np.stack([t.box for t in self.tracks]), boxes)
            # Greedy: best overlaps first; each track and each face used once.
            for flat in np.argsort(-ious, axis=None, kind="stable"):
                ti, fi = divmod(int(flat), len(boxes))
                if ious[ti, fi] < self.min_iou:
                    break
                if assigned[fi] >= 0 or any(a == ti for a in assigned):
                    continue
                assigned[fi] = ti
        matched = set()
        out = np.empty_like(probs)
        for fi in range(len(boxes)):
            ti = assigned[fi]
            if ti >= 0:
                track = self.tracks[ti]
                matched.add(ti)
            else:
                track = Track(self._next_id, boxes[fi], deque(maxlen=self.window))
                self._next_id += 1
                self.tracks.append(track)
                matched.add(len(self.tracks) - 1)
            track.box, track.missed = boxes[fi], 0
            track.age += 1
            track.history.append(probs[fi])
            out[fi] = np.mean(track.history, axis=0) if len(track.history) > 1 else probs[fi]
            ids[fi] = track.track_id
        for i, track in enumerate(self.tracks):
            if i not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return ids, out
