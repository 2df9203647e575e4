"""``fer``'s API on edge-fer: switch with one import.

    from edge_fer.compat import FER, Video   # instead of: from fer import FER, Video

``FER().detect_emotions(img)`` returns ``[{"box": [x, y, w, h], "emotions": {label: prob}}, ...]`` with the
probabilities rounded to two decimals and the labels in fer's order (angry, disgust, fear, happy, sad,
surprise, neutral); ``top_emotion(img)`` the first face's ``(label, score)`` or ``(None, None)``; an image
that is not an array raises :class:`InvalidImage`. ``Video(path).analyze(detector)`` returns fer's per-frame
dicts (``box0``, ``angry0``, ... for each face; only frames with a face, as fer does) and ``to_pandas``,
``get_first_face``, ``get_emotions`` and ``to_csv`` work on them as in fer.

Behind it are edge-fer's BlazeFace detector and int8 emotion model, not fer's Haar cascade / MTCNN and
Keras model (no TensorFlow). Differences that remain (also in the README):

- ``mtcnn=True`` is accepted and uses the same BlazeFace detector; ``cascade_file``, ``scale_factor``,
  ``min_neighbors``, ``offsets`` and ``compile`` are accepted and ignored; ``emotion_model`` takes an
  edge-fer model (.tflite/.onnx/.keras), not fer's .hdf5; ``min_face_size`` is edge-fer's ``min_face``.
- Boxes are edge-fer's (the detected face, clipped to the image, faces best-first), not fer's squared Haar
  boxes; in ``Video`` results they are in the frame's own coordinates (fer's are shifted by its 40-pixel pad).
- ``Video.analyze`` writes no ``data.csv`` into the working folder and no per-frame JPEGs or zip
  (``save_frames``, ``zip_images``, ``annotate_frames`` are ignored); ``save_video=True`` (fer's default)
  writes the annotated video to ``outdir/<name>_output.mp4``, atomically. ``to_csv`` writes the file it is given.
  A missing video raises :class:`edge_fer.errors.SourceError` (fer: AssertionError).
- pandas is needed only for ``to_pandas`` / ``output="pandas"`` (fer installs it; edge-fer does not).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_fer.errors import EdgeFerError, SourceError
from edge_fer.preprocessing import crop_faces, to_bgr

if TYPE_CHECKING:
    import pandas

    from edge_fer.recognizer import EmotionRecognizer

__all__ = ["FER", "InvalidImage", "Video"]

#: fer's label order (its model's output order), kept for its dicts' key order.
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class InvalidImage(EdgeFerError):
    """Not an image (None, or not an array of pixels): what fer raises, and an edge-fer error (exit 2)."""


def _check_image(img: Any) -> np.ndarray:
    if img is None or not hasattr(img, "shape"):
        raise InvalidImage("Image not valid.")
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or arr.size == 0 or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InvalidImage(f"Image not valid: shape {arr.shape}, expected (H, W), (H, W, 3) or (H, W, 4)")
    try:
        return to_bgr(arr)
    except (ValueError, TypeError) as exc:
        raise InvalidImage(f"Image not valid: {exc}") from None


def _fer_order(labels: Sequence[str]) -> list[str]:
    """The model's labels, fer's seven in fer's order first, any others after."""
    return [lab for lab in FER_LABELS if lab in labels] + [lab for lab in labels if lab not in FER_LABELS]


