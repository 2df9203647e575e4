"""The reliability issue, row by row, through the CLI: every bad input gets one clear line and the right exit
code, nothing is half-written, and interrupted runs (SIGTERM, Ctrl-C, dropped cameras) end cleanly.

Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_models import FixedDetector, converted, write_video

from edge_fer.labels import LABELS
from edge_fer.metadata import ModelMeta, write_meta

# ---------------------------------------------------------------- helpers


def one_line(code: int, err: str, *needles: str, exit_code: int = 2, after_progress: bool = False) -> str:
    """The command failed with ``exit_code`` and said so in exactly one line holding every needle
    (``after_progress``: the last line, after the progress lines of work done before the failure)."""
    assert code == exit_code, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if after_progress:
        assert sum("error" in line.lower() for line in lines) == 1, err
        lines = lines[-1:]
    assert len(lines) == 1, err
    assert lines[0].startswith("edge-fer: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    return lines[0]


def usage_error(code: int, err: str, *needles: str) -> None:
    """A command line that does not parse: exit 2 and one line naming the option, the valid values where there
    are choices, and the command's --help; no usage box, no traceback."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-fer: error: ") and lines[0].endswith(" --help')"), err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    assert "Value error" not in lines[0], err


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["nosuch"], ["No such command 'nosuch'", "(see 'edge-fer --help')"]),
        (["export"], ["Missing argument", "(see 'edge-fer export --help')"]),
        (["predict", "x.jpg", "--no-such-flag"], ["--no-such-flag", "(see 'edge-fer predict --help')"]),
        (["export", "m.keras", "--tta-roll", "45"], ["--tta-roll", "30"]),
    ],
)
def test_a_command_line_that_does_not_parse_is_one_line(cli, args, needles) -> None:
    code, out, err = cli(*args)
    assert out == ""
    usage_error(code, err, *needles)


@pytest.fixture(autouse=True)
def _private_dataset_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_FER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def models(trained_keras) -> dict[str, Path]:
    return converted(str(trained_keras))


@pytest.fixture(scope="module")
def model(models) -> Path:
    return models["tflite_int8"]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    image = root / "blank.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    return {"image": image, "video": write_video(root / "flat.mp4", n=4)}


def _tiny_keras(path: Path, input_shape: tuple[int, ...], outputs: int) -> Path:
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(x)).save(path)
    return path


def _to_tflite(keras_path: Path) -> Path:
    import keras
    import tensorflow as tf

    model = keras.models.load_model(keras_path, compile=False)
    out = keras_path.with_suffix(".tflite")
    out.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return out


def _to_onnx(keras_path: Path, shape: tuple[int, ...]) -> Path:
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(keras_path, compile=False)

    @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32, name="faces")])
    def forward(x):
        return model(x, training=False)

    out = keras_path.with_suffix(".onnx")
    tf2onnx.convert.from_function(forward, input_signature=forward.input_signature, opset=13, output_path=str(out))
    return out


def _half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    if src.with_suffix(".json").is_file():  # a copy cut short, its sidecar whole
        dst.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())
    return dst


@pytest.fixture(scope="module")
def bad_models(models, tmp_path_factory) -> dict[str, Path]:
    """Every kind of unusable model file, keyed by what is wrong with it."""
    d = tmp_path_factory.mktemp("bad_models")
    text = d / "notes.tflite"
    text.write_text("this is not a model\n" * 20)
    text_keras = d / "notes.keras"
    text_keras.write_text("this is not a model either\n" * 20)
    wide = _tiny_keras(d / "rgb64.keras", (64, 64, 3), len(LABELS))
    five = _tiny_keras(d / "five.keras", (48, 48, 1), 5)
    found = {
        "missing": d / "absent.tflite",
        "missing-keras": d / "absent.keras",
        "text": text,
        "text-keras": text_keras,
        "truncated-tflite": _half(models["tflite"], d / "cut.tflite"),
        "truncated-keras": _half(models["keras"], d / "cut.keras"),
        "wrong-input-keras": wide,
        "wrong-input-tflite": _to_tflite(wide),
        "five-outputs-keras": five,
        "five-outputs-tflite": _to_tflite(five),
    }
    if "onnx" in models:
        found["truncated-onnx"] = _half(models["onnx"], d / "cut.onnx")
        found["five-outputs-onnx"] = _to_onnx(five, (48, 48, 1))
    for key in ("five-outputs-keras", "five-outputs-tflite", "five-outputs-onnx"):
        if key in found:  # the default labels: seven of them
            write_meta(found[key], ModelMeta(format=found[key].suffix[1:]))
    return found


