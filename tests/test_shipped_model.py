"""The model in assets/ works right after install: no --model, no training, no network."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_fer.backends import load_classifier
from edge_fer.labels import LABELS
from edge_fer.shipped import default_model_path

#: The shipped int8 model's FER2013 val accuracy may not fall below these: with its own test-time policy (what
#: every command runs; v4 scores 0.6996, v3 0.6924, the target of the issue that asked for v3 is 0.685) and
#: bare (``--tta none``; v4 0.6832, v3 0.6773).
MIN_VAL_ACCURACY = 0.685
MIN_BARE_VAL_ACCURACY = 0.675


def test_the_default_model_is_the_shipped_int8_tflite_with_its_metadata():
    path = default_model_path()
    assert path.name == "edgefer-s_int8.tflite" and path.stat().st_size < 1.5 * 2**20
    clf = load_classifier(path, threads=1)
    assert clf.backend == "tflite" and clf.input_dtype == np.int8
    assert tuple(clf.meta.labels) == LABELS
    probs = clf.predict(np.full((2, 48, 48, 1), 128, np.uint8))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=0.02)


def test_the_card_describes_the_shipped_artifacts():
    card = json.loads((default_model_path().parent / "edgefer-s.card.json").read_text())
    assert card["arch"] == "edgefer-s" and card["params"] == 1_078_687
    assert set(card["val_accuracy"]) >= {"keras", "tflite-int8", "onnx"}
    assert set(card["per_class_recall"]) == set(LABELS)
    assert card["flip_policy"]["val_accuracy"]["tflite-int8"] >= MIN_VAL_ACCURACY
    policy = load_classifier(default_model_path()).meta.extra["tta"]  # the card describes the shipped policy
    assert policy["budget"] == 0.3 and policy["roll_deg"] == 8.0
    assert card["preprocessing"]["normalize"] == {"method": "equalize_center", "region": 0.6}
    assert card["expected_calibration_error"] <= 0.05 and card["size_bytes"]["tflite-int8"] <= 1.5e6
    clean = card["flip_policy"]["val_accuracy"]["tflite-int8"]
    assert all(clean - v <= 0.01 for v in card["robustness_val_48x48"].values())  # dim, hazy, gamma: within 1 point
    assert policy["below_confidence"] == card["flip_policy"]["policy"]["tflite-int8"]["below_confidence"]
    for name in ("edgefer-s.keras", "edgefer-s_onnx.onnx", card["confusion_png"]):
        assert (default_model_path().parent / name).is_file(), name


def test_predict_runs_on_the_shipped_model_without_options(tmp_path, cli):
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 200, np.uint8))
    code, out, err = cli("predict", blank, "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["faces"] == []


@pytest.mark.shared
def test_the_shipped_int8_model_keeps_its_val_accuracy(fer_dir, tmp_path, cli):
    code, out, err = cli("evaluate", default_model_path(), "--data", fer_dir / "val", "--json", "--out", tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 3589 and report["accuracy"] >= MIN_VAL_ACCURACY
    assert report["tta"]["mode"] == "views-below-confidence" and report["tta"]["roll_deg"] == 8.0
    assert report["tta"]["flipped_fraction"] < 0.4
    args = ("evaluate", default_model_path(), "--data", fer_dir / "val", "--json", "--out", tmp_path, "--force")
    code, out, err = cli(*args, "--tta", "none")
    assert code == 0, err
    assert MIN_BARE_VAL_ACCURACY <= json.loads(out)["accuracy"] < report["accuracy"]


@pytest.mark.shared
def test_webcam_on_the_shared_video_finds_her_face_with_the_shipped_model(media_dir, tmp_path, cli):
    frames = tmp_path / "frames.jsonl"
    code, _, err = cli("webcam", "--source", media_dir / "woman-with-phone.mp4", "--headless", "--json-out", frames)
    assert code == 0, err
    rows = [json.loads(line) for line in frames.read_text().splitlines()]
    assert len(rows) == 115 and sum(bool(r["faces"]) for r in rows) >= 100


def test_v3_the_shipped_models_teacher_is_where_its_card_says():
    """The card (and the README) rebuild v4 from v3 with ``git show e2aec41:assets/edgefer-s.keras``."""
    import shutil
    import subprocess

    repo = default_model_path().parent.parent
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git clone")
    card = json.loads((repo / "assets" / "edgefer-s.card.json").read_text())
    assert "git show e2aec41:assets/edgefer-s.keras" in card["training"]["command"]
    git = ["git", "-C", str(repo)]
    if (
        subprocess.run([*git, "rev-parse", "--is-shallow-repository"], capture_output=True, text=True).stdout.strip()
        == "true"
    ):
        pytest.skip("a shallow clone has no v3")
    show = subprocess.run([*git, "show", "e2aec41:assets/edgefer-s.json"], capture_output=True)
    assert show.returncode == 0, show.stderr
    v3 = json.loads(show.stdout)
    assert v3["extra"]["best_epoch"] == 84 and round(v3["extra"]["val_accuracy"], 4) == 0.6771
    assert card["training"]["init_from_model"]["model"].startswith("edgefer-s v3 (commit e2aec41)")
    assert card["training"]["init_from"] == card["training"]["teacher"] == "runs/v3.keras"
