"""Test-time averaging (the mirror; optionally rolled views too): always, or adaptive (only the faces the model is
unsure of), carried in the model's metadata and applied alike by evaluate, bench and the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runtime_models import converted, synthetic_faces

from edge_fer.backends import load_classifier
from edge_fer.errors import EdgeFerError, ModelError
from edge_fer.metadata import ModelMeta, read_meta, read_sidecar, write_meta
from edge_fer.tta import FlipTTA, describe_tta, flip_threshold, set_flip_policy, tta_description, view_of, with_tta


class SidedModel:
    """Sure of faces brighter on the left (class 0), unsure of faces brighter on the right (class 1)."""

    backend = "fake"
    path = Path("sided.tflite")

    def __init__(self, extra: dict | None = None):
        self.meta = ModelMeta(extra=extra or {})
        self.calls: list[int] = []

    def predict(self, faces: np.ndarray) -> np.ndarray:
        self.calls.append(len(faces))
        left = faces[:, :, :24].mean(axis=(1, 2, 3)) > faces[:, :, 24:].mean(axis=(1, 2, 3))
        probs = np.full((len(faces), 7), 0.05, np.float32)
        probs[left, 0] = 0.70
        probs[~left, 1] = 0.40
        probs[~left, 2] = 0.30
        return probs

    def describe(self) -> dict:
        return {"backend": "fake"}


def _faces() -> np.ndarray:
    faces = np.zeros((4, 48, 48, 1), np.uint8)
    faces[:2, :, :24] = 200  # left-bright: confident
    faces[2:, :, 24:] = 200  # right-bright: unsure, and mirrored they look left-bright
    return faces


def test_always_flip_averages_every_face_with_its_mirror():
    inner = SidedModel()
    probs = FlipTTA(inner).predict(_faces())
    assert inner.calls == [4, 4]
    assert np.allclose(probs[:, 0], (0.70 + 0.05) / 2)  # every face averaged with its mirror, sure or not
    assert np.allclose(probs[:, 1], (0.40 + 0.05) / 2)


def test_adaptive_flip_mirrors_only_the_unsure_faces():
    inner = SidedModel()
    tta = FlipTTA(inner, below=0.5)
    probs = tta.predict(_faces())
    assert inner.calls == [4, 2]  # the mirrored pass sees the two unsure faces only
    assert np.allclose(probs[:2], SidedModel().predict(_faces()[:2]))  # confident faces untouched
    assert np.allclose(probs[2:, 0], 0.375)
    assert tta.flipped_fraction == 0.5
    assert tta_description(tta) == {"mode": "flip-below-confidence", "below_confidence": 0.5, "flipped_fraction": 0.5}


def test_views_are_the_mirror_and_rolls_about_the_crop_centre():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 48, 48, 1), dtype=np.uint8)
    assert np.array_equal(view_of(faces, 0, True), faces[:, :, ::-1])
    assert np.array_equal(view_of(faces, 0, False), faces)
    quarter = view_of(faces, 90, False)  # a quarter turn about (23.5, 23.5) lands on the pixel grid exactly
    assert quarter.shape == faces.shape and quarter.dtype == np.uint8
    assert np.array_equal(quarter[..., 0], np.rot90(faces[..., 0], k=1, axes=(1, 2)))
    both = view_of(faces, 90, True)  # mirrored first, then rolled
    assert np.array_equal(both[..., 0], np.rot90(faces[:, :, ::-1, 0], k=1, axes=(1, 2)))


def test_adaptive_views_average_six_views_of_the_unsure_faces_only():
    inner = SidedModel()
    tta = FlipTTA(inner, below=0.5, roll_deg=8)
    probs = tta.predict(_faces())
    assert inner.calls == [4, 2, 2, 2, 2, 2]  # the face itself, then 5 views of the two unsure faces
    assert np.allclose(probs[:2], SidedModel().predict(_faces()[:2]))
    # an 8-degree roll keeps each half-bright face on its side: 3 left-bright views (mirrors), 3 right-bright
    assert np.allclose(probs[2:, 0], (3 * 0.70 + 3 * 0.05) / 6)
    assert np.allclose(probs[2:, 1], (3 * 0.40 + 3 * 0.05) / 6)
    report = tta_description(tta)
    assert report == {"mode": "views-below-confidence", "below_confidence": 0.5, "roll_deg": 8.0,
                      "flipped_fraction": 0.5}  # fmt: skip
    assert (
        describe_tta(report)
        == "mirrored and rolled +-8 degrees 50.0% of faces (those with top probability below 0.500)"
    )


def test_model_mode_reads_the_policy_from_metadata_and_none_is_bare():
    bare = SidedModel()
    assert with_tta(bare, "model") is bare  # no policy: the bare model
    assert with_tta(bare, "none") is bare
    assert with_tta(bare, "flip").below is None
    policy = {"mode": "flip-below-confidence", "below_confidence": 0.55}
    assert with_tta(SidedModel({"tta": policy}), "model").below == 0.55
    assert with_tta(SidedModel({"tta": policy}), "none").__class__ is SidedModel
    with pytest.raises(ModelError, match="not one this runtime implements"):
        with_tta(SidedModel({"tta": {"mode": "five-crop"}}), "model")
    views = {"mode": "views-below-confidence", "below_confidence": 0.6, "roll_deg": 8}
    assert with_tta(SidedModel({"tta": views}), "model").views[1:] == ((8, False), (-8, False), (8, True), (-8, True))
    for roll in (0, 45, "8", None):  # a views policy needs a roll in (0, 30] degrees
        with pytest.raises(ModelError, match="not one this runtime implements; upgrade edge-fer"):
            with_tta(SidedModel({"tta": {**views, "roll_deg": roll}}), "model")
    with pytest.raises(EdgeFerError, match="choose one of model, none, flip"):
        with_tta(bare, "mirror")


def test_threshold_is_the_budget_quantile_of_confidence():
    top = np.linspace(0.2, 0.9, 101)
    assert flip_threshold(top, 0.3) == pytest.approx(0.41)
    assert np.mean(top < flip_threshold(top, 0.3)) == pytest.approx(0.3, abs=0.01)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(EdgeFerError, match="between 0 and 1"):
            flip_threshold(top, bad)


@pytest.fixture(scope="module")
def policy_model(trained_keras, tmp_path_factory) -> Path:
    """A copy of the small int8 model with an adaptive policy mirroring 40% of synthetic faces."""
    src = converted(str(trained_keras))["tflite_int8"]
    out = tmp_path_factory.mktemp("tta") / "policy_int8.tflite"
    out.write_bytes(src.read_bytes())
    write_meta(out, read_meta(src))
    faces, _ = synthetic_faces(30, seed=11)
    set_flip_policy(load_classifier(out), faces, 0.4, "synthetic faces")
    return out


def test_policy_travels_in_the_sidecar_and_mirrors_its_budget(policy_model):
    policy = read_meta(policy_model).extra["tta"]
    assert policy["mode"] == "flip-below-confidence" and policy["budget"] == 0.4
    assert policy["chosen_on"] == {"faces": 210, "source": "synthetic faces"}
    clf = with_tta(load_classifier(policy_model), "model")
    assert clf.below == policy["below_confidence"]
    faces, _ = synthetic_faces(30, seed=11)  # the faces the cut was chosen on: 40% of them mirrored
    clf.predict(faces)
    assert clf.flipped_fraction == pytest.approx(0.4, abs=0.02)


def test_evaluate_applies_the_models_policy_unless_told_none(policy_model, tiny_fer, tmp_path, cli):
    code, out, err = cli("evaluate", policy_model, "--data", tiny_fer / "val", "--out", tmp_path, "--json")
    assert code == 0, err
    own = json.loads(out)
    assert own["tta"]["mode"] == "flip-below-confidence" and 0 <= own["tta"]["flipped_fraction"] <= 1
    code, out, err = cli("evaluate", policy_model, "--data", tiny_fer / "val", "--out", tmp_path, "--json", "--force",
                         "--tta", "none")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["tta"] is None


def test_bench_times_an_adaptive_policy_on_real_faces_only(policy_model, tiny_fer, cli):
    code, _, err = cli("bench", policy_model, "--tta", "model", "--runs", "5", "--warmup", "1")
    assert code == 2 and "give --faces DIR" in err and err.count("\n") == 1
    code, out, err = cli(
        "bench", policy_model, "--tta", "model", "--faces", tiny_fer / "val", "--runs", "20", "--warmup", "2", "--json"
    )
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["inputs"] == f"faces from {tiny_fer / 'val'}"
    assert result["tta"]["mode"] == "flip-below-confidence"
    assert 0 <= result["tta"]["flipped_fraction"] <= 1 and result["mean_ms"] > 0
    code, _, err = cli("bench", policy_model, "--faces", tiny_fer / "nowhere", "--runs", "5")
    assert code == 2 and "not a folder" in err


def test_export_flip_budget_needs_training_faces(cli, trained_keras, tmp_path):
    code, _, err = cli("export", trained_keras, "-f", "tflite-fp32", "--flip-budget", "0.3", "--out", tmp_path)
    assert code == 2 and "--flip-budget sets its confidence cut on training faces" in err
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_export_tta_roll_needs_a_flip_budget(cli, trained_keras, tiny_fer, tmp_path):
    code, _, err = cli("export", trained_keras, "-f", "tflite-fp32", "--data", tiny_fer, "--tta-roll", "8",
                       "--out", tmp_path)  # fmt: skip
    assert code != 0 and "--tta-roll adds rolled views to the adaptive policy: give --flip-budget too" in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("roll", [None, "8"])
def test_export_flip_budget_gives_each_artifact_its_own_cut(cli, trained_keras, tiny_fer, tmp_path, roll):
    code, out, err = cli(
        "export", trained_keras, "-f", "tflite-fp32,tflite-int8", "--data", tiny_fer, "--out", tmp_path,
        "--flip-budget", "0.3", "--json", *(["--tta-roll", roll] if roll else []),
    )  # fmt: skip
    assert code == 0, err
    for art in json.loads(out)["artifacts"]:
        assert art["tta"]["budget"] == 0.3
        if roll:
            assert art["tta"]["mode"] == "views-below-confidence" and art["tta"]["roll_deg"] == 8.0
            assert with_tta(load_classifier(art["path"]), "model").roll_deg == 8.0
        else:
            assert art["tta"]["mode"] == "flip-below-confidence" and "roll_deg" not in art["tta"]
        assert read_meta(art["path"]).extra["tta"] == art["tta"]  # embedded in the model...
        assert read_sidecar(art["path"]).extra["tta"] == art["tta"]  # ...and in its sidecar
        assert 0 < art["tta"]["below_confidence"] <= 1


def test_the_runtime_applies_the_policy_and_can_run_bare(policy_model):
    from edge_fer.recognizer import EmotionRecognizer

    def no_faces(frame):
        return []

    own = EmotionRecognizer(policy_model, detector=no_faces)
    assert (
        isinstance(own.classifier, FlipTTA)
        and own.classifier.below == read_meta(policy_model).extra["tta"]["below_confidence"]
    )
    assert own.describe()["classifier"]["tta"]["mode"] == "flip-below-confidence"
    assert not isinstance(EmotionRecognizer(policy_model, detector=no_faces, tta="none").classifier, FlipTTA)
