"""Per-face photometric normalization: one definition (numpy at run time, a Keras layer in training) that
agrees exactly, travels in the model's metadata, and leaves old models as they were trained."""

from __future__ import annotations

import numpy as np
import pytest

from edge_fer.backends import load_classifier
from edge_fer.errors import ModelError
from edge_fer.metadata import ModelMeta
from edge_fer.preprocessing import (
    BASE_SPEC,
    NORMALIZERS,
    PREPROCESSING_VERSION,
    center_margin,
    equalize_from_center,
    normalization_of,
    normalize_faces,
    preprocessing_spec,
)
from edge_fer.shipped import default_model_path


def _faces(n: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    base = 40 + 3 * xx + 2 * yy + rng.normal(0, 10, (n, 48, 48))
    faces = np.clip(base * rng.uniform(0.2, 1.0, (n, 1, 1)), 0, 255).astype(np.uint8)
    faces[0] = 90  # a flat face: OpenCV leaves it as it is
    return faces[..., None]


def _dark(faces: np.ndarray, k: float = 0.3) -> np.ndarray:
    return np.clip(np.rint(faces.astype(np.float32) * k), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["equalize", "equalize_center", "standardize"])
def test_training_layer_matches_the_runtime_exactly(method: str) -> None:
    from edge_fer.training.normalization import FaceNormalization

    faces = _faces()
    for batch in (faces, _dark(faces)):
        want = normalize_faces(batch, method).astype(np.float32)
        got = np.asarray(FaceNormalization(method)(batch.astype(np.float32)))
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_center_equalization_is_opencvs_with_the_mapping_from_the_centre() -> None:
    import cv2

    faces = _faces(seed=4)[..., 0]
    whole = equalize_from_center(faces, 1.0)
    np.testing.assert_array_equal(whole, np.stack([cv2.equalizeHist(f) for f in faces]))
    assert center_margin(48, 0.6) == 10 and center_margin(48, 1.0) == 0
    # The same face cut with a different surround (a wider crop, another background): the centre's
    # histogram, so the face's mapping, is unchanged; plain equalization moves it.
    other = faces.copy()
    other[:, :8], other[:, -8:], other[:, :, :8] = 250, 5, 128
    m = center_margin(48, 0.6)
    centre = np.s_[:, m:-m, m:-m]
    centred = normalize_faces(faces, "equalize_center")
    np.testing.assert_array_equal(normalize_faces(other, "equalize_center")[centre], centred[centre])
    assert np.abs(normalize_faces(other, "equalize")[centre].astype(int) - whole[centre]).mean() > 5
    # It still cancels exposure: a dark copy maps to (nearly) the same face.
    dark = _dark(faces[1:, ..., None])[..., 0]
    assert np.abs(normalize_faces(dark, "equalize_center").astype(int) - centred[1:]).mean() < 6
    assert normalize_faces(faces[:0], "equalize_center").shape == (0, 48, 48)
    # Outside the centre, levels below its darkest map to 0 and above its brightest to 255.
    lit = faces.copy()
    lit[:, 0, 0], lit[:, 0, 1] = 0, 255
    lit[:, m:-m, m:-m] = np.clip(lit[:, m:-m, m:-m], 1, 254)
    out = normalize_faces(lit, "equalize_center")
    assert (out[1:, 0, 0] == 0).all() and (out[1:, 0, 1] == 255).all()


def test_normalizations_cancel_exposure() -> None:
    faces = _faces(seed=1)[1:]
    dark, gamma = _dark(faces), np.clip(255.0 * (faces / 255.0) ** 2.2, 0, 255).astype(np.uint8)
    raw_gap = np.abs(dark.astype(int) - faces).mean()
    std_gap = np.abs(normalize_faces(dark, "standardize").astype(int) - normalize_faces(faces, "standardize")).mean()
    eq_gap = np.abs(normalize_faces(gamma, "equalize").astype(int) - normalize_faces(faces, "equalize")).mean()
    assert raw_gap > 40
    assert std_gap < 3 and eq_gap < 6
    assert normalize_faces(faces, "none") is faces


def test_spec_records_version_and_method() -> None:
    spec = preprocessing_spec("standardize")
    assert spec["version"] == 3 and spec["normalize"] == {"method": "standardize", "mean": 131.0, "std": 77.5}
    # Version 4 only where it is needed: a runtime of version 3 keeps running every model it implements.
    assert preprocessing_spec("equalize_center")["version"] == PREPROCESSING_VERSION == 4
    assert normalization_of(dict(BASE_SPEC)) == {"method": "none"}  # a version-1 record
    with pytest.raises(ValueError, match="unknown normalization"):
        preprocessing_spec("clahe")


def test_normalization_parameters_are_checked() -> None:
    from edge_fer.training.choices import Normalization

    assert {n.value for n in Normalization} == set(NORMALIZERS)  # the CLI offers what the runtime implements
    for bad in ({"region": 1.5}, {"region": 0}, {"region": "all"}, {"radius": 3}):
        with pytest.raises(ModelError, match="equalize_center"):
            ModelMeta(
                preprocessing={**BASE_SPEC, "version": 4, "normalize": {"method": "equalize_center", **bad}}
            ).check("m")
    ModelMeta(preprocessing=preprocessing_spec("equalize_center", region=0.5)).check("m")
    with pytest.raises(ValueError, match="region"):
        preprocessing_spec("equalize_center", region=2.0)


def test_old_and_future_metadata(tmp_path) -> None:
    ModelMeta(preprocessing=dict(BASE_SPEC)).check("v1")  # old sidecars: no version, no normalize
    with pytest.raises(ModelError, match="newer than this edge-fer"):
        ModelMeta(preprocessing={**BASE_SPEC, "version": 9}).check("v9")
    with pytest.raises(ModelError, match="normalization 'wavelet'"):
        ModelMeta(preprocessing={**BASE_SPEC, "version": 2, "normalize": {"method": "wavelet"}}).check("x")


def test_backends_apply_the_models_normalization() -> None:
    src = default_model_path()
    bare, equalizing = load_classifier(src, threads=1), load_classifier(src, threads=1)
    bare.meta.preprocessing = dict(BASE_SPEC)  # read the network's raw output on the faces as given
    equalizing.meta.preprocessing = preprocessing_spec("equalize_center")
    own = load_classifier(src).meta.preprocessing  # the shipped model's own (v3: a version-4 record)
    assert normalization_of(own) == preprocessing_spec("equalize_center")["normalize"] and own["version"] == 4
    faces = _faces(8, seed=3)
    expected = bare.predict(normalize_faces(faces, "equalize_center"))
    np.testing.assert_allclose(equalizing.predict(faces), expected, atol=1e-6)
    assert not np.allclose(equalizing.predict(faces), bare.predict(faces), atol=1e-3)


def test_old_run_configs_resume_unchanged() -> None:
    from edge_fer.training.train import TrainConfig, upgrade_config

    old = {"data": "d", "augment": {"rotation_deg": 15.0, "brightness": 0.1}}
    cfg = TrainConfig(**upgrade_config(old))
    assert (cfg.normalize, cfg.precision, cfg.init_from) == ("none", "float32", None)
    assert cfg.augment["gamma"] == 1.0 and cfg.augment["noise"] == 0 and cfg.augment["brightness"] == 0.1
    assert cfg.augment["canvas"] == 0
    assert TrainConfig(data="d").normalize == "equalize"  # new runs: the chosen normalization


def test_precision_probe(monkeypatch) -> None:
    from edge_fer.training import precision

    assert precision.choose_precision("edgefer-xs", {}, 8, total_steps=10)["precision"] == "float32"
    monkeypatch.setattr(precision, "candidates", lambda: ["float32", "mixed_bfloat16"])
    times = {"float32": 100.0, "mixed_bfloat16": 60.0}
    monkeypatch.setattr(precision, "_time_policies", lambda policies, *a: {p: times[p] for p in policies})
    chosen = precision.choose_precision("edgefer-xs", {}, 8)
    assert chosen["precision"] == "mixed_bfloat16" and chosen["speedup"] == pytest.approx(1.67, abs=0.01)
    times["mixed_bfloat16"] = 95.0  # within timing noise: keep float32
    assert precision.choose_precision("edgefer-xs", {}, 8)["precision"] == "float32"


def test_expected_calibration_error() -> None:
    from edge_fer.training.calibration_error import expected_calibration_error

    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    sure = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    assert expected_calibration_error(sure, y) == pytest.approx(0.0)
    overconfident = np.array([[0.9, 0.1]] * 8)  # says 90%, right half the time
    assert expected_calibration_error(overconfident, y) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="as many labels"):
        expected_calibration_error(sure, y[:3])


