"""``edge-fer predict`` and ``edge-fer webcam`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_models import converted, write_video

FACE_KEYS = {"box", "label", "score", "probs", "track_id"}
LABELS = {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}


@pytest.fixture(scope="module")
def model(trained_keras) -> Path:
    return converted(str(trained_keras))["tflite_int8"]


@pytest.fixture
def blank(tmp_path) -> Path:
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((120, 160, 3), 128, np.uint8))
    return path


def _check_face(face: dict, width: int, height: int) -> None:
    assert set(face) == FACE_KEYS
    x, y, w, h = face["box"]
    assert all(isinstance(v, int) for v in face["box"])
    assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
    assert set(face["probs"]) == LABELS and face["label"] in LABELS
    assert face["score"] == max(face["probs"].values()) == face["probs"][face["label"]]
    assert sum(face["probs"].values()) == pytest.approx(1.0, abs=0.02)


def _one_error_line(err: str, *needles: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edge-fer: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_predict_no_face_gives_empty_list(cli, model, blank) -> None:
    code, out, _ = cli("predict", blank, "--model", model, "--json")
    assert code == 0
    assert json.loads(out) == {"image": str(blank), "faces": []}


def test_predict_table_output(cli, model, blank) -> None:
    code, out, err = cli("predict", blank, "--model", model)
    assert code == 0 and "1 image, 0 faces" in err
    assert out.strip() == f"{blank} (160x120): no faces found"  # a line, not an empty table


def test_predict_folder_skips_unreadable_files_found_in_it(cli, model, blank, tmp_path) -> None:
    (tmp_path / "broken.jpg").write_text("not really a jpeg")
    code, out, _ = cli("predict", tmp_path, "--model", model, "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["blank.png"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"plain text, not pixels", "not an image"), (None, "no such file")],
)
def test_predict_bad_image_is_one_line_exit_2(cli, model, tmp_path, content, message) -> None:
    path = tmp_path / "bad.jpg"
    if content is not None:
        path.write_bytes(content)
    code, out, err = cli("predict", path, "--model", model)
    assert code == 2 and out == ""
    _one_error_line(err, str(path), message)


def test_predict_annotated_refused_when_it_exists(cli, model, blank, tmp_path) -> None:
    ann = tmp_path / "ann"
    assert cli("predict", blank, "--model", model, "--save-annotated", ann)[0] == 0
    saved = ann / "blank.png"
    assert cv2.imread(str(saved)).shape == (120, 160, 3)
    code, _, err = cli("predict", blank, "--model", model, "--save-annotated", ann)
    assert code == 2
    _one_error_line(err, "exists", "--force")
    assert cli("predict", blank, "--model", model, "--save-annotated", ann, "--force")[0] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threads", "0"], "--threads"),
        (["--backend", "gpu"], "auto"),
        (["--detector", "medium"], "short"),
        (["--min-face", "-1"], "--min-face"),
        (["--margin", "-0.5"], "--margin"),
    ],
)
def test_usage_errors(cli, model, blank, args, needle) -> None:
    code, _, err = cli("predict", blank, "--model", model, *args)
    assert code == 2 and needle in err
    if args[0] == "--backend":
        assert all(name in err for name in ("tflite", "onnx", "keras"))


@pytest.mark.parametrize("args", [["--width", "-5"], ["--max-frames", "0"], ["--smoothing", "-1"]])
def test_webcam_usage_errors(cli, model, args) -> None:
    code, _, err = cli("webcam", "--source", "x.mp4", "--headless", "--model", model, *args)
    assert code == 2 and args[0] in err


def test_missing_model_is_one_line(cli, blank, tmp_path) -> None:
    code, _, err = cli("predict", blank, "--model", tmp_path / "nope.tflite")
    assert code == 2
    _one_error_line(err, "nope.tflite", "no such file")


@pytest.mark.parametrize("kind", ["missing", "text", "camera"])
def test_webcam_bad_sources_exit_2_with_one_line(cli, model, tmp_path, kind) -> None:
    source = {"missing": str(tmp_path / "none.mp4"), "text": str(tmp_path / "notes.mp4"), "camera": "99"}[kind]
    if kind == "text":
        Path(source).write_text("this is text\n" * 100)
    code, out, err = cli("webcam", "--source", source, "--headless", "--model", model)
    assert code == 2 and out == ""
    _one_error_line(err, source, "try")


def test_webcam_on_a_faceless_video(cli, model, tmp_path) -> None:
    video = write_video(tmp_path / "flat.mp4", n=7)
    lines, out_video = tmp_path / "f.jsonl", tmp_path / "o.mp4"
    args = ["webcam", "--source", video, "--headless", "--model", model, "--json-out", lines, "--output", out_video]
    code, _, err = cli(*args)
    assert code == 0
    assert "7 frames, 0 faces" in err and "fps" in err and "end of video" in err
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert rows == [{"frame": i, "time_s": pytest.approx(i / 20, abs=1e-3), "faces": []} for i in range(7)]
    # Existing outputs: refused, untouched, unless --force.
    before = lines.read_bytes()
    code, _, err = cli(*args)
    assert code == 2 and lines.read_bytes() == before
    _one_error_line(err, "exists", "--force")
    assert cli(*args, "--force", "--max-frames", "3")[0] == 0
    assert len(lines.read_text().splitlines()) == 3


@pytest.mark.shared
def test_predict_group_photo(cli, model, media_dir, tmp_path) -> None:
    photo = media_dir / "group-six-faces.jpg"
    ann = tmp_path / "ann"
    code, out, _ = cli("predict", photo, "--model", model, "--json", "--save-annotated", ann)
    assert code == 0
    row = json.loads(out)
    assert row["image"] == str(photo) and len(row["faces"]) >= 5
    for face in row["faces"]:
        _check_face(face, 2048, 1536)
        assert face["track_id"] is None
    annotated = cv2.imread(str(ann / "group-six-faces.jpg"))
    original = cv2.imread(str(photo))
    assert annotated.shape == original.shape
    x, y, w, _h = row["faces"][0]["box"]
    # The box outline is drawn on the face's edge: the annotated image differs there, not in the sky.
    assert np.abs(annotated[y : y + 3, x : x + w].astype(int) - original[y : y + 3, x : x + w]).mean() > 20
    assert np.abs(annotated[:150, :].astype(int) - original[:150, :]).mean() < 2


@pytest.mark.shared
def test_webcam_on_the_shared_video(cli, model, media_dir, tmp_path) -> None:
    lines, out_video = tmp_path / "frames.jsonl", tmp_path / "annotated.mp4"
    code, _, err = cli(
        "webcam",
        "--source",
        media_dir / "woman-with-phone.mp4",
        "--headless",
        "--json-out",
        lines,
        "--output",
        out_video,
        "--model",
        model,
        "--threads",
        "1",
    )
    assert code == 0, err
    assert "115 frames" in err
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(rows) == 115 and [r["frame"] for r in rows] == list(range(115))
    assert all(set(r) == {"frame", "time_s", "faces"} for r in rows)
    # Media time from the container's timestamps (25 fps), not 114 / its average rate 24.7.
    assert rows[-1]["time_s"] == pytest.approx(4.56, abs=1e-4)
    with_face = [r for r in rows if r["faces"]]
    assert len(with_face) >= 0.9 * 115
    for r in with_face:
        for face in r["faces"]:
            _check_face(face, 596, 336)
    main_ids = {r["faces"][0]["track_id"] for r in with_face}
    assert len(main_ids) <= 3  # her face keeps its track id across the clip
    cap = cv2.VideoCapture(str(out_video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 115
    ok, frame = cap.read()
    assert ok and frame.shape == (336, 596, 3)


def test_predict_runs_without_tensorflow(model, blank) -> None:
    """`import edge_fer`, `edge-fer predict` and the API on a .tflite model with TensorFlow and Keras
    unimportable; on the group photo where the shared media exist, so faces are really classified."""
    from conftest import MEDIA_DIR

    photo = MEDIA_DIR / "group-six-faces.jpg"
    image = photo if photo.is_file() else blank
    prelude = textwrap.dedent(
        """
        import importlib.abc, sys

        class _Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, _Block())
        import numpy as np
        import edge_fer
        from edge_fer.cli import main

        rec = edge_fer.EmotionRecognizer(sys.argv[2], detector=lambda img: np.array([[0, 0, 40, 40, 0.9]], "f4"))
        faces = rec.detect(np.full((60, 60, 3), 90, np.uint8))
        assert len(faces) == 1 and faces[0].label in rec.labels, faces
        sys.argv = ["edge-fer", "predict", sys.argv[1], "--model", sys.argv[2], "--json"]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        print("NO-TF-OK", file=sys.stderr)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude, str(image), str(model)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "NO-TF-OK" in done.stderr
    row = json.loads(done.stdout)
    assert row["image"] == str(image)
    assert len(row["faces"]) >= (5 if image == photo else 0)


def test_predict_table_counts_faces_in_english() -> None:
    import io

    from rich.console import Console

    from edge_fer.cli.runtime_cmds import _image_table
    from edge_fer.predict import ImageResult
    from edge_fer.recognizer import Face

    face = Face((1, 2, 30, 40), "happy", 0.7, {"happy": 0.7, "sad": 0.2, "angry": 0.1})
    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(_image_table(ImageResult(Path("a.jpg"), [face], 64, 64)))
    console.print(_image_table(ImageResult(Path("b.jpg"), [face, face], 64, 64)))
    text = console.export_text()
    assert "a.jpg (64x64): 1 face " in text and "b.jpg (64x64): 2 faces" in text
    assert "happy" in text and "70%" in text and "1,2,30,40" in text and "sad 20%" in text