MODEL_PROBLEMS = {
    "missing": "no such file",
    "missing-keras": "no such file",
    "text": "not a readable TFLite model",
    "text-keras": "not a readable Keras model",
    "truncated-tflite": "not a readable TFLite model",
    "truncated-keras": "not a readable Keras model",
    "truncated-onnx": "not a readable ONNX model",
    "wrong-input-keras": "input is 64x64x3, not 48x48x1",
    "wrong-input-tflite": "input is 64x64x3, not 48x48x1",
    "five-outputs-keras": "5 outputs do not match its 7 labels",
    "five-outputs-tflite": "5 outputs do not match its 7 labels",
    "five-outputs-onnx": "5 outputs do not match its 7 labels",
}
RUNTIME_KINDS = [k for k in MODEL_PROBLEMS if k not in ("missing-keras", "text-keras")]
EXPORT_KINDS = ["missing-keras", "text-keras", "truncated-keras", "wrong-input-keras", "five-outputs-keras"]


def _model_args(command: str, path: Path, media: dict[str, Path], tiny_fer: Path, out: Path) -> list:
    return {
        "predict": ["predict", media["image"], "--model", path],
        "webcam": ["webcam", "--source", media["video"], "--headless", "--model", path],
        "evaluate": ["evaluate", path, "--data", tiny_fer / "val", "--out", out],
        "bench": ["bench", path, "--warmup", "0", "--runs", "5"],
        "export": ["export", path, "--formats", "tflite-fp32", "--out", out],
    }[command]


# ---------------------------------------------------------------- sources


def test_bad_sources_name_the_source_and_what_to_try(cli, model, tmp_path) -> None:
    """A camera that does not exist, a missing video, a file that is not a video, a folder."""
    text = tmp_path / "notes.mp4"
    text.write_text("this is text\n" * 100)
    cases = [
        ("99", "camera 99", "try another index"),
        (str(tmp_path / "none.mp4"), "none.mp4: no such file", "try"),
        (str(text), "notes.mp4: cannot be read as a video", "try"),
        (str(tmp_path), "is a folder", "give a video file"),
    ]
    for source, *needles in cases:
        code, out, err = cli("webcam", "--source", source, "--headless", "--model", model)
        one_line(code, err, *needles)
        assert out == ""
    code, _, err = cli("bench", "--pipeline", str(tmp_path / "none.mp4"), "--model", model, "--max-frames", "2")
    one_line(code, err, "none.mp4: no such file")


def test_stream_that_does_not_answer(cli, model, monkeypatch) -> None:
    monkeypatch.setattr("edge_fer.sources.time.sleep", lambda s: None)
    url = "rtsp://127.0.0.1:9/nothing"
    code, out, err = cli("webcam", "--source", url, "--headless", "--model", model)
    one_line(code, err, f"stream {url}: does not answer", "check the URL")
    assert out == ""


