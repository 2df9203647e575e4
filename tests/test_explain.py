"""explain and filters: saliency / Grad-CAM maps, the figures, filter patterns and feature maps."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_fer.labels import LABELS


def _val_faces(tiny_fer: Path, n_per_label: int = 1) -> list[Path]:
    return [p for label in LABELS for p in sorted((tiny_fer / "val" / label).glob("*.png"))[:n_per_label]]


def _stack(paths: list[Path]) -> np.ndarray:
    return np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths])


@pytest.fixture(scope="module")
def model(trained_keras):
    from edge_fer.training.explain import load_keras_model

    return load_keras_model(trained_keras)[0]


def test_saliency_is_finite_nonconstant_and_depends_on_the_face(model, tiny_fer):
    from edge_fer.training.explain import saliency

    faces = _stack(_val_faces(tiny_fer))
    maps, probs = saliency(model, faces)
    assert maps.shape == (len(faces), 48, 48) and probs.shape == (len(faces), len(LABELS))
    assert np.all(np.isfinite(maps)) and np.all(maps >= 0)
    assert all(m.std() > 0 for m in maps)
    assert not np.allclose(maps[0], maps[3])  # different faces, different maps


def test_saliency_is_the_input_gradient_of_the_top_class(model, tiny_fer):
    """Finite differences agree with the map at the pixel it ranks highest."""
    from edge_fer.training.explain import saliency

    face = _stack(_val_faces(tiny_fer))[2:3].astype(np.float32)
    maps, probs = saliency(model, face)
    top = int(probs[0].argmax())
    y, x = np.unravel_index(int(maps[0].argmax()), (48, 48))
    eps = 2.0
    up, down = face.copy(), face.copy()
    up[0, y, x] += eps
    down[0, y, x] -= eps
    numeric = (np.asarray(model(up[..., None]))[0, top] - np.asarray(model(down[..., None]))[0, top]) / (2 * eps)
    assert abs(abs(numeric) - maps[0, y, x]) <= 0.25 * maps[0, y, x] + 1e-7


def test_gradcam_maps_lie_in_0_1(model, tiny_fer):
    from edge_fer.training.explain import gradcam, last_conv_layer

    faces = _stack(_val_faces(tiny_fer))
    maps, _ = gradcam(model, faces)
    assert last_conv_layer(model).startswith("s3")  # the last stage of edgefer-xs
    assert maps.shape == (len(faces), 48, 48)
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    assert np.isclose(maps.max(), 1.0)


def _panels(png: Path, rows: int) -> list[list[np.ndarray]]:
    img = cv2.imread(str(png))
    assert img is not None
    h, w = img.shape[:2]
    assert w > 2 * h / rows  # three panels side by side per row
    return [
        [img[r * h // rows : (r + 1) * h // rows, c * w // 3 : (c + 1) * w // 3] for c in range(3)] for r in range(rows)
    ]


@pytest.mark.parametrize("method", ["saliency", "gradcam"])
def test_explain_command_writes_one_figure_per_crop(cli, trained_keras, tiny_fer, tmp_path, method):
    faces = _val_faces(tiny_fer)[:2]
    code, out, err = cli("explain", trained_keras, *faces, "--method", method, "--out", tmp_path, "--json")
    assert code == 0, err
    records = json.loads(out)
    assert [r["face"] for r in records] == [0, 0] and all(r["box"] is None for r in records)
    assert all(r["label"] in LABELS and 0 < r["probability"] <= 1 for r in records)
    for r, face in zip(records, faces):
        assert Path(r["png"]) == tmp_path / f"{face.stem}_{method}.png"
        crop, heat, masked = _panels(Path(r["png"]), rows=1)[0]
        assert not np.array_equal(crop, heat) and not np.array_equal(heat, masked)
        assert heat[..., 0].astype(int).std() > 0  # the map panel is coloured, not blank
        assert (np.abs(crop.astype(int) - crop[..., ::-1].astype(int)).max()) <= 2  # the crop panel is gray


def test_explain_a_photo_detects_then_explains_each_face(cli, trained_keras, tiny_fer, tmp_path, monkeypatch):
    """A large image goes through the detector; each detected face gets its row."""
    photo = np.full((240, 320, 3), 90, np.uint8)
    faces = _stack(_val_faces(tiny_fer))
    boxes = [[20, 30, 96, 96], [180, 100, 96, 96]]
    for (x, y, w, h), face in zip(boxes, faces[[3, 6]]):
        photo[y : y + h, x : x + w] = cv2.cvtColor(cv2.resize(face, (w, h)), cv2.COLOR_GRAY2BGR)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    from runtime_models import FixedDetector

    # The runtime's recognizer cuts the faces (as predict does); its detector is told where they are.
    monkeypatch.setattr("edge_fer.recognizer.create_detector", lambda *a, **k: FixedDetector(boxes))
    code, out, err = cli("explain", trained_keras, tmp_path / "photo.png", "--out", tmp_path, "--json")
    assert code == 0, err
    records = json.loads(out)
    assert [r["face"] for r in records] == [0, 1] and [r["box"] for r in records] == boxes
    rows = _panels(Path(records[0]["png"]), rows=2)
    assert not np.array_equal(rows[0][0], rows[1][0])


def test_explain_refuses_what_it_cannot_explain(cli, trained_keras, tmp_path):
    fake = tmp_path / "m.tflite"
    fake.write_bytes(b"x")
    code, _, err = cli("explain", fake, trained_keras)
    assert code == 2 and ".keras" in err
    code, _, err = cli("explain", trained_keras, tmp_path / "missing.png")
    assert code == 2 and "missing.png" in err


@pytest.mark.shared
def test_explain_the_group_photo(cli, trained_keras, media_dir, tmp_path):
    code, out, err = cli("explain", trained_keras, media_dir / "group-six-faces.jpg", "--out", tmp_path, "--json")
    assert code == 0, err
    records = json.loads(out)
    assert len(records) >= 4 and all(r["box"] is not None for r in records)
    img = cv2.imread(records[0]["png"])
    assert img.shape[0] > img.shape[1]  # a row per face


def test_activation_maximisation_raises_each_filters_activation(model):
    import keras

    from edge_fer.training.filters import conv_layers, maximise_filters

    layer = conv_layers(model)[0]
    patterns = maximise_filters(model, layer, steps=15)
    probe = keras.Model(model.input, model.get_layer(layer).output)
    noise = maximise_filters(model, layer, steps=0)
    gain = []
    for f in range(len(patterns)):
        before = np.asarray(probe(noise[f : f + 1, ..., None]))[0, ..., f].mean()
        after = np.asarray(probe(patterns[f : f + 1, ..., None]))[0, ..., f].mean()
        gain.append(after - before)
    assert patterns.min() >= 0 and patterns.max() <= 255
    assert min(gain) >= 0 and np.mean(np.array(gain) > 0) >= 0.75


def _count_tiles(png: Path) -> tuple[int, tuple[int, int]]:
    from edge_fer.training.filters import BACKGROUND, GAP, HEADER, TILE, tile_box

    img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    cols = (img.shape[1] - GAP) // (TILE + GAP)
    rows = (img.shape[0] - HEADER - GAP) // (TILE + GAP)
    filled = 0
    for i in range(rows * cols):
        y0, x0, y1, x1 = tile_box(i, cols)
        tile = img[y0:y1, x0:x1]
        if not np.all(tile == BACKGROUND):
            filled += 1
    return filled, (rows, cols)


def test_filters_command_draws_one_tile_per_filter(cli, trained_keras, tiny_fer, tmp_path):
    from edge_fer.training.filters import grid_shape

    face = _val_faces(tiny_fer)[3]
    code, out, err = cli("filters", trained_keras, "--face", face, "--steps", "5", "--out", tmp_path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["layer"] == "s0b0_conv" and report["filters"] == report["channels"] == 8
    filled, shape = _count_tiles(Path(report["filters_png"]))
    assert filled == 8 and shape == grid_shape(8)
    filled, shape = _count_tiles(Path(report["feature_maps_png"]))
    assert filled == 1 + 8 and shape == grid_shape(9)  # the face, then each channel's map
    assert len(report["mean_change"]) == 8 and max(report["mean_change"]) > 0


def test_filters_of_a_chosen_layer_and_a_wrong_one(cli, trained_keras, tmp_path):
    code, out, err = cli(
        "filters",
        trained_keras,
        "--layer",
        "s2b0_conv",
        "--max-filters",
        "5",
        "--steps",
        "3",
        "--out",
        tmp_path,
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["filters"] == 5 and report["channels"] == 32
    assert _count_tiles(Path(report["filters_png"]))[0] == 5
    code, _, err = cli("filters", trained_keras, "--layer", "nope", "--out", tmp_path)
    assert code == 2 and "s0b0_conv" in err
