"""../shared/cases: the group photo in a dim room and through haze reads as the clean photo does (five happy faces,
the large front face neutral), with the shipped model and no options: its per-face normalization and the
detector's view of the frame stretched to its full range at work."""

from __future__ import annotations

import cv2
import pytest
from conftest import SHARED

CASES = ("group-dark30.jpg", "group-haze30.jpg")


@pytest.fixture(scope="module")
def recognizer():
    from edge_fer import EmotionRecognizer

    return EmotionRecognizer(detector="auto", threads=1)


def _faces(recognizer, path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return recognizer.detect(image)


def _expect_five_happy_one_neutral(faces) -> None:
    assert len(faces) == 6
    largest = max(faces, key=lambda f: f.box[2] * f.box[3])
    assert largest.label == "neutral"
    assert sorted(f.label for f in faces if f is not largest) == ["happy"] * 5


@pytest.mark.shared
@pytest.mark.parametrize("name", CASES)
def test_dim_and_hazy_group_photos_read_as_the_clean_one(name, recognizer, media_dir):
    case = SHARED / "cases" / name
    if not case.is_file():
        pytest.skip(f"{case} not found (set EDGE_FER_SHARED)")
    clean = _faces(recognizer, media_dir / "group-six-faces.jpg")
    _expect_five_happy_one_neutral(clean)
    faces = _faces(recognizer, case)
    _expect_five_happy_one_neutral(faces)
    for face in faces:  # the same person (the clean face nearest by box centre) has the same emotion
        match = min(clean, key=lambda c: _centre_distance(c.box, face.box))
        assert _centre_distance(match.box, face.box) < 0.25 * match.box[2]
        assert match.label == face.label
        # ...and the same framing: the detector sees the frame stretched to its full range, so a dim or hazy
        # photo does not loosen the box (it did by 12-15% for one face, which changed the crop's reading)
        assert abs(face.box[2] / match.box[2] - 1.0) < 0.06


def _centre_distance(a, b) -> float:
    return ((a[0] + a[2] / 2 - b[0] - b[2] / 2) ** 2 + (a[1] + a[3] / 2 - b[1] - b[3] / 2) ** 2) ** 0.5