class FER:
    """fer's ``FER`` on edge-fer: faces and their emotions in an image (see the module docstring)."""

    def __init__(
        self,
        cascade_file: str | None = None,
        mtcnn: bool = False,
        emotion_model: str | os.PathLike[str] | None = None,
        scale_factor: float = 1.1,
        min_face_size: int = 50,
        min_neighbors: int = 5,
        offsets: tuple[int, int] = (10, 10),
        compile: bool = False,
        *,
        recognizer: EmotionRecognizer | None = None,
    ):
        from edge_fer.recognizer import EmotionRecognizer

        self.mtcnn = bool(mtcnn)
        self.recognizer = recognizer or EmotionRecognizer(model=emotion_model, detector="auto", min_face=min_face_size)
        self._order = _fer_order(self.recognizer.labels)
        self.emotions: list[dict[str, Any]] = []

    @staticmethod
    def _get_labels() -> dict[int, str]:
        """fer's index -> label map (its model's order)."""
        return dict(enumerate(FER_LABELS))

    def find_faces(self, img: np.ndarray, bgr: bool = True) -> list[list[int]]:
        """Face boxes ``[x, y, w, h]`` in the image, best detection first."""
        return [f["box"] for f in self.detect_emotions(img)]

    def _as_fer(self, box: Sequence[int], probs: dict[str, float]) -> dict[str, Any]:
        return {"box": [int(v) for v in box], "emotions": {lab: round(float(probs[lab]), 2) for lab in self._order}}

    def detect_emotions(self, img: np.ndarray, face_rectangles: Sequence[Sequence[int]] | None = None) -> list[dict]:
        """Every face's box and emotions: ``[{"box": [x, y, w, h], "emotions": {label: prob}}, ...]``.

        ``face_rectangles``: classify these boxes instead of detecting faces. Raises InvalidImage for None
        or a non-array. An image without a face gives ``[]``.
        """
        bgr = _check_image(img)
        if face_rectangles is None:
            faces = [self._as_fer(f.box, f.probs) for f in self.recognizer.detect(bgr)]
        else:
            boxes = np.asarray(face_rectangles, np.float32).reshape(-1, 4)
            crops, kept = crop_faces(bgr, boxes, self.recognizer.margin)
            probs = self.recognizer.classifier.predict(crops) if len(crops) else np.zeros((0, 0))
            labels = self.recognizer.labels
            faces = [self._as_fer(boxes[i], dict(zip(labels, p))) for i, p in zip(kept, probs)]
        self.emotions = faces
        return faces

    def top_emotion(self, img: np.ndarray) -> tuple[str | None, float | None]:
        """The first face's top emotion and its score, or ``(None, None)`` without a face."""
        faces = self.detect_emotions(img)
        if not faces:
            return None, None
        emotions = faces[0]["emotions"]
        top = max(emotions, key=lambda lab: emotions[lab])
        return top, emotions[top]


def _require_pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise EdgeFerError("this needs pandas, which edge-fer does not install: pip install pandas") from None
    return pd


