"""Faces as cameras see them: alignment, FER2013 framing, sideways photos, crops, small faces, image formats."""

from __future__ import annotations

import http.server
import json
import math
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from runtime_models import FixedDetector, converted

from edge_fer import EmotionRecognizer
from edge_fer.detectors import DET_COLUMNS, EIGHTH_TURNS, BlazeFace, TiledDetector, WholeImage
from edge_fer.errors import EdgeFerError, ModelError, SourceError
from edge_fer.images import load_image
from edge_fer.metadata import ModelMeta
from edge_fer.preprocessing import (
    ALIGN_MIN_DEGREES,
    FER2013_FRAMING,
    PREPROCESSING_VERSION,
    SPEC,
    crop_detections,
    face_geometry,
    framing_of,
    geometry_input,
    margin_framing,
    preprocessing_spec,
)
from edge_fer.sources import collect_images


@pytest.fixture(scope="module")
def tflite_model(trained_keras) -> Path:
    return converted(str(trained_keras))["tflite"]


def _row(box: tuple, eyes: tuple | None = None) -> np.ndarray:
    row = np.full(DET_COLUMNS, np.nan, np.float32)
    row[:5] = (*box, 0.9)
    if eyes is not None:
        row[5:9] = eyes
    return row


def _face_pattern(size: int = 400, roll: float = 0.0) -> tuple[np.ndarray, tuple[float, ...]]:
    """A gray frame with two bright "eyes" 80 px apart on a horizontal line and a bar "mouth" below them, all
    rolled ``roll`` degrees (clockwise on screen) about the frame centre; and the rolled eye positions."""
    frame = np.zeros((size, size), np.uint8)
    c = size / 2
    cv2.circle(frame, (int(c - 40), int(c - 30)), 10, 255, cv2.FILLED)
    cv2.circle(frame, (int(c + 40), int(c - 30)), 10, 255, cv2.FILLED)
    cv2.rectangle(frame, (int(c - 30), int(c + 40)), (int(c + 30), int(c + 50)), 160, cv2.FILLED)
    matrix = cv2.getRotationMatrix2D((c, c), -roll, 1.0)
    frame = cv2.warpAffine(frame, matrix, (size, size))
    eyes = np.array([[c - 40, c - 30, 1.0], [c + 40, c - 30, 1.0]]) @ matrix.T
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), tuple(eyes.ravel())


@pytest.mark.parametrize("roll", [30.0, -45.0, 90.0, 180.0, -90.0])
def test_aligned_crop_turns_a_rolled_face_upright(roll: float) -> None:
    frame, eyes = _face_pattern(roll=roll)
    upright, _ = _face_pattern(roll=0.0)
    box = (120, 120, 160, 160)
    geo = face_geometry(_row(box, eyes), FER2013_FRAMING, align=True)
    assert geo is not None and geo.angle == pytest.approx(roll, abs=0.5)
    turned = geometry_input(frame, geo)
    ref = geometry_input(upright, face_geometry(_row(box, _face_pattern(roll=0.0)[1]), FER2013_FRAMING))
    assert turned.shape == ref.shape == (48, 48)
    # The turned face matches the upright one pixel for pixel up to resampling.
    assert np.abs(turned.astype(int) - ref.astype(int)).mean() < 6
    # Unaligned, the rolled crop differs from the upright one (except at exact quarter turns, which are
    # always undone: a face found sideways comes out upright with or without alignment).
    plain = geometry_input(frame, face_geometry(_row(box, eyes), FER2013_FRAMING, align=False))
    if roll % 90:
        assert np.abs(plain.astype(int) - ref.astype(int)).mean() > 10
    else:
        assert np.abs(plain.astype(int) - ref.astype(int)).mean() < 6


