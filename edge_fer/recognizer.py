"""Faces and their emotions in an image or a stream of frames: detection, crop, classification, tracking.

``EmotionRecognizer`` is the Python API behind ``edge-fer predict`` and ``edge-fer webcam``::

    from edge_fer import EmotionRecognizer

    rec = EmotionRecognizer()  # the shipped int8 model; the detector chosen by source kind (below)
    for face in rec.detect(cv2.imread("photo.jpg")):
        print(face.box, face.label, face.score)
    for frame in rec.frames(0):  # camera 0; or a video path, an RTSP URL
        print(frame.index, [f.label for f in frame.faces])

One rule picks the default detector by what is read, the same in the API and the CLI: still images
(:meth:`EmotionRecognizer.detect`, an image given to :meth:`EmotionRecognizer.frames`, ``predict``,
``webcam --source photo.jpg``) get ``auto`` (both BlazeFace models, quarter turns, tiles for small faces);
video frames and cameras (:meth:`EmotionRecognizer.track`, ``webcam``) get ``short``, one fast pass per
frame. Naming a detector uses it for both. All faces of a frame are classified in one batch.
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
from edge_fer.detectors import DEFAULT_MIN_FACE, FaceDetector, WholeImage, as_detections, create_detector
from edge_fer.errors import EdgeFerError, ModelError
from edge_fer.preprocessing import crop_detections, framing_of, margin_framing, to_bgr, to_face_input
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


#: The default detector by what is read (see the module docstring).
STILL_DETECTOR, VIDEO_DETECTOR = "auto", "short"


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
    ``detector``: None (default) picks by what is read: ``"auto"`` for still images, ``"short"`` for video
    and cameras (module docstring). Or, for everything: ``"short"`` (webcams, faces within ~2 m), ``"full"``
    (distant faces), ``"auto"`` (both, turned by quarter turns, and tiles for faces down to ~64 px in big
    photos), ``"none"`` (each whole image is one face: face crops from a dataset or from another
    detector) or any :class:`FaceDetector` callable.
    ``align``: turn each face upright by its eye line before the crop (needs keypoints, which BlazeFace
    gives; a face found by a quarter-turned pass is turned upright either way). ``rotations``: search video
    frames turned 90/180/270 degrees too (``auto`` always does for still images; None = that default).
    ``margin``: None (default) cuts faces as the model's training data was framed (its metadata's
    ``framing``: FER2013's for every edge-fer model so far); a number cuts the detector's box grown by that
    fraction of its side instead. ``min_face``: skip faces whose box side is below this many pixels.
    ``smoothing``: window in frames over which :meth:`track` / :meth:`frames` average a face's probabilities
    (0 = off). ``conf``: detector confidence threshold (None: 0.6 short-range, 0.5 full-range). ``tta``: flip
    test-time averaging, the model's own policy from its metadata (``"model"``), ``"none"`` or ``"flip"``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Classifier | None = None,
        detector: str | DetectorKind | FaceDetector | None = None,
        backend: str = "auto",
        threads: int | None = None,
        margin: float | None = None,
        min_face: int = DEFAULT_MIN_FACE,
        smoothing: int = DEFAULT_SMOOTHING,
        conf: float | None = None,
        tta: str = "model",
        align: bool = True,
        rotations: bool | None = None,
    ):
        if threads is not None and threads < 1:
            raise EdgeFerError(f"threads must be 1 or more, got {threads}")
        if margin is not None and margin < 0:
            raise EdgeFerError(f"margin must be 0 or more, got {margin}")
        if min_face < 0 or smoothing < 0:
            raise EdgeFerError("min_face and smoothing must be 0 or more")
        if model is None or isinstance(model, (str, os.PathLike)):
            path = Path(model) if model is not None else default_model_path()
            self.classifier: Classifier = with_tta(load_classifier(path, backend, threads), tta)
        else:
            self.classifier = model
        self._conf, self._threads, self._rotations = conf, threads, rotations
        self._detectors: dict[str, FaceDetector] = {}
        if detector is None:
            self.detector_name = f"{STILL_DETECTOR} (stills), {VIDEO_DETECTOR} (video)"
            self._kinds = {"still": STILL_DETECTOR, "video": VIDEO_DETECTOR}
        elif isinstance(detector, (str, DetectorKind)):
            name = detector.value if isinstance(detector, DetectorKind) else detector
            self._kinds = {"still": name, "video": name}
            self.detector_name = name
            self._detector("video")  # an unknown name fails here, not at the first frame
        elif callable(detector):
            self._kinds = {"still": "custom", "video": "custom"}
            self._detectors["custom"] = detector
            self.detector_name = type(detector).__name__
        else:
            raise EdgeFerError(f"detector must be 'short', 'full', 'auto', 'none' or a callable, not {detector!r}")
        self.labels: list[str] = list(self.classifier.meta.labels)
        if margin is None:
            try:
                self.framing = framing_of(self.classifier.meta.preprocessing)
            except ValueError as exc:
                raise ModelError(f"model {getattr(self.classifier, 'path', '?')}: {exc}; upgrade edge-fer") from None
        else:
            self.framing = margin_framing(margin)
        self.align, self.min_face, self.smoothing = bool(align), int(min_face), int(smoothing)
        self.tracker = Tracker(self.smoothing)

    @property
    def detector(self) -> FaceDetector:
        """The detector used on video frames (:meth:`track`)."""
        return self._detector("video")

    @property
    def still_detector(self) -> FaceDetector:
        """The detector used on still images (:meth:`detect`)."""
        return self._detector("still")

    def _detector(self, use: str) -> FaceDetector:
        """The detector for ``use`` (``still`` or ``video``), made on first use and kept."""
        kind = self._kinds[use]
        if kind not in self._detectors:
            self._detectors[kind] = create_detector(
                kind, conf=self._conf, threads=self._threads, rotations=self._rotations
            )
        return self._detectors[kind]

    def describe(self) -> dict[str, Any]:
        """What runs: classifier backend and model, detector, settings."""
        return {
            "model": str(getattr(self.classifier, "path", "?")),
            "classifier": self.classifier.describe(),
            "detector": self.detector_name,
            "framing": self.framing,
            "align": self.align,
            "min_face": self.min_face,
            "smoothing": self.smoothing,
        }

    def _crops(
        self, image: np.ndarray, clock: StageClock = _no_clock, still: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Detection rows (N, 17) and the model inputs (N, 48, 48, 1) uint8 of the faces in a BGR ``image``."""
        detector = self._detector("still" if still else "video")
        with clock("detect"):
            dets = as_detections(detector(image))
            if isinstance(detector, WholeImage):
                return dets, to_face_input(image)[None, :, :, None]
            if self.min_face and len(dets):
                dets = dets[np.maximum(dets[:, 2], dets[:, 3]) >= self.min_face]
        with clock("align" if self.align else "crop"):
            crops, kept = crop_detections(image, dets, self.framing, self.align)
        return (dets[kept] if len(kept) != len(dets) else dets), crops

    def _analyse(
        self, image: np.ndarray, clock: StageClock = _no_clock, still: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4) xywh, detector scores (N,) and emotion probabilities (N, C) of the faces in ``image``."""
        dets, crops = self._crops(image, clock, still)
        with clock("classify"):
            probs = self.classifier.predict(crops) if len(crops) else np.zeros((0, len(self.labels)), np.float32)
        return dets[:, :4], dets[:, 4], probs

    def crops(self, image: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        """The model inputs (N, 48, 48, 1) uint8 of the faces in a still image, cut (framed, aligned) exactly
        as :meth:`detect` cuts them, and their boxes ``(x, y, w, h)`` in image pixels: for tools that look at
        what the model sees (``edge-fer explain``)."""
        bgr = to_bgr(_image_array(image))
        dets, crops = self._crops(bgr, still=True)
        faces = self._faces(bgr.shape, dets[:, :4], dets[:, 4], np.zeros((len(dets), len(self.labels))), [])
        return crops, [f.box for f in faces]

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
        """Faces in one still image (BGR, BGRA, gray, 16-bit or float array), best detection first; no
        tracking. Raises EdgeFerError for anything that is not an image array (None: what ``cv2.imread``
        returns for a file it cannot read; a path: load it first)."""
        bgr = to_bgr(_image_array(image))
        boxes, det_scores, probs = self._analyse(bgr, still=True)
        return self._faces(bgr.shape, boxes, det_scores, probs, [])

    def track(self, image: np.ndarray, clock: StageClock = _no_clock) -> list[Face]:
        """Faces in the next frame of a video: matched to the previous frames' faces (``track_id``) and
        with probabilities smoothed over the last ``smoothing`` frames of their track."""
        bgr = to_bgr(_image_array(image))
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
            still = video.kind == "image"
            for frame in video.frames(max_frames=max_frames, reuse=reuse):
                yield self._frame_result(frame, still)
        finally:
            if not isinstance(source, VideoSource):
                video.close()

    def _frame_result(self, frame: Frame, still: bool = False) -> FrameResult:
        if still:
            bgr = to_bgr(frame.image)
            boxes, det_scores, probs = self._analyse(bgr, still=True)
            return FrameResult(
                frame.index, frame.time_s, frame.image, self._faces(bgr.shape, boxes, det_scores, probs, [])
            )
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


def _image_array(image: object) -> np.ndarray:
    """``image`` if it is an array; an EdgeFerError saying what was passed and what to do otherwise."""
    if isinstance(image, np.ndarray):
        return image
    if image is None:
        raise EdgeFerError(
            "detect() got None instead of an image: cv2.imread returns None for a file it cannot read; check "
            "the path, or read it with edge_fer.load_image(path), which says why it fails"
        )
    if isinstance(image, (str, os.PathLike)):
        raise EdgeFerError(
            f"detect() takes an image array, not a path ({os.fspath(image)!r}); "
            "read it first: rec.detect(edge_fer.load_image(path))"
        )
    raise EdgeFerError(f"detect() takes an image array (numpy, H x W or H x W x C), not a {type(image).__name__}")


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
        align=getattr(settings, "align", True),
        min_face=settings.min_face,
        smoothing=settings.smoothing,
        conf=settings.conf,
        tta=settings.tta,
    )