def test_corruptions_keep_shape_and_do_what_they_say() -> None:
    from edge_fer.training.corruptions import corrupt

    faces = _faces(4, seed=5)[..., 0]
    dark, flat, gamma = (corrupt(faces, k) for k in ("dark", "low_contrast", "gamma"))
    assert dark.dtype == np.uint8 and dark.shape == faces.shape
    assert dark.mean() == pytest.approx(faces.mean() * 0.3, abs=1.0)
    per_face_std = flat[1:].reshape(3, -1).std(axis=1) / faces[1:].reshape(3, -1).std(axis=1)
    assert np.all(np.abs(per_face_std - 0.3) < 0.05) and abs(float(flat.mean()) - float(faces.mean())) < 1.0
    assert gamma.mean() < faces.mean() and corrupt(faces, "clean") is faces
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(faces, "fog")


def test_card_command_reproduces_a_fine_tune_on_normalized_faces() -> None:
    from edge_fer.training.augment import AugmentConfig
    from edge_fer.training.modelcard import command_line

    aug = {**AugmentConfig().to_dict(), "noise": 0}
    config = {"data": "fer", "arch": "edgefer-s", "out": "runs/x", "epochs": 10, "normalize": "equalize"}
    line = command_line({**config, "init_from": "assets/edgefer-s.keras", "augment": aug, "precision": "float32"})
    assert "--init-from assets/edgefer-s.keras" in line and "--noise 0" in line and "--normalize" not in line
    assert "--precision float32" in line and "--canvas" not in line
    assert "--canvas 0.25" in command_line({**config, "augment": {**AugmentConfig().to_dict(), "canvas": 0.25}})
    assert "--normalize none" in command_line({**config, "normalize": "none", "augment": AugmentConfig().to_dict()})