def test_small_rolls_are_left_alone_and_boxes_without_eyes_use_the_box() -> None:
    _, eyes = _face_pattern(roll=ALIGN_MIN_DEGREES - 5)
    geo = face_geometry(_row((120, 120, 160, 160), eyes), FER2013_FRAMING, align=True)
    assert geo is not None and geo.angle == 0.0
    # No keypoints: centred on the box, moved up by box_dy, side scale x the box side.
    geo = face_geometry(_row((100, 50, 80, 100)), FER2013_FRAMING)
    side = 100 * FER2013_FRAMING["scale"]
    assert (geo.cx, geo.cy, geo.side, geo.angle) == pytest.approx(
        (140, 100 + FER2013_FRAMING["box_dy"] * side, side, 0)
    )
    # The box framing reproduces the old margin crop exactly.
    geo = face_geometry(_row((100, 50, 80, 80), (110, 70, 150, 90)), margin_framing(0.1))
    assert (geo.cx, geo.cy, geo.side) == pytest.approx((140, 90, 96))
    assert face_geometry(_row((0, 0, -5, 5)), FER2013_FRAMING) is None


def test_aligned_crops_of_constant_frames_stay_constant_and_far_boxes_are_dropped() -> None:
    frame = np.full((60, 80, 3), 77, np.uint8)
    dets = np.stack([_row((-20, -20, 200, 200), (0, 0, 50, 40)), _row((500, 500, 20, 20), (505, 505, 515, 510))])
    crops, kept = crop_detections(frame, dets, FER2013_FRAMING)
    assert kept == [0] and crops.shape == (1, 48, 48, 1) and np.all(crops == 77)


def test_the_preprocessing_record_carries_the_framing_and_old_records_get_fer2013s() -> None:
    assert PREPROCESSING_VERSION == 4 and SPEC["framing"] == FER2013_FRAMING
    assert preprocessing_spec("standardize")["framing"] == FER2013_FRAMING
    old = {k: v for k, v in SPEC.items() if k not in ("version", "normalize", "framing")}
    assert framing_of(old) == FER2013_FRAMING  # version 1: trained on FER2013 crops too
    ModelMeta(preprocessing=old).check("old")
    odd = {**SPEC, "framing": {"name": "aligned-112"}}
    with pytest.raises(ModelError, match="framing 'aligned-112' is not one this edge-fer implements"):
        ModelMeta(preprocessing=odd).check("odd.json")


def test_default_detector_is_chosen_by_source_kind(tflite_model, tmp_path) -> None:
    rec = EmotionRecognizer(tflite_model)
    assert isinstance(rec.still_detector, TiledDetector) and isinstance(rec.detector, BlazeFace)
    assert rec.still_detector.whole.turns == EIGHTH_TURNS
    named = EmotionRecognizer(tflite_model, detector="full")
    assert named.still_detector is named.detector and named.detector.kind == "full"
    # An image given to frames() (webcam --source photo.jpg) is a still: auto, as predict.
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.full((90, 120, 3), 128, np.uint8))
    calls = []
    rec._detectors["auto"] = lambda bgr: calls.append("still") or np.zeros((0, 5), np.float32)
    assert [r.faces for r in rec.frames(image)] == [[]] and calls == ["still"]
    with pytest.raises(EdgeFerError, match="choose one of"):
        EmotionRecognizer(tflite_model, detector="medium")


def test_detector_none_classifies_each_whole_image_as_training_does(tflite_model) -> None:
    rng = np.random.default_rng(3)
    crop = rng.integers(0, 256, (60, 50), dtype=np.uint8)
    rec = EmotionRecognizer(tflite_model, detector="none", tta="none")
    assert isinstance(rec.detector, WholeImage)
    faces = rec.detect(crop)
    assert len(faces) == 1 and faces[0].box == (0, 0, 50, 60)
    want = rec.classifier.predict(cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)[None, :, :, None])[0]
    assert faces[0].probs == pytest.approx(dict(zip(rec.labels, want.tolist())), abs=1e-6)


