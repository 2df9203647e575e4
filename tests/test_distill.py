"""Crop-consistency distillation (training.distill, `edge-fer train --teacher`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_fer.errors import DataError
from edge_fer.labels import LABELS


def test_each_reframed_face_is_paired_with_its_original_in_the_same_folder() -> None:
    from edge_fer.training.distill import original_index

    paths = [
        "d/train/happy/a.jpg",
        "d/train/happy/a_reframed.png",
        "d/train/sad/b_reframed.png",  # its original was not loaded: the teacher sees the crop itself
        "d/train/sad/a_reframed.png",  # same stem, other folder: not a's twin
        "d/train/sad/c.png",
    ]
    assert original_index(paths).tolist() == [0, 0, 2, 3, 4]


def test_targets_mix_the_label_with_the_teachers_reading_of_the_original(trained_keras, tiny_fer) -> None:
    from edge_fer.backends import load_classifier
    from edge_fer.training.data import load_folder
    from edge_fer.training.distill import distilled_targets

    faces = load_folder(tiny_fer / "train", use_cache=False)
    pick = [0, 30, 60]
    x, y = faces.x[pick], faces.y[pick]
    # face 1 is the reframed twin of face 0 (its pixels differ: another face of the set)
    paths = ["t/happy/f.jpg", "t/happy/f_reframed.png", "t/sad/g.png"]
    targets = distilled_targets(trained_keras, x, y, paths, weight=0.5)
    teacher = load_classifier(trained_keras)
    seen = (teacher.predict(x[..., None]) + teacher.predict(x[:, :, ::-1, None])) / 2
    onehot = np.eye(len(LABELS))[y]
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(targets[0], 0.5 * onehot[0] + 0.5 * seen[0], atol=1e-5)
    np.testing.assert_allclose(targets[1], 0.5 * onehot[1] + 0.5 * seen[0], atol=1e-5)  # the original's reading
    np.testing.assert_allclose(targets[2], 0.5 * onehot[2] + 0.5 * seen[2], atol=1e-5)
    assert not np.allclose(seen[0], seen[1], atol=1e-3)  # so the pairing is what made row 1 equal row 0's reading
    np.testing.assert_array_equal(distilled_targets(trained_keras, x, y, paths, weight=0.0), onehot)


def test_bad_distillation_settings_are_refused_with_a_reason(trained_keras, tmp_path) -> None:
    from edge_fer.training.distill import distilled_targets

    x, y = np.zeros((2, 48, 48), np.uint8), np.array([0, 1])
    with pytest.raises(DataError, match=r"--distill 1.5 is not in \[0, 1\]"):
        distilled_targets(trained_keras, x, y, ["a.jpg", "b.jpg"], 1.5)
    with pytest.raises(DataError, match="file path"):
        distilled_targets(trained_keras, x, y, [], 0.5)
    with pytest.raises(DataError, match="--teacher"):
        distilled_targets(tmp_path / "missing.keras", x, y, ["a.jpg", "b.jpg"], 0.5)


def test_soft_targets_reach_the_batches_unchanged() -> None:
    from edge_fer.training.train import make_train_dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (8, 48, 48), dtype=np.uint8)
    soft = rng.dirichlet(np.ones(len(LABELS)), 8).astype(np.float32)
    seen = {}
    for xb, tb in make_train_dataset(x, soft, 4, 0, range(0, 1), len(LABELS)):
        for face, target in zip(xb.numpy(), tb.numpy()):
            seen[int(np.flatnonzero((x == face[..., 0]).all(axis=(1, 2)))[0])] = target
    assert sorted(seen) == list(range(8))
    for i, target in seen.items():
        np.testing.assert_allclose(target, soft[i])


def test_a_run_with_a_teacher_records_it_and_resumes_only_with_the_same_teacher(
    tiny_fer, trained_keras, tmp_path, cli
) -> None:
    import shutil

    from edge_fer.digest import file_digest

    teacher = tmp_path / "teacher.keras"  # a copy: the test changes it
    shutil.copy(trained_keras, teacher)
    shutil.copy(trained_keras.with_suffix(".json"), teacher.with_suffix(".json"))
    out = tmp_path / "kd"
    code, _, err = cli(
        "train", "--data", str(tiny_fer), "--arch", "edgefer-xs", "--out", str(out), "--epochs", "1",
        "--batch-size", "32", "--augment", "none", "--precision", "float32", "--no-recalibrate-bn",
        "--teacher", str(teacher), "--distill", "0.7",
    )  # fmt: skip
    assert code == 0, err
    state = json.loads((out / "state.json").read_text())
    assert (state["config"]["teacher"], state["config"]["distill"]) == (str(teacher), 0.7)
    assert state["teacher_sha256"] == file_digest(teacher) and len(state["teacher_sha256"]) == 64
    assert f"distillation: {teacher} reads the originals of" in err  # a sign of life before the first epoch
    original = teacher.read_bytes()
    teacher.write_bytes(original + b"another model")
    code, _, err = cli("train", "--resume", str(out), "--epochs", "2")
    assert code == 2 and err.strip().splitlines() == [
        f"edge-fer: error: --teacher {teacher} is not the model this run started with (its SHA-256 changed); "
        "put that model back there, or start a new run"
    ]
    teacher.write_bytes(original)
    code, _, err = cli("train", "--resume", str(out), "--epochs", "2")
    assert code == 0, err
    assert json.loads((out / "state.json").read_text())["epoch"] == 2
    code, _, err = cli("train", "--data", str(tiny_fer), "--out", str(tmp_path / "bad"), "--distill", "2")
    assert code == 2 and "--distill" in err
    code, _, err = cli("train", "--data", str(tiny_fer), "--out", str(tmp_path / "nt"), "--teacher", "nope.keras")
    assert code != 0 and err.strip().splitlines() == ["edge-fer: error: --teacher nope.keras: no such model file"]
    assert not (tmp_path / "nt").exists()  # refused before the run folder was made


def test_the_cards_command_line_names_the_teacher() -> None:
    from edge_fer.training.modelcard import command_line

    config = {"data": "runs/fer2013-reframed", "arch": "edgefer-s", "out": "runs/kd", "epochs": 3}
    line = command_line({**config, "teacher": "assets/edgefer-s.keras", "distill": 0.7})
    assert "--teacher assets/edgefer-s.keras --distill 0.7" in line
    assert "--teacher" not in command_line({**config, "teacher": None})
    assert "--distill" not in command_line({**config, "teacher": "t.keras", "distill": 0.5})  # the default


def test_the_cards_data_line_names_the_starting_weights_and_the_teacher() -> None:
    from edge_fer.training.modelcard import data_description

    config = {"data": "runs/fer2013-reframed", "init_from": "runs/v3.keras", "teacher": "runs/v3.keras", "distill": 0.5}
    assert data_description(config) == (
        "training faces from runs/fer2013-reframed; weights initialised from runs/v3.keras; targets (1 - 0.5) x "
        "label + 0.5 x runs/v3.keras's mirror-averaged probabilities for each face's original (crop-consistency "
        "distillation); checkpoint chosen on the run's validation faces"
    )
    assert data_description({"data": "d", "extra_train": ["p"]}) == (
        "training faces from d and p; checkpoint chosen on the run's validation faces"
    )