def test_a_mixed_precision_run_leaves_the_global_policy_as_it_was(tiny_fer, tmp_path):
    import keras

    from edge_fer.training.train import TrainConfig, train

    narrow = {"widths": [8, 8, 8, 8], "depths": [1, 1, 1, 1]}
    cfg = TrainConfig(
        data=str(tiny_fer),
        out=str(tmp_path / "r"),
        arch="edgefer-xs",
        arch_kwargs=narrow,
        epochs=1,
        batch_size=32,
        precision="mixed_bfloat16",
        recalibrate_bn=False,
    )
    result = train(cfg, verbose=0)
    assert result.summary["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    best = keras.models.load_model(tmp_path / "r" / "best.keras", compile=False)  # saved as plain float32
    assert {layer.dtype_policy.name for layer in best._flatten_layers()} == {"float32"}
    assert best.predict(np.zeros((1, 48, 48, 1), "float32"), verbose=0).dtype == np.float32


def test_random_canvas_sets_shrunk_faces_on_flat_gray() -> None:
    from edge_fer.training.augment import RandomCanvas

    rng = np.random.default_rng(5)
    faces = rng.integers(0, 256, (16, 48, 48, 1)).astype(np.float32)
    layer = RandomCanvas(1.0, max_scale=1.3, seed=2)
    np.testing.assert_array_equal(np.asarray(layer(faces, training=False)), faces)
    np.testing.assert_array_equal(np.asarray(RandomCanvas(0.0)(faces, training=True)), faces)
    out = np.asarray(layer(faces, training=True))
    assert out.shape == faces.shape and out.min() >= 0 and out.max() <= 255
    for face in out[..., 0]:
        rows = np.flatnonzero(np.ptp(face, axis=1) > 0)  # rows crossing the shrunk face
        cols = np.flatnonzero(np.ptp(face, axis=0) > 0)
        side = rows[-1] - rows[0] + 1
        assert side == cols[-1] - cols[0] + 1 and 48 / 1.3 - 1 <= side < 48  # shrunk, square
        band = np.ones((48, 48), bool)
        band[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = False
        assert band.any() and np.unique(face[band]).size == 1  # one flat gray level around it
    half = np.asarray(RandomCanvas(0.5, seed=4)(np.repeat(faces, 8, axis=0), training=True))
    kept = np.all(half == np.repeat(faces, 8, axis=0), axis=(1, 2, 3))
    assert 0.25 < kept.mean() < 0.75  # about half the faces left as they were


def test_a_run_on_centre_equalized_faces_with_the_canvas_resumes_and_records_it(tiny_fer, tmp_path) -> None:
    from edge_fer.backends import load_classifier as load
    from edge_fer.training.augment import AugmentConfig
    from edge_fer.training.train import TrainConfig, resume, train

    aug = {**AugmentConfig.preset("none").to_dict(), "canvas": 0.5}
    cfg = TrainConfig(
        data=str(tiny_fer),
        out=str(tmp_path / "r"),
        arch="edgefer-xs",
        arch_kwargs={"widths": [8, 8, 8, 8], "depths": [1, 1, 1, 1]},
        epochs=1,
        batch_size=32,
        precision="float32",
        normalize="equalize_center",
        augment=aug,
        recalibrate_bn=False,
    )
    train(cfg, verbose=0)
    result = resume(tmp_path / "r", epochs=2)  # the checkpoint's RandomCanvas and normalization layers load
    assert result.epochs_done == 2 and result.status == "finished"
    clf = load(tmp_path / "r" / "best.keras")
    assert clf.meta.preprocessing["version"] == 4
    assert normalization_of(clf.meta.preprocessing) == {"method": "equalize_center", "region": 0.6}