class Video:
    """fer's ``Video`` on edge-fer: run a :class:`FER` detector over a video's frames (see the module docstring)."""

    def __init__(
        self,
        video_file: str | os.PathLike[str],
        outdir: str | os.PathLike[str] = "output",
        first_face_only: bool = True,
        tempfile: str | None = None,
    ):
        path = Path(video_file)
        if not path.is_file():
            raise SourceError(f"video {path}: no such file")
        self.filepath = str(video_file)
        self.filename = path.name
        self.outdir = str(outdir)
        self.first_face_only = first_face_only
        self.tempfile = tempfile

    def analyze(
        self,
        detector: FER,
        display: bool = False,
        output: str = "csv",
        frequency: int | None = None,
        max_results: int | None = None,
        save_fps: int | None = None,
        video_id: str | None = None,
        save_frames: bool = True,
        save_video: bool = True,
        annotate_frames: bool = True,
        zip_images: bool = True,
        detection_box: dict | None = None,
    ) -> list[dict[str, Any]] | pandas.DataFrame:
        """Detect faces and emotions in every ``frequency``-th frame (until ``max_results`` frames with a face).

        Returns fer's per-frame dicts (``output="csv"``) or their DataFrame (``output="pandas"``): one dict
        per frame with a face, ``box<i>`` and ``<label><i>`` for its i-th face.
        """
        if output not in ("csv", "pandas"):
            raise NotImplementedError(f"{output} is not supported")
        from edge_fer.atomic import atomic_path
        from edge_fer.drawing import draw_faces
        from edge_fer.sources import VideoSource
        from edge_fer.video_writer import TimedWriter

        step = max(1, int(frequency or 1))
        source = VideoSource(self.filepath).open()
        if save_fps:
            step = max(1, int(source.fps // save_fps)) if source.fps else step
        rec = detector.recognizer
        data: list[list[dict[str, Any]]] = []
        target = Path(self.outdir) / f"{video_id or Path(self.filepath).stem}_output.mp4"
        with contextlib.ExitStack() as stack:
            stack.callback(source.close)
            writer = None
            if save_video:
                writer = TimedWriter(stack.enter_context(atomic_path(target)), source.fps)
                stack.callback(writer.close)
            for frame in source.frames():
                if frame.index % step:
                    continue
                image = frame.image
                if detection_box is not None:
                    x0, y0 = detection_box.get("x_min", 0), detection_box.get("y_min", 0)
                    image = image[y0 : detection_box.get("y_max"), x0 : detection_box.get("x_max")]
                faces = rec.detect(image)
                if detection_box is not None:
                    faces = [_shift(f, x0, y0) for f in faces]
                if writer is not None or display:
                    draw_faces(frame.image, faces)
                if writer is not None:
                    writer.write(frame.image, frame.time_s)
                if display and _show(frame.image):
                    break
                if faces:
                    data.append([detector._as_fer(f.box, f.probs) for f in faces])
                if max_results and len(data) > max_results:
                    break
        return self.to_pandas(data) if output == "pandas" else self._to_dict(data)

    @staticmethod
    def _to_dict(data: Any) -> list[dict[str, Any]]:
        """fer's flattening: each frame's faces as ``box<i>`` and ``<label><i>`` keys (dicts pass through)."""
        if not len(data) or isinstance(data[0], dict):
            return list(data)
        rows = []
        for frame in data:
            row: dict[str, Any] = {}
            for i, face in enumerate(frame):
                row[f"box{i}"] = face["box"]
                row.update({f"{lab}{i}": p for lab, p in face["emotions"].items()})
            rows.append(row)
        return rows

    def to_pandas(self, data: Any) -> pandas.DataFrame:
        """The results as a DataFrame (first face only when ``first_face_only``, fer's default)."""
        pd = _require_pandas()
        if isinstance(data, pd.DataFrame):
            return data
        if not len(data):
            return pd.DataFrame()
        df = pd.DataFrame(self._to_dict(data))
        return self.get_first_face(df) if self.first_face_only else df

    @staticmethod
    def get_first_face(df: pandas.DataFrame) -> pandas.DataFrame:
        """Only the first face's columns, without their ``0`` suffix (a one-face frame is returned as is)."""
        if not len(df.columns) or not str(df.columns[0])[-1].isdigit():
            return df
        columns = [c for c in df.columns if str(c).endswith("0") and not str(c)[:-1][-1:].isdigit()]
        single = df[columns].copy()
        single.columns = [str(c)[:-1] for c in columns]
        return single

    @staticmethod
    def get_emotions(df: pandas.DataFrame) -> pandas.DataFrame:
        """The emotion columns (every column but the boxes)."""
        return df[[c for c in df.columns if "box" not in str(c)]]

    def to_csv(self, data: Any, filename: str | os.PathLike[str] = "data.csv") -> list[dict[str, Any]]:
        """Write the per-frame dicts to ``filename`` (columns sorted by face, then name) and return them."""
        from edge_fer.atomic import atomic_path

        rows = self._to_dict(data)
        pattern = re.compile(r"^(\D+)(\d+)$")

        def key(name: str) -> tuple[str, int]:
            m = pattern.match(name)
            return (m.group(1), int(m.group(2))) if m else (name, -1)

        columns = sorted(set().union(*(r.keys() for r in rows)), key=key) if rows else []
        with atomic_path(filename) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return rows


def _shift(face: Any, dx: int, dy: int) -> Any:
    from dataclasses import replace

    x, y, w, h = face.box
    return replace(face, box=(x + dx, y + dy, w, h))


def _show(image: np.ndarray) -> bool:
    """Show a frame in a window; True when the user pressed q (no-op without a GUI)."""
    import cv2

    try:
        cv2.imshow("Video", image)
        return (cv2.waitKey(1) & 0xFF) == ord("q")
    except cv2.error:
        return False
