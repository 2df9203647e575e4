"""Pseudo-labelling, sweeps and the reports' experiments, on tiny data with cheap models (--quick)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edge_fer.labels import LABELS

XS = {"widths": [8, 16, 32, 32], "depths": [1, 2, 1, 1], "bn_momentum": 0.5}


def _unlabelled(tiny_fer: Path, tmp_path: Path) -> Path:
    """The tiny val faces with their labels taken away (flat folder)."""
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for label in LABELS:
        for p in sorted((tiny_fer / "val" / label).glob("*.png")):
            (folder / f"{label}_{p.name}").write_bytes(p.read_bytes())
    return folder


def test_pseudo_labelling_keeps_exactly_the_faces_above_the_threshold(trained_keras, tiny_fer, tmp_path):
    from edge_fer.backends import load_classifier
    from edge_fer.training.pseudo import load_unlabelled, write_pseudo_labels

    folder = _unlabelled(tiny_fer, tmp_path)
    x, paths = load_unlabelled(folder)
    probs = load_classifier(trained_keras, backend="keras").predict(x[..., None])
    top = probs.max(axis=1)
    threshold = float(np.median(top))
    expected = {Path(p).stem: LABELS[int(q.argmax())] for p, q, t in zip(paths, probs, top) if t > threshold}
    assert 0 < len(expected) < len(x)

    report = write_pseudo_labels(trained_keras, folder, threshold, tmp_path / "pseudo")
    written = {f.stem.split("_", 1)[1]: f.parent.name for f in (tmp_path / "pseudo").rglob("*.png")}
    assert report["selected"] == len(expected) and written == expected
    assert all(f["probability"] > threshold for f in report["faces"])
    assert sum(report["counts"].values()) == len(expected)
    # Written faces are the very pixels that were labelled.
    some = next(iter((tmp_path / "pseudo").rglob("*.png")))
    source = folder / (some.stem.split("_", 1)[1] + ".png")
    assert np.array_equal(cv2.imread(str(some), 0), cv2.imread(str(source), 0))

    assert write_pseudo_labels(trained_keras, folder, 0.0, tmp_path / "all")["selected"] == len(x)


def test_label_smoothing_ceiling_warns_when_the_threshold_is_out_of_reach(caplog):
    from edge_fer.training.pseudo import max_confidence, warn_unreachable

    assert max_confidence(0.0) == 1.0
    assert abs(max_confidence(0.1) - (0.9 + 0.1 / 7)) < 1e-12  # the target of the true class
    warn_unreachable(0.9, 0.1)
    assert "ceiling" in caplog.text and "--label-smoothing 0" in caplog.text
    caplog.clear()
    warn_unreachable(0.9, 0.0)
    warn_unreachable(0.7, 0.1)
    assert caplog.text == ""


def test_train_with_pseudo_labels_continues_on_both(cli, tiny_fer, tmp_path):
    from edge_fer.training.checkpoint import RunState

    folder = _unlabelled(tiny_fer, tmp_path)
    run = tmp_path / "run"
    code, _, err = cli(
        "train", "--data", tiny_fer, "--arch", "seed003-mlp", "--epochs", "8", "--batch-size", "32",
        "--out", run, "--pseudo-label", folder, "--threshold", "0.0",
    )  # fmt: skip
    assert code == 0, err
    state = RunState.load(run)
    assert state.epoch == 8 + 2 and len(state.history["val_accuracy"]) == 10  # a quarter more epochs
    assert state.config["extra_train"] == [str(run / "pseudo")]
    assert sum(1 for _ in (run / "pseudo").rglob("*.png")) == 7 * 8  # threshold 0: every face
    assert "pseudo-labelled 56 of 56" in err
    # The cosine schedule had decayed to zero after epoch 8; it restarted over the two extra epochs.
    lr = state.history["lr"]
    assert lr[7] < 1e-9 and lr[8] > 1e-4


def test_pseudo_label_experiment_quick(cli, tiny_fer, tmp_path):
    code, out, err = cli(
        "experiment", "pseudo-label", "--data", tiny_fer, "--arch", "seed003-mlp", "--quick",
        "--threshold", "0.3", "--out", tmp_path / "exp", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["split"] == {"train": 112, "unlabelled": 28, "val": 28}  # 168 faces, 4:1:1
    without, with_ = report["runs"]
    assert without["epochs"] == with_["epochs"] == 2
    assert without["pseudo_faces"] == 0 and with_["pseudo_faces"] == report["pseudo_selected"] <= 28
    # Both continue from one phase-1 checkpoint: the same accuracy after phase 1.
    assert without["val_accuracy_after_phase1"] == with_["val_accuracy_after_phase1"]
    assert cv2.imread(report["curves_png"]) is not None
    truth = json.loads((tmp_path / "exp" / "data" / "unlabelled_truth.json").read_text())
    assert len(truth) == 28 and not any((tmp_path / "exp" / "data" / "unlabelled").glob("*/"))
    # The report's plain cross-entropy: smoothing would cap confidence below a 0.9 threshold.
    from edge_fer.training.checkpoint import RunState

    assert RunState.load(tmp_path / "exp" / "phase1").config["label_smoothing"] == 0.0
    # A rerun reuses everything: same numbers, no new epochs.
    code, out2, err = cli(
        "experiment", "pseudo-label", "--data", tiny_fer, "--arch", "seed003-mlp", "--quick",
        "--threshold", "0.3", "--out", tmp_path / "exp", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out2)["runs"] == report["runs"]


def test_sweep_grid_file_table_matches_the_zoo(cli, tiny_fer, tmp_path):
    from edge_fer.training.zoo import create_model, model_macs

    grid = [
        {"arch": "edgefer-xs", "name": "xs-tiny", "arch_kwargs": XS, "epochs": 2},
        {"arch": "seed003-mlp"},
        {"arch": "seed003-mlp", "lr": 3e-4},
    ]
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    code, out, err = cli(
        "sweep",
        "--data",
        tiny_fer,
        "--grid",
        tmp_path / "grid.json",
        "--epochs",
        "1",
        "--out",
        tmp_path / "sw",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    rows = report["runs"]
    assert [r["name"] for r in rows] == ["xs-tiny", "seed003-mlp", "seed003-mlp-2"]
    assert [r["epochs"] for r in rows] == [2, 1, 1]
    for row, run in zip(rows, grid):
        model = create_model(run["arch"], **run.get("arch_kwargs", {}))
        assert row["params"] == model.count_params() and row["macs"] == model_macs(model)
        assert 0 <= row["best_val_accuracy"] <= 1 and row["train_seconds"] > 0
    saved = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert saved["runs"] == rows
    img = cv2.imread(report["curves_png"])
    assert img is not None and img.shape[1] > img.shape[0]


def test_sweep_refuses_bad_grids(cli, tiny_fer, tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps([{"arch": "edgefer-s", "colour": "red"}]))
    code, _, err = cli("sweep", "--data", tiny_fer, "--grid", tmp_path / "bad.json", "--out", tmp_path)
    assert code == 2 and "colour" in err
    (tmp_path / "bad2.json").write_text(json.dumps([{"arch": "no-such-net"}]))
    code, _, err = cli("sweep", "--data", tiny_fer, "--grid", tmp_path / "bad2.json", "--out", tmp_path)
    assert code == 2 and "no-such-net" in err
    code, _, err = cli("sweep", "--data", tiny_fer, "--preset", "seed999", "--out", tmp_path)
    assert code == 2 and "seed002" in err


def test_seed002_preset_is_the_reports_six_cnns():
    from edge_fer.training.sweep import preset
    from edge_fer.training.zoo.seeds import SEED002_GRID

    assert [r["arch"] for r in preset("seed002")] == list(SEED002_GRID) == [f"seed002-c{i}" for i in range(1, 7)]


def test_cnn_vs_dnn_quick(cli, tiny_fer, tmp_path):
    code, out, err = cli("experiment", "cnn-vs-dnn", "--data", tiny_fer, "--quick", "--out", tmp_path, "--json")
    assert code == 0, err
    report = json.loads(out)
    cnn, dnn = report["runs"]
    assert (cnn["arch"], dnn["arch"]) == ("seed004-cnn", "seed004-dnn")
    assert (cnn["params"], dnn["params"]) == (3_484_935, 3_151_367)
    assert cnn["epochs"] == dnn["epochs"] == 1
    assert np.isclose(report["cnn_minus_dnn_accuracy"], cnn["best_val_accuracy"] - dnn["best_val_accuracy"])
    assert (tmp_path / "cnn_vs_dnn.json").is_file() and cv2.imread(report["curves_png"]) is not None