def test_in_a_real_process_stderr_is_the_one_line(model, bad_models, odd_images, media, tmp_path) -> None:
    """What a user's terminal shows: no native runtime noise (TFLite, ONNX Runtime, OpenCV, TensorFlow)
    around the one line, for broken models and images, and for a dataset with corrupt files."""
    messy = tmp_path / "messy" / "happy"
    messy.mkdir(parents=True)
    cv2.imwrite(str(messy / "ok.png"), np.full((48, 48), 90, np.uint8))
    (messy / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    env = {**os.environ, "EDGE_FER_CACHE": str(tmp_path / "cache")}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    cut_onnx = bad_models.get("truncated-onnx", bad_models["text"])
    cases = [  # (arguments, what the one line names; None: success with nothing on stderr)
        (["predict", media["image"], "--model", bad_models["text"]], bad_models["text"]),
        (["predict", media["image"], "--model", cut_onnx], cut_onnx),
        (["predict", media["image"], "--model", bad_models["truncated-keras"]], bad_models["truncated-keras"]),
        (["predict", odd_images["truncated.png"], "--model", model], odd_images["truncated.png"]),
        (["data", "check", tmp_path / "messy", "--json"], None),
        (["train", "--resume", tmp_path / "no-run"], tmp_path / "no-run"),  # --arch's check loads Keras first
    ]
    for args, named in cases:
        done = subprocess.run(
            [sys.executable, "-m", "edge_fer", *map(str, args)], capture_output=True, text=True, env=env, timeout=120
        )
        if named is None:
            assert done.returncode == 0 and done.stderr == "", done.stderr
        else:
            one_line(done.returncode, done.stderr, str(named))


def test_debug_shows_the_traceback(cli, tmp_path, media) -> None:
    code, _, err = cli("--debug", "predict", media["image"], "--model", tmp_path / "absent.tflite")
    assert code == 2 and "Traceback" in err and "edge-fer: error: model" in err


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("command", ["predict", "webcam", "evaluate", "bench"])
@pytest.mark.parametrize("kind", RUNTIME_KINDS)
def test_bad_model_is_one_line_naming_it(cli, bad_models, media, tiny_fer, tmp_path, command, kind) -> None:
    if kind not in bad_models:
        pytest.skip("tf2onnx not installed")
    path = bad_models[kind]
    code, out, err = cli(*_model_args(command, path, media, tiny_fer, tmp_path / "out"))
    one_line(code, err, str(path), MODEL_PROBLEMS[kind])
    assert out == ""
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("kind", EXPORT_KINDS)
def test_export_of_a_bad_model_is_one_line_naming_it(cli, bad_models, media, tiny_fer, tmp_path, kind) -> None:
    path = bad_models[kind]
    out_dir = tmp_path / "out"
    code, out, err = cli(*_model_args("export", path, media, tiny_fer, out_dir))
    one_line(code, err, str(path), MODEL_PROBLEMS[kind])
    assert out == "" and not out_dir.exists()


# ---------------------------------------------------------------- images


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    arrays = {
        "16bit.png": rng.integers(0, 65535, (90, 120, 3), dtype=np.uint16),
        "gray.png": rng.integers(0, 255, (90, 120), dtype=np.uint8),
        "bgra.png": rng.integers(0, 255, (90, 120, 4), dtype=np.uint8),
        "one-pixel.png": np.full((1, 1, 3), 77, np.uint8),
        "huge.png": np.full((10000, 10000), 100, np.uint8),
    }
    paths = {}
    for name, array in arrays.items():
        assert cv2.imwrite(str(d / name), array)
        paths[name] = d / name
    (d / "text.png").write_text("plain text, not pixels\n")
    (d / "empty.jpg").write_bytes(b"")
    png = (d / "gray.png").read_bytes()
    (d / "truncated.png").write_bytes(png[: len(png) // 3])
    paths.update({n: d / n for n in ("text.png", "empty.jpg", "truncated.png")})
    return paths


@pytest.mark.parametrize(
    ("name", "size"),
    [("16bit.png", (120, 90)), ("gray.png", (120, 90)), ("bgra.png", (120, 90)), ("one-pixel.png", (1, 1))],
)
def test_readable_odd_images_are_converted_and_processed(cli, model, odd_images, tmp_path, name, size) -> None:
    ann = tmp_path / "ann"
    code, out, err = cli("predict", odd_images[name], "--model", model, "--json", "--save-annotated", ann)
    assert code == 0, err
    assert json.loads(out) == {"image": str(odd_images[name]), "faces": []}
    saved = cv2.imread(str(ann / name), cv2.IMREAD_UNCHANGED)
    assert saved.shape == (size[1], size[0], 3) and saved.dtype == np.uint8
    code, _, err = cli("webcam", "--source", odd_images[name], "--headless", "--model", model)
    assert code == 0 and "1 frame, 0 faces (0 frames with a face)" in err, err


def test_a_10000x10000_image_is_processed(cli, model, odd_images) -> None:
    code, out, err = cli("predict", odd_images["huge.png"], "--model", model, "--json")
    assert code == 0, err
    assert json.loads(out)["faces"] == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [("text.png", "not an image"), ("empty.jpg", "empty file"), ("truncated.png", "not an image")],
)
def test_unreadable_images_are_one_line(cli, model, odd_images, name, problem) -> None:
    path = odd_images[name]
    code, out, err = cli("predict", path, "--model", model)
    one_line(code, err, str(path), problem)
    assert out == ""
    code, _, err = cli("webcam", "--source", path, "--headless", "--model", model)
    one_line(code, err, str(path), problem)


# ---------------------------------------------------------------- datasets


@pytest.fixture
def messy_data(tmp_path) -> Path:
    """A split folder: real faces for every label, plus an unknown label folder and corrupt files."""
    from conftest import make_dataset

    root = make_dataset(tmp_path / "messy", dict.fromkeys(LABELS, 4), seed=5)
    unknown = root / "contempt"
    unknown.mkdir()
    cv2.imwrite(str(unknown / "c.png"), np.full((48, 48), 90, np.uint8))
    (root / "happy" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "sad" / "empty.png").write_bytes(b"")
    cv2.imwrite(str(root / "fear" / "big.png"), np.full((64, 64), 90, np.uint8))
    return root


def test_empty_dataset_folder_is_a_clear_error(cli, model, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(*cli("data", "check", empty)[::2], str(empty), "no labelled images")
    one_line(*cli("evaluate", model, "--data", empty, "--out", tmp_path / "e")[::2], str(empty), "no labelled images")
    code, _, err = cli("train", "--data", empty, "--out", tmp_path / "run", "--arch", "edgefer-xs")
    one_line(code, err, str(empty), "no labelled images")
    assert not (tmp_path / "run" / "state.json").exists()


def test_unknown_labels_and_corrupt_files_are_skipped_and_counted(cli, model, messy_data, tmp_path) -> None:
    code, out, err = cli("data", "check", messy_data, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["total"] == 4 * len(LABELS)
    reasons = " ".join(p["reason"] for p in report["problems"])
    assert len(report["problems"]) == 4
    assert "unknown label folder" in reasons and "corrupt" in reasons and "empty" in reasons and "size" in reasons

    code, out, err = cli("evaluate", model, "--data", messy_data, "--json", "--out", tmp_path / "eval")
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 4 * len(LABELS) and report["skipped_files"] == 4
    assert "skipped 4 unusable files" in err and "data check" in err


@pytest.mark.slow
def test_training_skips_bad_files_with_a_warning(cli, messy_data, tmp_path) -> None:
    code, _, err = cli(
        "train", "--data", messy_data, "--out", tmp_path / "run", "--epochs", "1", "--arch", "edgefer-xs",
        "--batch-size", "8", "--augment", "none", "--val-fraction", "0.25",
    )  # fmt: skip
    assert code == 0, err
    assert "skipped 4 unusable files" in err and "Traceback" not in err


# ---------------------------------------------------------------- face boxes


@pytest.mark.parametrize(
    ("boxes", "args", "expected"),
    [
        ([(-30, -20, 60, 60)], [], 1),  # partly outside: clamped
        ([(150, 100, 60, 60)], [], 1),  # partly outside at the far corner
        ([(500, 500, 40, 40), (-90, -90, 40, 40)], [], 0),  # wholly outside: skipped
        ([], [], 0),  # no face
        ([(10 + 22 * (i % 7), 5 + 15 * (i // 7), 30, 30) for i in range(50)], ["--min-face", "0"], 50),
        ([(40, 40, 5, 5)], [], 0),  # a 5-pixel face: below the default --min-face 20
        ([(40, 40, 5, 5)], ["--min-face", "0"], 1),
        ([(40, 40, 5, 5), (60, 20, 40, 40)], ["--min-face", "6"], 1),
    ],
)
def test_face_boxes_are_clamped_and_tiny_faces_skipped(
    cli, model, tmp_path, monkeypatch, boxes, args, expected
) -> None:
    monkeypatch.setattr("edge_fer.recognizer.create_detector", lambda *a, **k: FixedDetector(boxes))
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 255, (120, 180, 3), dtype=np.uint8))
    code, out, err = cli("predict", image, "--model", model, "--json", *args)
    assert code == 0, err
    faces = json.loads(out)["faces"]
    assert len(faces) == expected
    for face in faces:
        x, y, w, h = face["box"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 180 and y + h <= 120


def test_fifty_faces_per_frame_in_a_video(cli, model, tmp_path, monkeypatch) -> None:
    boxes = [(5 + 22 * (i % 7), 2 + 16 * (i // 7), 24, 24) for i in range(50)]
    monkeypatch.setattr("edge_fer.recognizer.create_detector", lambda *a, **k: FixedDetector(boxes))
    video, lines = write_video(tmp_path / "v.mp4", n=3), tmp_path / "f.jsonl"
    code, _, err = cli("webcam", "--source", video, "--headless", "--model", model, "--json-out", lines)
    assert code == 0, err
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [len(r["faces"]) for r in rows] == [50, 50, 50]
    assert len({f["track_id"] for f in rows[-1]["faces"]}) == 50


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("command", "args", "needles"),
    [
        ("predict", ["--threads", "0"], ["--threads"]),
        ("webcam", ["--threads", "0"], ["--threads"]),
        ("evaluate", ["--threads", "0"], ["--threads"]),
        ("bench", ["--threads", "0"], ["--threads"]),
        ("bench", ["--batch", "-1"], ["--batch"]),
        ("train", ["--batch-size", "-1"], ["--batch-size"]),
        ("train", ["--epochs", "-3"], ["--epochs"]),
        ("webcam", ["--width", "-5"], ["--width"]),
        ("webcam", ["--height", "0"], ["--height"]),
        ("predict", ["--min-face", "-1"], ["--min-face"]),
        ("predict", ["--backend", "foo"], ["foo", "auto", "tflite", "onnx", "keras"]),
        ("webcam", ["--backend", "foo"], ["foo", "auto", "tflite", "onnx", "keras"]),
        ("evaluate", ["--backend", "foo"], ["foo", "auto", "tflite", "onnx", "keras"]),
        ("bench", ["--backend", "foo"], ["foo", "auto", "tflite", "onnx", "keras"]),
        ("train", ["--arch", "foo"], ["foo", "edgefer-s", "edgefer-xs"]),
        ("train", ["--optimizer", "foo"], ["foo", "adam", "sgd"]),
        ("predict", ["--detector", "foo"], ["foo", "short", "full", "auto"]),
        ("webcam", ["--detector", "foo"], ["foo", "short", "full", "auto"]),
    ],
)
def test_bad_option_values_are_usage_errors_listing_choices(
    cli, model, media, tiny_fer, tmp_path, command, args, needles
) -> None:
    base = {
        "predict": ["predict", media["image"], "--model", model],
        "webcam": ["webcam", "--source", media["video"], "--headless", "--model", model],
        "evaluate": ["evaluate", model, "--data", tiny_fer / "val", "--out", tmp_path / "e"],
        "bench": ["bench", model, "--runs", "5", "--warmup", "0"],
        "train": ["train", "--data", tiny_fer, "--out", tmp_path / "run"],
    }[command]
    code, out, err = cli(*base, *args)
    usage_error(code, err, *needles)
    assert out == "" and not (tmp_path / "run").exists() and not (tmp_path / "e").exists()


# ---------------------------------------------------------------- existing outputs


def _existing_output_cases(model: Path, media: dict[str, Path], tiny_fer: Path, trained_keras: Path, tmp: Path):
    """(name, args, the existing file they would overwrite)."""
    tmp.mkdir(exist_ok=True)
    return {
        "predict --save-annotated": (
            ["predict", media["image"], "--model", model, "--save-annotated", tmp],
            tmp / "blank.png",
        ),
        "webcam --output": (
            ["webcam", "--source", media["video"], "--headless", "--model", model, "--output", tmp / "o.mp4"],
            tmp / "o.mp4",
        ),
        "webcam --json-out": (
            ["webcam", "--source", media["video"], "--headless", "--model", model, "--json-out", tmp / "f.jsonl"],
            tmp / "f.jsonl",
        ),
        "evaluate --out": (
            ["evaluate", model, "--data", tiny_fer / "val", "--out", tmp],
            tmp / f"{model.stem}_val_eval.json",
        ),
        "export --out": (
            ["export", trained_keras, "--formats", "tflite-fp32", "--out", tmp],
            tmp / "best_fp32.tflite",
        ),
        "train --out": (
            ["train", "--data", tiny_fer, "--out", tmp, "--arch", "edgefer-xs", "--epochs", "1"],
            tmp / "state.json",
        ),
    }


CHEAP_TO_REDO = ("predict --save-annotated", "webcam --output", "webcam --json-out", "evaluate --out")


@pytest.mark.parametrize(
    "case",
    [
        "predict --save-annotated",
        "webcam --output",
        "webcam --json-out",
        "evaluate --out",
        "export --out",
        "train --out",
    ],
)
def test_existing_output_is_refused_unless_force(cli, model, media, tiny_fer, trained_keras, tmp_path, case) -> None:
    args, target = _existing_output_cases(model, media, tiny_fer, trained_keras, tmp_path / "out")[case]
    target.write_bytes(b'{"old": true}\n')
    before = sorted(p.name for p in target.parent.iterdir())
    code, _, err = cli(*args)
    line = one_line(code, err, "--force")
    assert str(tmp_path / "out") in line
    assert target.read_bytes() == b'{"old": true}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == before  # nothing else written either
    if case in CHEAP_TO_REDO:
        code, _, err = cli(*args, "--force")
        assert code == 0, err
        assert target.read_bytes() != b'{"old": true}\n'
        assert not list(target.parent.glob(".*.part*"))


# ---------------------------------------------------------------- faults: a camera or stream that drops


class _DroppingCapture:
    """A fake cv2.VideoCapture: the first one opened delivers ``frames`` frames then fails; later ones
    (the reopen attempts) do not open. ``interrupt_at``: raise KeyboardInterrupt at that read instead."""

    frames = 4
    interrupt_at: int | None = None
    opened = 0

    def __init__(self, *args, **kwargs) -> None:
        type(self).opened += 1
        self.live = type(self).opened == 1
        self.reads = 0

    def isOpened(self) -> bool:
        return self.live

    def grab(self) -> bool:
        return self.live

    def read(self, image=None):
        self.reads += 1
        if self.interrupt_at is not None and self.reads == self.interrupt_at:
            raise KeyboardInterrupt
        if not self.live or self.reads > self.frames:
            return False, None
        return True, np.full((90, 120, 3), 100, np.uint8)

    def set(self, prop, value) -> bool:
        return True

    def get(self, prop) -> float:
        return 0.0

    def release(self) -> None:
        self.live = False


@pytest.mark.parametrize("source", ["0", "rtsp://camera.local/live"])
def test_live_source_that_drops_is_retried_then_ends_with_the_summary(cli, model, tmp_path, monkeypatch, source):
    fake = type("Fake", (_DroppingCapture,), {"opened": 0})
    monkeypatch.setattr(cv2, "VideoCapture", fake)
    monkeypatch.setattr("edge_fer.sources.time.sleep", lambda s: None)
    lines, video = tmp_path / "f.jsonl", tmp_path / "o.avi"
    code, _, err = cli(
        "webcam", "--source", source, "--headless", "--model", model, "--json-out", lines, "--output", video
    )
    assert code == 0, err
    assert "4 frames, 0 faces" in err and "gave up after 3 retries" in err and "Traceback" not in err
    assert fake.opened == 4  # the first open, then three retries
    assert len(lines.read_text().splitlines()) == 4 and video.stat().st_size > 0
    assert not list(tmp_path.glob(".*.part*"))


def test_ctrl_c_in_webcam_ends_with_the_summary_and_whole_outputs(cli, model, tmp_path, monkeypatch) -> None:
    fake = type("Fake", (_DroppingCapture,), {"opened": 0, "frames": 100, "interrupt_at": 3})
    monkeypatch.setattr(cv2, "VideoCapture", fake)
    lines = tmp_path / "f.jsonl"
    code, _, err = cli("webcam", "--source", "0", "--headless", "--model", model, "--json-out", lines)
    assert code == 0, err
    assert "2 frames" in err and "stopped by Ctrl-C" in err
    assert [json.loads(line)["frame"] for line in lines.read_text().splitlines()] == [0, 1]


def test_ctrl_c_in_webcam_on_a_file_exits_130_and_leaves_nothing(cli, model, tmp_path, monkeypatch) -> None:
    """A file is not a live source: stopping it early is an interruption (README: exit 130, no partial output)."""
    video = write_video(tmp_path / "in.mp4", n=6)
    reads = {"n": 0}
    real_capture = cv2.VideoCapture

    class InterruptedCapture:
        """A real capture whose fourth read raises KeyboardInterrupt (delegates, not a subclass of OpenCV's type)."""

        def __init__(self, *args):
            self.cap = real_capture(*args)

        def read(self, *args):
            reads["n"] += 1
            if reads["n"] == 4:
                raise KeyboardInterrupt
            return self.cap.read(*args)

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", InterruptedCapture)
    lines, out = tmp_path / "f.jsonl", tmp_path / "o.mp4"
    args = ["--headless", "--model", model, "--json-out", lines, "--output", out]
    code, _, err = cli("webcam", "--source", video, *args)
    one_line(code, err, "interrupted", exit_code=130)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


# ---------------------------------------------------------------- faults: SIGTERM in training, interrupted export


@pytest.mark.slow
def test_sigterm_during_training_saves_state_and_resume_continues(tiny_fer, tmp_path, cli) -> None:
    from test_train import signal_after_first_epoch

    out = tmp_path / "run"
    code, err = signal_after_first_epoch(tiny_fer, out, signal.SIGTERM, timeout=120)
    assert code == 130, err
    assert "Traceback" not in err and f"--resume {out}" in err
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "interrupted" and 1 <= state["epoch"] < 200
    assert not list(out.rglob(".*.part*"))
    code, _, err = cli("train", "--resume", out, "--epochs", str(state["epoch"] + 1))
    assert code == 0, err
    after = json.loads((out / "state.json").read_text())
    assert after["epoch"] == state["epoch"] + 1 and after["status"] == "finished"


def test_ctrl_c_during_export_leaves_no_partial_file(cli, trained_keras, tmp_path, interrupt_mid_write) -> None:
    out = tmp_path / "out"
    code, _, err = cli("export", trained_keras, "--formats", "tflite-fp32", "--out", out)
    one_line(code, err, "interrupted", exit_code=130, after_progress=True)
    assert list(out.iterdir()) == []


def test_sigterm_during_export_leaves_no_partial_file(trained_keras, tmp_path) -> None:
    """A real process gets SIGTERM while the model file is half written: exit 130, nothing left behind."""
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from pathlib import Path

        real_write = Path.write_bytes

        def half_then_sigterm(self, data):
            real_write(self, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            real_write(self, data)

        Path.write_bytes = half_then_sigterm
        from edge_fer.cli import main

        sys.argv = ["edge-fer", "export", sys.argv[1], "--formats", "tflite-fp32", "--out", sys.argv[2]]
        main()
        """
    )
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, str(trained_keras), str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 130, done.stderr
    assert time.monotonic() - started < 170
    one_line(done.returncode, done.stderr, "interrupted", exit_code=130, after_progress=True)
    assert list(out.iterdir()) == []
