"""Faces and their emotions in an image or a stream of frames: detection, crop, classification, tracking.

``EmotionRecognizer`` is the Python API behind ``edge-fer predict`` and ``edge-fer webcam``::

    from edge_fer import EmotionRecognizer

    rec = EmotionRecognizer()  # the shipped int8 model, BlazeFace short-range
    for face in rec.detect(cv2.imread("photo.jpg")):
        print(face.box, face.label, face.score)
    for frame in rec.frames(0):  # camera 0; or a video path, an RTSP URL
        print(frame.index, [f.label for f in frame.faces])

Everything a frame needs is loaded once in the constructor; all faces of a frame are classified in one
batch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_fer.backends import Classifier, load_classifier
from edge_fer.choices import DetectorKind
from edge_fer.detectors import DEFAULT_MIN_FACE, FaceDetector, create_detector
from edge_fer.errors import EdgeFerError
from edge_fer.preprocessing import DEFAULT_MARGIN, crop_faces, to_bgr
from edge_fer.shipped import default_model_path
from edge_fer.sources import Frame, VideoSource
from edge_fer.tracking import DEFAULT_SMOOTHING, Tracker
from edge_fer.tta import with_tta

if TYPE_CHECKING:
    from edge_fer.analysis import VideoAnalysis

#: A stage clock: ``clock("detect")`` is a context manager timing that stage (see edge_fer.pipeline_bench).
StageClock = Callable[[str], contextlib.AbstractContextManager]


def _no_clock(stage: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Face:
    """One face: ``box`` = (x, y, w, h) in image pixels (clipped to the image), the top ``label`` and its
    probability ``score``, every label's probability, the detector's confidence and, in video, the id of
    the track the face belongs to."""

    box: tuple[int, int, int, int]
    label: str
    score: float
    probs: dict[str, float]
    detection_score: float = 1.0
    track_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``predict --json`` and ``webcam --json-out``."""
        return {
            "box": list(self.box),
            "label": self.label,
            "score": round(self.score, 4),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
            "track_id": self.track_id,
        }


@dataclass
class FrameResult:
    """A frame of a video source with the faces found in it."""

    index: int
    time_s: float
    image: np.ndarray
    faces: list[Face] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """One line of ``--json-out``."""
        return {"frame": self.index, "time_s": round(self.time_s, 4), "faces": [f.to_dict() for f in self.faces]}


