"""The Python API: EmotionRecognizer, Face, frame sources, image loading and the video loop."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_models import FixedDetector, converted, write_video

from edge_fer import EmotionRecognizer, Face
from edge_fer.errors import OutputExistsError, SourceError
from edge_fer.metadata import ModelMeta
from edge_fer.sources import VideoSource, collect_images, load_image, source_kind
from edge_fer.video import run_video

FACE_KEYS = {"box", "label", "score", "probs", "track_id"}


@pytest.fixture(scope="module")
def tflite_model(trained_keras) -> Path:
    return converted(str(trained_keras))["tflite"]


class FlickerClassifier:
    """A stand-in classifier whose answer alternates between neutral and sad, frame after frame."""

    backend = "fake"
    path = Path("flicker")

    def __init__(self) -> None:
        self.meta = ModelMeta()
        self.calls = 0

    def predict(self, faces: np.ndarray) -> np.ndarray:
        self.calls += 1
        row = np.zeros(7, np.float32)
        row[[4, 5]] = (0.6, 0.4) if self.calls % 2 else (0.4, 0.6)
        return np.tile(row, (len(faces), 1))

    def describe(self) -> dict:
        return {"backend": "fake"}


def test_detect_returns_typed_faces(tflite_model) -> None:
    frame = np.full((240, 320, 3), 100, np.uint8)
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([(-30, 40, 100, 100), (150, 60, 80, 80)]))
    faces = rec.detect(frame)
    assert len(faces) == 2 and all(isinstance(f, Face) for f in faces)
    first = faces[0]
    assert first.box == (0, 40, 70, 100)  # clipped to the frame
    assert all(isinstance(v, int) for v in first.box)
    assert set(first.probs) == set(rec.labels) and sum(first.probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert first.label == max(first.probs, key=first.probs.get) and first.score == first.probs[first.label]
    assert first.track_id is None and first.detection_score == pytest.approx(0.9)
    d = first.to_dict()
    assert set(d) == FACE_KEYS and json.loads(json.dumps(d)) == d


def test_zero_and_fifty_faces_and_min_face(tflite_model) -> None:
    frame = np.full((600, 1000, 3), 120, np.uint8)
    assert EmotionRecognizer(tflite_model, detector=FixedDetector([])).detect(frame) == []
    fifty = [(100 * (i % 10), 100 * (i // 10), 90, 90) for i in range(50)]
    faces = EmotionRecognizer(tflite_model, detector=FixedDetector(fifty)).detect(frame)
    assert len(faces) == 50
    tiny = FixedDetector([(10, 10, 12, 12), (100, 100, 60, 60), (5000, 5000, 50, 50)])
    faces = EmotionRecognizer(tflite_model, detector=tiny, min_face=20).detect(frame)
    assert [f.box for f in faces] == [(100, 100, 60, 60)]  # tiny one skipped, the one outside dropped
    assert len(EmotionRecognizer(tflite_model, detector=tiny, min_face=0).detect(frame)) == 2


@pytest.mark.parametrize(
    "image",
    [
        np.full((120, 160), 90, np.uint8),
        np.full((120, 160, 4), 90, np.uint8),
        np.full((120, 160, 3), 40000, np.uint16),
        np.full((120, 160, 3), 0.4, np.float32),
        np.full((1, 1, 3), 90, np.uint8),
    ],
    ids=["gray", "bgra", "16bit", "float", "1x1"],
)
def test_any_image_kind_is_converted(tflite_model, image: np.ndarray) -> None:
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([(0, 0, 40, 40)]), min_face=0)
    faces = rec.detect(image)
    assert len(faces) == 1
    # The real detector takes them too (and finds nothing in a flat image).
    assert EmotionRecognizer(tflite_model).detect(image) == []


def test_smoothing_in_the_recognizer(tflite_model, tmp_path) -> None:
    video = write_video(tmp_path / "flat.mp4", n=10)
    det = FixedDetector([(40, 30, 60, 60)])
    labels = {}
    for smoothing in (0, 4):
        rec = EmotionRecognizer(FlickerClassifier(), detector=det, smoothing=smoothing, min_face=0)
        results = list(rec.frames(video))
        assert len(results) == 10 and all(r.faces[0].track_id == 1 for r in results)
        labels[smoothing] = [r.faces[0].label for r in results]
    assert labels[0] == ["neutral", "sad"] * 5
    assert sum(a != b for a, b in zip(labels[4], labels[4][1:])) <= 1


def test_frames_iterator_over_a_video(tflite_model, tmp_path) -> None:
    video = write_video(tmp_path / "v.mp4", n=8, size=(200, 150))
    rec = EmotionRecognizer(tflite_model)
    results = list(rec.frames(video, max_frames=5))
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [round(r.time_s, 3) for r in results] == [0.0, 0.05, 0.1, 0.15, 0.2]  # 20 fps
    assert all(r.image.shape == (150, 200, 3) and r.faces == [] for r in results)
    line = results[0].to_dict()
    assert line == {"frame": 0, "time_s": 0.0, "faces": []}


def test_source_kinds() -> None:
    assert source_kind(0) == source_kind("1") == "camera"
    assert source_kind("rtsp://cam/live") == source_kind("http://x/y.mjpg") == "stream"
    assert source_kind("a/b.PNG") == "image" and source_kind("clip.mp4") == "file"


def test_bad_sources_raise_one_line_errors(tmp_path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    cases = [
        (tmp_path / "missing.mp4", "no such file"),
        (text, "cannot be read as a video"),
        (tmp_path, "is a folder"),
        ("99", "camera 99: cannot be opened"),
    ]
    for source, message in cases:
        with pytest.raises(SourceError, match=message) as info:
            VideoSource(source).open()
        assert "\n" not in str(info.value)


def test_stream_that_does_not_answer(tmp_path) -> None:
    src = VideoSource("rtsp://127.0.0.1:9/nothing", retries=1, retry_delay_s=0.01)
    with pytest.raises(SourceError, match=r"stream rtsp://127\.0\.0\.1:9/nothing: does not answer after 2 tries"):
        src.open()


def test_live_source_that_drops_is_retried_then_ends(tmp_path, monkeypatch) -> None:
    """A camera whose reads start failing mid-run: reopened `retries` times, then a clean end."""
    video = write_video(tmp_path / "v.mp4", n=5)
    src = VideoSource(str(video), retries=2, retry_delay_s=0.0)
    src.open()
    src.kind = "camera"  # behave as a live source from here on
    reopened = []

    def fake_reopen_capture():
        reopened.append(1)
        return cv2.VideoCapture(str(tmp_path / "absent.mp4"))

    monkeypatch.setattr(src, "_capture", fake_reopen_capture)
    frames = list(src.frames())
    assert len(frames) == 5
    assert len(reopened) == 2
    assert "gave up after 2 retries" in src.stop_reason


def test_load_image_conversions_and_errors(tmp_path) -> None:
    cases = {
        "gray.png": np.full((20, 30), 200, np.uint8),
        "deep.png": np.full((20, 30, 3), 51400, np.uint16),
        "alpha.png": np.full((20, 30, 4), 200, np.uint8),
        "tiny.png": np.full((1, 1, 3), 200, np.uint8),
    }
    for name, img in cases.items():
        cv2.imwrite(str(tmp_path / name), img)
        out = load_image(tmp_path / name)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name
        assert out.shape[:2] == img.shape[:2] and np.all(out == 200), name
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    for name, message in (("empty.jpg", "empty file"), ("text.jpg", "not an image"), ("nope.png", "no such file")):
        with pytest.raises(SourceError, match=message):
            load_image(tmp_path / name)
    found = collect_images([tmp_path])
    assert {p.name for p, explicit in found} == {*cases, "empty.jpg", "text.jpg"}
    assert not any(explicit for _, explicit in found)


def test_run_video_writes_outputs_atomically(tflite_model, tmp_path) -> None:
    video = write_video(tmp_path / "in.mp4", n=6, size=(160, 120))
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([(50, 30, 60, 60)]), min_face=0)
    out, lines = tmp_path / "out.mp4", tmp_path / "frames.jsonl"
    summary = run_video(rec, video, show=False, output=out, json_out=lines)
    assert (summary.frames, summary.faces, summary.frames_with_faces) == (6, 6, 6)
    assert summary.stop_reason == "end of video" and summary.mean_fps > 0
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(6))
    assert all(set(r) == {"frame", "time_s", "faces"} and set(r["faces"][0]) == FACE_KEYS for r in rows)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, first = cap.read()
    assert ok and first.shape == (120, 160, 3)
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
    # Existing outputs are refused unless forced.
    with pytest.raises(OutputExistsError):
        run_video(rec, video, show=False, output=out)
    assert run_video(rec, video, show=False, output=out, json_out=lines, force=True, max_frames=2).frames == 2
    assert len(lines.read_text().splitlines()) == 2


def test_run_video_never_leaves_half_written_files(tflite_model, tmp_path) -> None:
    video = write_video(tmp_path / "in.mp4", n=6)
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([(50, 30, 60, 60)]), min_face=0)

    def explode(result):
        if result.index == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_video(rec, video, show=False, output=tmp_path / "o.mp4", json_out=tmp_path / "f.jsonl", on_frame=explode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_window_falls_back_to_headless_without_a_display(tflite_model, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    video = write_video(tmp_path / "in.mp4", n=3)
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([(50, 30, 60, 60)]), min_face=0)
    summary = run_video(rec, video, show=True)
    assert summary.frames == 3 and summary.faces == 3