@pytest.mark.parametrize(
    ("value", "needle"),
    [(None, "got None instead of an image: cv2.imread returns None"), ("photo.jpg", "not a path ('photo.jpg')")],
)
def test_detect_says_what_was_passed_and_what_to_do(tflite_model, value, needle) -> None:
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([]))
    with pytest.raises(EdgeFerError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        rec.detect(value)


def test_explicit_margin_cuts_the_box_the_old_way(tflite_model) -> None:
    rec = EmotionRecognizer(tflite_model, detector=FixedDetector([(50, 30, 60, 60)]), margin=0.1)
    assert rec.framing == margin_framing(0.1)
    assert EmotionRecognizer(tflite_model, detector=FixedDetector([])).framing == FER2013_FRAMING


def _write_formats(folder: Path) -> dict[str, np.ndarray]:
    """The same gray square in several formats and suffixes (what a user's folder holds)."""
    folder.mkdir()
    img = np.full((24, 32, 3), 200, np.uint8)
    rgb = Image.fromarray(img[:, :, ::-1])
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    (folder / "a.jfif").write_bytes(jpeg)
    (folder / "b.jpe").write_bytes(jpeg)
    (folder / "C.PNG").write_bytes(cv2.imencode(".png", img)[1].tobytes())
    frames = [rgb, Image.fromarray(np.zeros((24, 32, 3), np.uint8))]
    frames[0].save(folder / "d.gif", save_all=True, append_images=frames[1:])
    rgb.save(folder / "e.avif")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(b"")
    (folder / "sub").mkdir()
    return {"a.jfif": img, "b.jpe": img, "C.PNG": img, "d.gif": img, "e.avif": img}


def test_every_decodable_file_in_a_folder_is_read_and_the_rest_named(tmp_path, caplog) -> None:
    folder = tmp_path / "mixed"
    want = _write_formats(folder)
    items = collect_images([folder])
    assert sorted(p.name for p, _ in items) == sorted([*want, "notes.txt"])
    for path, _ in items:
        if path.name in want:
            out = load_image(path)
            assert out.shape == (24, 32, 3) and abs(int(out.mean()) - 200) <= 3, path.name  # GIF: first frame
        else:
            with pytest.raises(SourceError, match="not an image OpenCV or Pillow can decode"):
                load_image(path)
    skipped = " ".join(r.getMessage() for r in caplog.records)
    assert ".hidden.jpg: hidden file" in skipped and "sub: a folder" in skipped


def test_predict_counts_only_the_images_it_read_and_fails_when_it_read_none(cli, tflite_model, tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "plain.png"), np.full((60, 80, 3), 120, np.uint8))
    (folder / "fake.jpg").write_text("not a photo")
    code, out, err = cli("predict", folder, "--model", tflite_model)
    assert code == 0, err
    assert "fake.jpg" in err and err.strip().splitlines()[-1] == "1 image, 0 faces (1 unreadable, skipped)"
    assert "plain.png (80x60): no faces found" in out
    (folder / "plain.png").unlink()
    code, out, err = cli("predict", folder, "--model", tflite_model, "--out", tmp_path / "out")
    assert code == 2 and "none of the 1 image could be read" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "predictions.csv").exists()  # no empty table left behind


def test_a_named_file_that_is_no_media_is_called_so_and_an_odd_suffix_video_still_plays(cli, tflite_model, tmp_path):
    from runtime_models import write_video

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    code, _, err = cli("predict", notes, "--model", tflite_model)
    assert code == 2 and err.strip().endswith(
        "notes.txt: neither an image OpenCV or Pillow can read nor a video OpenCV can open; "
        "give a photo (.jpg, .png, ...) or a video (.mp4, ...)"
    )
    clip = write_video(tmp_path / "clip.mp4").rename(tmp_path / "clip.dat")
    code, out, err = cli("predict", clip, "--model", tflite_model)
    assert code == 0, err
    assert "clip.dat: 12 of 12 frames" in out and err.strip().splitlines()[-1] == "1 video analysed"


