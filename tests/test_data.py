"""FER2013 loading: folders, CSV, cache, problems, splits, class weights, `edge-fer data check`."""

from __future__ import annotations

import json
import os
import time

import cv2
import numpy as np
import pytest
from conftest import make_dataset

from edge_fer.errors import DataError
from edge_fer.labels import FER2013_CSV_IDS, LABELS
from edge_fer.training.data import class_weights, load_csv, load_folder, load_train_val, stratified_split


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_FER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "datasets"


def messy_split(root):
    """A split with good faces plus every kind of problem the checker must list."""
    make_dataset(root, {"happy": 5, "sad": 3, "disgust": 1})
    (root / "happy" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "happy" / "empty.png").write_bytes(b"")
    cv2.imwrite(str(root / "sad" / "big.png"), np.zeros((64, 64), np.uint8))
    (root / "sad" / "notes.txt").write_text("hello")
    cv2.imwrite(str(root / "loose.png"), np.zeros((48, 48), np.uint8))
    (root / "contempt").mkdir()
    cv2.imwrite(str(root / "contempt" / "x.png"), np.zeros((48, 48), np.uint8))
    return root


def test_folder_loads_faces_and_lists_every_problem(tmp_path, cache):
    faces = load_folder(messy_split(tmp_path / "train"))
    assert len(faces) == 9
    assert faces.counts() == {**dict.fromkeys(LABELS, 0), "happy": 5, "sad": 3, "disgust": 1}
    assert faces.x.shape == (9, 48, 48) and faces.x.dtype == np.uint8
    reasons = {os.path.basename(p.path): p.reason for p in faces.problems}
    assert reasons["corrupt.jpg"] == "unreadable or corrupt image"
    assert reasons["empty.png"] == "empty file"
    assert reasons["big.png"].startswith("wrong size 64x64")
    assert reasons["notes.txt"] == "not an image file"
    assert reasons["loose.png"].startswith("unlabelled")
    assert reasons["contempt"] == "unknown label folder (1 file skipped)"


def test_cache_is_used_then_invalidated_when_the_folder_changes(tmp_path, cache):
    root = make_dataset(tmp_path / "train", {"angry": 4, "fear": 4})
    first = load_folder(root)
    assert len(list(cache.glob("*.npz"))) == 1
    again = load_folder(root)
    np.testing.assert_array_equal(first.x, again.x)
    time.sleep(0.01)
    cv2.imwrite(str(root / "fear" / "new.png"), np.full((48, 48), 7, np.uint8))
    changed = load_folder(root)
    assert len(changed) == 9 and changed.counts()["fear"] == 5
    assert len(list(cache.glob("*.npz"))) == 2


def test_empty_or_missing_folder_is_a_clear_error(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no labelled images"):
        load_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="no such dataset folder"):
        load_folder(tmp_path / "nope")


def test_csv_maps_the_original_emotion_ids(tmp_path):
    rows = ["emotion,pixels,Usage"]
    for emotion_id in range(7):
        rows.append(f"{emotion_id},{' '.join([str(emotion_id)] * 2304)},Training")
    rows.append(f"4,{' '.join(['9'] * 2304)},PublicTest")
    rows.append("3,1 2 3,Training")
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join(rows) + "\n")
    train = load_csv(path, "train")
    assert len(train) == 7 and len(train.problems) == 1
    for k in range(7):  # the pixel value of row k tells its CSV id; the label must be that id's name
        assert LABELS[train.y[k]] == FER2013_CSV_IDS[int(train.x[k, 0, 0])]
    val = load_csv(path, "val")
    assert len(val) == 1 and LABELS[val.y[0]] == "sad"


def test_stratified_split_is_seeded_and_keeps_shares(tmp_path, cache):
    faces = load_folder(make_dataset(tmp_path / "all", {"happy": 40, "sad": 20, "angry": 10}))
    a_train, a_val = stratified_split(faces, 0.2, seed=3)
    _, b_val = stratified_split(faces, 0.2, seed=3)
    np.testing.assert_array_equal(a_val.x, b_val.x)
    assert a_val.counts()["happy"] == 8 and a_val.counts()["sad"] == 4 and a_val.counts()["angry"] == 2
    assert len(a_train) + len(a_val) == 70


def test_train_val_layouts(tiny_fer, tmp_path, cache):
    train, val = load_train_val(tiny_fer)
    assert (len(train), len(val)) == (24 * 7, 8 * 7)
    only = make_dataset(tmp_path / "one", dict.fromkeys(LABELS, 10))
    train, val = load_train_val(only, val_fraction=0.2)
    assert (len(train), len(val)) == (56, 14)


def test_balanced_class_weights_follow_sklearn_formula():
    y = np.array([0] * 10 + [1] * 30 + [2] * 60)
    w = class_weights(y)
    assert w[0] == pytest.approx(100 / (3 * 10)) and w[2] == pytest.approx(100 / (3 * 60))


def test_data_check_cli_table_and_json(tmp_path, cache, cli):
    root = messy_split(tmp_path / "train")
    code, out, _ = cli("data", "check", root)
    assert code == 0
    assert "9 usable faces" in out and "corrupt.jpg" in out and "6 unusable files" in out
    # Four of seven labels have no face: the imbalance is infinite, and the labels are named.
    assert "class imbalance: infinite, no faces for angry, fear, neutral, surprise" in out
    code, out, _ = cli("data", "check", root, "--json")
    report = json.loads(out)
    assert report["total"] == 9 and len(report["problems"]) == 6
    assert report["imbalance_ratio"] is None and report["empty_labels"] == ["angry", "fear", "neutral", "surprise"]


def test_data_check_imbalance_with_every_label_and_one_face(tmp_path, cache, cli):
    root = make_dataset(tmp_path / "train", {**dict.fromkeys(LABELS, 3), "happy": 12, "disgust": 1})
    code, out, _ = cli("data", "check", root)
    assert code == 0 and "28 usable faces" in out
    assert "class imbalance (largest / smallest label): 12.0" in out and "infinite" not in out
    report = json.loads(cli("data", "check", root, "--json")[1])
    assert report["imbalance_ratio"] == 12.0 and report["empty_labels"] == []
    one = make_dataset(tmp_path / "one", {"happy": 1})
    code, out, _ = cli("data", "check", one)
    assert code == 0 and "1 usable face\n" in out and "no faces for angry, disgust, fear, neutral, sad, surprise" in out


@pytest.mark.shared
def test_data_check_on_shared_fer2013(fer_dir, cli):
    code, out, _ = cli("data", "check", fer_dir / "train", "--json")
    report = json.loads(out)
    assert code == 0 and report["total"] == 28709
    assert report["counts"]["disgust"] == 436 and report["counts"]["happy"] == 7215
