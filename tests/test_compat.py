"""``from edge_fer.compat import FER, Video``: fer's documented API, answered by edge-fer's models."""

from __future__ import annotations

import numpy as np
import pytest
from runtime_models import FixedDetector, write_video

from edge_fer import EmotionRecognizer
from edge_fer.compat import FER, FER_LABELS, InvalidImage, Video

FER_KEYS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture(scope="module")
def one_face() -> FER:
    """fer's FER on the shipped model, with a stand-in detector finding one face at (20, 10, 60, 60)."""
    return FER(recognizer=EmotionRecognizer(detector=FixedDetector([(20, 10, 60, 60)]), min_face=0, threads=1))


def _check(face: dict) -> None:
    assert set(face) == {"box", "emotions"}
    assert isinstance(face["box"], list) and len(face["box"]) == 4 and all(type(v) is int for v in face["box"])
    assert list(face["emotions"]) == FER_KEYS  # fer's order
    assert all(v == round(v, 2) and 0 <= v <= 1 for v in face["emotions"].values())
    assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=0.05)


def test_detect_emotions_returns_fers_dicts(one_face) -> None:
    faces = one_face.detect_emotions(np.full((120, 160, 3), 90, np.uint8))
    assert len(faces) == 1 and faces[0]["box"] == [20, 10, 60, 60]
    _check(faces[0])
    label, score = one_face.top_emotion(np.full((120, 160, 3), 90, np.uint8))
    assert label == max(faces[0]["emotions"], key=faces[0]["emotions"].get) and score == faces[0]["emotions"][label]
    assert FER._get_labels() == dict(enumerate(FER_LABELS))


def test_no_face_and_invalid_images() -> None:
    detector = FER(mtcnn=True)  # accepted: edge-fer's detector either way
    blank = np.full((120, 160, 3), 128, np.uint8)
    assert detector.detect_emotions(blank) == [] and detector.top_emotion(blank) == (None, None)
    for bad in (None, "photo.jpg", np.zeros((0, 5, 3), np.uint8), np.zeros((4, 4, 3, 2), np.uint8)):
        with pytest.raises(InvalidImage):
            detector.detect_emotions(bad)


def test_face_rectangles_are_classified_as_given(one_face) -> None:
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    faces = one_face.detect_emotions(image, face_rectangles=[(20, 10, 60, 60), (90, 40, 50, 50)])
    assert [f["box"] for f in faces] == [[20, 10, 60, 60], [90, 40, 50, 50]]
    for face in faces:
        _check(face)
    assert faces[0] == one_face.detect_emotions(image)[0]  # same crop, same answer as detection


def test_video_analyze_and_its_pandas_helpers(one_face, tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    path = write_video(tmp_path / "clip.mp4", n=6)
    video = Video(str(path), outdir=str(tmp_path / "output"))
    raw = video.analyze(one_face, display=False)
    assert len(raw) == 6 and list(raw[0]) == ["box0", *(f"{k}0" for k in FER_KEYS)]
    assert raw[0]["box0"] == [20, 10, 60, 60]
    assert (tmp_path / "output" / "clip_output.mp4").is_file()  # save_video=True is fer's default
    df = video.to_pandas(raw)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["box", *FER_KEYS] and len(df) == 6
    assert list(video.get_emotions(video.get_first_face(df)).columns) == FER_KEYS
    every = video.analyze(one_face, frequency=2, save_video=False, output="pandas")
    assert len(every) == 3 and list(every.columns) == ["box", *FER_KEYS]
    assert video.to_csv(raw, tmp_path / "data.csv") == raw
    header = (tmp_path / "data.csv").read_text().splitlines()[0]
    assert header == "angry0,box0,disgust0,fear0,happy0,neutral0,sad0,surprise0"  # fer's sort: name, then face


@pytest.mark.shared
def test_group_photo_as_fer_users_call_it(media_dir) -> None:
    import cv2

    faces = FER().detect_emotions(cv2.imread(str(media_dir / "group-six-faces.jpg")))
    assert len(faces) == 6
    for face in faces:
        _check(face)
    tops = [max(f["emotions"], key=f["emotions"].get) for f in faces]
    assert tops.count("happy") == 5 and tops[0] == "neutral"  # five smiles; the large front face neutral