def test_jpeg_exif_orientation_is_applied(tmp_path) -> None:
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:10] = 255  # white top
    img = Image.fromarray(tall)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    img.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "turned.jpg")
    assert out.shape[:2] == (20, 40)  # turned to landscape
    assert out[:, -10:].mean() > 200 and out[:, :10].mean() < 50  # the white band now on the right


@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server over a folder with one PNG; yields its base URL."""
    cv2.imwrite(str(tmp_path / "face.png"), np.full((30, 40, 3), 90, np.uint8))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path), **k)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_predict_reads_http_urls_and_refuses_others_in_one_line(cli, tflite_model, http_folder, tmp_path) -> None:
    url = f"{http_folder}/face.png"
    code, out, err = cli("predict", url, "--model", tflite_model, "--json", "--save-annotated", tmp_path / "ann")
    assert code == 0, err
    assert json.loads(out) == {"image": url, "faces": []}
    assert (tmp_path / "ann" / "face.png").is_file()
    for bad, needle in (
        (f"{http_folder}/missing.png", "HTTP 404"),
        ("rtsp://camera.local/stream", "only http(s) image URLs are fetched"),
    ):
        code, out, err = cli("predict", bad, "--model", tflite_model)
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("edge-fer: error: ") and needle in lines[0], err


# --- The shared failing cases, on the shipped model (expected results from ../shared/cases/README.md) -----

GROUP_EMOTIONS = ["happy"] * 5 + ["neutral"]


def _emotions_big_face_last(faces) -> list[str]:
    """Labels of the faces, the largest (the front face) last."""
    return [f.label for f in sorted(faces, key=lambda f: f.box[2] * f.box[3])]


@pytest.fixture(scope="module")
def shipped() -> EmotionRecognizer:
    return EmotionRecognizer(threads=1)


@pytest.mark.shared
@pytest.mark.parametrize(
    "path",
    ["media/group-six-faces.jpg", "cases/group-tilted30.jpg", "cases/group-sideways-no-exif.jpg"],
)
def test_group_photo_cases_give_six_faces_five_happy_one_neutral(shipped, media_dir, path) -> None:
    photo = media_dir.parent / path
    if not photo.is_file():
        pytest.skip(f"{photo} absent")
    faces = shipped.detect(load_image(photo))
    assert len(faces) == 6
    assert _emotions_big_face_last(faces) == GROUP_EMOTIONS


@pytest.mark.shared
def test_panorama_face_is_found_and_classified_in_bounded_time(shipped, media_dir) -> None:
    photo = media_dir.parent / "cases" / "panorama-16000x3000.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} absent")
    image = load_image(photo)
    faces = shipped.detect(image)
    assert len(faces) == 1
    _, _, w, h = faces[0].box
    assert 120 <= w <= 240 and math.isclose(w, h, rel_tol=0.1)
    assert faces[0].label == "happy"
    stats = shipped.still_detector.stats
    assert stats.tiles < 700 and stats.levels == 5  # bounded by the face sought, reported


def test_bench_pipeline_times_alignment_as_its_own_stage() -> None:
    from edge_fer.pipeline_bench import bench_pipeline, rolled

    frame = np.zeros((40, 60, 3), np.uint8)
    frame[:, 30:] = 255
    (turned,) = rolled([frame], 90)
    assert turned.shape == frame.shape and turned[:10, 20:40].mean() > 200 and turned[-10:, 20:40].mean() < 50
    stages = {
        align: [
            s["stage"] for s in bench_pipeline("synthetic", max_frames=3, repeats=1, align=align, roll=30)["stages"]
        ]
        for align in (True, False)
    }
    assert "align" in stages[True] and "crop" not in stages[True]
    assert "crop" in stages[False] and "align" not in stages[False]
