"""Every installed classifier backend gives the same answer on the same crops, and the detector shares
the TFLite backend."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from runtime_models import FixedDetector, converted, synthetic_faces

from edge_fer.backends import create_interpreter, load_classifier
from edge_fer.detectors import model_file
from edge_fer.errors import ModelError
from edge_fer.recognizer import EmotionRecognizer


@pytest.fixture(scope="module")
def models(trained_keras):
    return converted(str(trained_keras))


@pytest.fixture(scope="module")
def reference(models):
    faces, labels = synthetic_faces()
    probs = load_classifier(models["keras"], "keras").predict(faces)
    return faces, labels, probs


BACKENDS = [
    ("tflite", "tflite", 1e-4),
    ("keras", "keras", 1e-5),
    pytest.param(
        "onnx",
        "onnx",
        1e-4,
        marks=pytest.mark.skipif(
            importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("tf2onnx") is None,
            reason="onnxruntime/tf2onnx not installed",
        ),
    ),
]


@pytest.mark.parametrize(("key", "backend", "atol"), BACKENDS)
def test_float_backends_agree_with_keras(models, reference, key: str, backend: str, atol: float) -> None:
    faces, labels, want = reference
    clf = load_classifier(models[key], backend, threads=1)
    got = clf.predict(faces)
    assert got.shape == (len(faces), 7)
    np.testing.assert_allclose(got, want, atol=atol)
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))
    assert (got.argmax(1) == labels).mean() >= 0.8  # the fixture model really learned the patterns
    assert clf.describe()["backend"] == backend


def test_int8_tflite_keeps_top1(models, reference) -> None:
    faces, _, want = reference
    clf = load_classifier(models["tflite_int8"], "auto")
    assert clf.input_dtype == np.uint8
    got = clf.predict(faces)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
    assert np.abs(got - want).max() < 0.15


def test_batch_and_single_face_give_the_same_probabilities(models, reference) -> None:
    faces, _, _ = reference
    clf = load_classifier(models["tflite"], "tflite")
    batch = clf.predict(faces[:5])
    singles = np.concatenate([clf.predict(faces[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    assert clf.predict(faces[:0]).shape == (0, 7)


@pytest.mark.parametrize("key", ["tflite", "tflite_int8", "keras", "onnx"])
def test_recognizer_labels_match_across_backends(models, key: str) -> None:
    if key not in models:
        pytest.skip("onnx conversion unavailable")
    faces, _labels = synthetic_faces(1)
    # Tile the seven 48x48 faces into one frame; a fixed detector points at each (margin 0: exact crops).
    frame = np.concatenate([np.repeat(f, 3, axis=2) for f in faces], axis=1)
    boxes = [(48 * i, 0, 48, 48) for i in range(len(faces))]
    rec = EmotionRecognizer(models[key], detector=FixedDetector(boxes), margin=0.0, min_face=0)
    found = rec.detect(frame)
    assert [f.box for f in found] == [tuple(map(int, b)) for b in boxes]
    want = load_classifier(models["keras"], "keras").predict(faces).argmax(1)
    assert [f.label for f in found] == [rec.labels[i] for i in want]


def test_create_interpreter_from_path_and_bytes() -> None:
    path = model_file("short")
    for source in (path, path.read_bytes()):
        interpreter, runtime = create_interpreter(source, threads=1)
        assert runtime in ("ai_edge_litert", "tflite_runtime", "tf.lite")
        assert list(interpreter.get_input_details()[0]["shape"]) == [1, 128, 128, 3]
    with pytest.raises(ModelError, match="not a readable TFLite model"):
        create_interpreter(b"not a flatbuffer at all", threads=1)