class EmotionRecognizer:
    """Detect faces, crop them to 48x48 gray and classify their emotion.

    ``model``: a .tflite/.onnx/.keras path, an already loaded classifier, or None for the shipped model.
    ``detector``: ``"short"`` (default; webcams, faces within ~2 m), ``"full"`` (distant faces), ``"auto"``
    (both, plus tiles of big photos: for still images) or any :class:`FaceDetector` callable.
    ``min_face``: skip faces whose box side is below this many pixels. ``smoothing``: window in frames
    over which :meth:`track` / :meth:`frames` average a face's probabilities (0 = off). ``conf``: detector
    confidence threshold (None: 0.6 short-range, 0.5 full-range). ``tta``: flip test-time averaging, the
    model's own policy from its metadata (``"model"``), ``"none"`` or ``"flip"`` (always).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Classifier | None = None,
        detector: str | DetectorKind | FaceDetector = "short",
        backend: str = "auto",
        threads: int | None = None,
        margin: float = DEFAULT_MARGIN,
        min_face: int = DEFAULT_MIN_FACE,
        smoothing: int = DEFAULT_SMOOTHING,
        conf: float | None = None,
        tta: str = "model",
    ):
        if threads is not None and threads < 1:
            raise EdgeFerError(f"threads must be 1 or more, got {threads}")
        if margin < 0:
            raise EdgeFerError(f"margin must be 0 or more, got {margin}")
        if min_face < 0 or smoothing < 0:
            raise EdgeFerError("min_face and smoothing must be 0 or more")
        if model is None or isinstance(model, (str, os.PathLike)):
            path = Path(model) if model is not None else default_model_path()
            self.classifier: Classifier = with_tta(load_classifier(path, backend, threads), tta)
        else:
            self.classifier = model
        if isinstance(detector, (str, DetectorKind)):
            self.detector: FaceDetector = create_detector(detector, conf=conf, threads=threads)
            self.detector_name = detector.value if isinstance(detector, DetectorKind) else detector
        elif callable(detector):
            self.detector, self.detector_name = detector, type(detector).__name__
        else:
            raise EdgeFerError(f"detector must be 'short', 'full', 'auto' or a callable, not {detector!r}")
        self.labels: list[str] = list(self.classifier.meta.labels)
        self.margin, self.min_face, self.smoothing = float(margin), int(min_face), int(smoothing)
        self.tracker = Tracker(self.smoothing)

    def describe(self) -> dict[str, Any]:
        """What runs: classifier backend and model, detector, settings."""
        return {
            "model": str(getattr(self.classifier, "path", "?")),
            "classifier": self.classifier.describe(),
            "detector": self.detector_name,
            "margin": self.margin,
            "min_face": self.min_face,
            "smoothing": self.smoothing,
        }

    def _analyse(self, image: np.ndarray, clock: StageClock = _no_clock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4) xywh, detector scores (N,) and emotion probabilities (N, C) of the faces in ``image``."""
        with clock("detect"):
            dets = np.asarray(self.detector(image), np.float32).reshape(-1, 5)
            if self.min_face and len(dets):
                dets = dets[np.maximum(dets[:, 2], dets[:, 3]) >= self.min_face]
        with clock("crop"):
            crops, kept = crop_faces(image, dets[:, :4], self.margin)
            if len(kept) != len(dets):
                dets = dets[kept]
        with clock("classify"):
            probs = self.classifier.predict(crops) if len(crops) else np.zeros((0, len(self.labels)), np.float32)
        return dets[:, :4], dets[:, 4], probs

    def _faces(
        self, shape: tuple[int, ...], boxes: np.ndarray, det_scores: np.ndarray, probs: np.ndarray, ids: list[int]
    ) -> list[Face]:
        h, w = shape[:2]
        faces = []
        for i, (box, p) in enumerate(zip(boxes, probs)):
            x0, y0 = max(0, round(float(box[0]))), max(0, round(float(box[1])))
            x1, y1 = min(w, round(float(box[0] + box[2]))), min(h, round(float(box[1] + box[3])))
            top = int(np.argmax(p))
            faces.append(
                Face(
                    box=(x0, y0, max(0, x1 - x0), max(0, y1 - y0)),
                    label=self.labels[top],
                    score=float(p[top]),
                    probs={label: float(v) for label, v in zip(self.labels, p)},
                    detection_score=float(det_scores[i]),
                    track_id=ids[i] if ids else None,
                )
            )
        return faces

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in one image (BGR, BGRA, gray, 16-bit or float), best detection first; no tracking."""
        bgr = to_bgr(image)
        boxes, det_scores, probs = self._analyse(bgr)
        return self._faces(bgr.shape, boxes, det_scores, probs, [])

    def track(self, image: np.ndarray, clock: StageClock = _no_clock) -> list[Face]:
        """Faces in the next frame of a video: matched to the previous frames' faces (``track_id``) and
        with probabilities smoothed over the last ``smoothing`` frames of their track."""
        bgr = to_bgr(image)
        boxes, det_scores, probs = self._analyse(bgr, clock)
        with clock("track"):
            ids, smoothed = self.tracker.update(boxes, probs)
        return self._faces(bgr.shape, boxes, det_scores, smoothed, ids)

    def reset(self) -> None:
        """Forget tracks before a new, unrelated video."""
        self.tracker.reset()

    def frames(
        self,
        source: str | int | os.PathLike[str] | VideoSource = 0,
        max_frames: int | None = None,
        reuse: bool = False,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> Iterator[FrameResult]:
        """Read ``source`` (camera index, video file, stream URL, image, or an opened :class:`VideoSource`)
        and yield each frame with its tracked faces. ``reuse=True``: frames share one buffer (copy to keep)."""
        video = source if isinstance(source, VideoSource) else VideoSource(source, width, height, fps)
        if video.cap is None and video.image is None:
            video.open()
        self.reset()
        try:
            for frame in video.frames(max_frames=max_frames, reuse=reuse):
                yield self._frame_result(frame)
        finally:
            if not isinstance(source, VideoSource):
                video.close()

    def _frame_result(self, frame: Frame) -> FrameResult:
        return FrameResult(frame.index, frame.time_s, frame.image, self.track(frame.image))

    def analyze_video(
        self,
        source: str | os.PathLike[str] | VideoSource,
        max_frames: int | None = None,
        annotated: str | os.PathLike[str] | None = None,
    ) -> VideoAnalysis:
        """Every frame of a video as a table: one row per face per frame (a faceless frame gets one row with
        empty face fields), each with its media time from the container; a summary per track and per video.

        Returns a :class:`edge_fer.analysis.VideoAnalysis` with ``.rows``, ``.summary``, ``.to_csv(path)``
        and ``.to_pandas()``. ``annotated``: also write the overlay video there. A cut or damaged file is
        processed up to its last readable frame (``summary.complete`` is False).
        """
        from edge_fer.analysis import analyze_video

        return analyze_video(self, source, max_frames=max_frames, annotated=annotated)


def recognizer_for(settings: Any) -> EmotionRecognizer:
    """A recognizer for :class:`edge_fer.analysis.AnalysisSettings` (any object with its fields); loads the
    models, so make one per worker, not per video.

    ``threads`` also caps OpenCV's own threads in this process (video decoding, resizing), as ``bench
    --pipeline`` does: on a busy or small CPU, FFmpeg's decoding threads otherwise fight the models
    for the cores (one thread decodes this project's test video at 0.8 ms a frame, several at 1.6-10).
    """
    import cv2

    if settings.threads is not None:
        cv2.setNumThreads(settings.threads)
    return EmotionRecognizer(
        model=settings.model,
        detector=settings.detector,
        backend=settings.backend,
        threads=settings.threads,
        margin=settings.margin,
        min_face=settings.min_face,
        smoothing=settings.smoothing,
        conf=settings.conf,
        tta=settings.tta,
    )
