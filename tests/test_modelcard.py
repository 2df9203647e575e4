"""`edge-fer card`: the model card of an exported run, JSON beside the model and Markdown for the README."""

from __future__ import annotations

import json
import shutil

import pytest

from edge_fer.labels import LABELS


@pytest.mark.parametrize("flip_budget", [None, "0.3"])
def test_card_of_an_exported_run(cli, trained_keras, tiny_fer, tmp_path, flip_budget):
    exported = tmp_path / "exp"
    exported.mkdir()
    shutil.copy(trained_keras, exported / "m.keras")
    shutil.copy(trained_keras.with_suffix(".json"), exported / "m.json")
    policy = ["--flip-budget", flip_budget] if flip_budget else []
    code, _, err = cli(
        "export", exported / "m.keras", "--formats", "tflite-int8,onnx", "--data", tiny_fer, "--out", exported, *policy
    )
    assert code == 0, err

    code, out, err = cli(
        "card", trained_keras.parent, "--export-dir", exported, "--val", tiny_fer / "val", "--name", "m"
    )
    assert code == 0, err
    card = json.loads((exported / "m.card.json").read_text())
    parity = json.loads((exported / "parity.json").read_text())
    int8 = next(r for r in parity["artifacts"] if r["format"] == "tflite-int8")
    assert card["arch"] == "edgefer-xs" and card["labels"] == list(LABELS)
    assert card["val_accuracy"]["tflite-int8"] == int8["accuracy"] and card["size_bytes"]["tflite-int8"] > 0
    assert set(card["per_class_recall"]) == set(LABELS) and (exported / card["confusion_png"]).is_file()
    assert card["latency_int8_p50_ms_one_thread"] > 0
    training = card["training"]
    assert training["command"].startswith(f"edge-fer train --data {tiny_fer} --arch edgefer-xs")
    assert training["data"] == f"training faces from {tiny_fer}; checkpoint chosen on the run's validation faces"
    assert training["init_from"] is None and training["teacher"] is None and training["distill"] is None
    assert training["epochs_done"] == 6 and training["bn_recalibrated"] is True
    assert 0.0 <= training["val_accuracy_before_bn_recalibration"] <= 1.0
    assert "BatchNorm statistics re-estimated" in out and "| tflite-int8 |" in out
    flip = card["flip_policy"]
    if flip_budget is None:
        assert flip is None and "test-time policy" not in out
    else:
        int8_eval = json.loads((exported / "m_int8_val_eval.json").read_text())
        assert flip["val_accuracy"]["tflite-int8"] == int8_eval["accuracy"]
        assert set(flip["val_accuracy"]) == set(flip["policy"]) == {"tflite-int8", "onnx"}
        assert flip["policy"]["onnx"]["mode"] == "flip-below-confidence"
        assert 0 < flip["latency_int8_one_thread_ms"]["p50_ms"] <= flip["latency_int8_one_thread_ms"]["p90_ms"]
        assert "with its test-time policy" in out and "faces given extra views" in out
        assert "With its test-time policy (mirrors) the int8 model takes p50" in out
    # A card is rebuilt whole: running it again refreshes its evaluation files.
    code, _, err = cli("card", trained_keras.parent, "--export-dir", exported, "--val", tiny_fer / "val", "--name", "m")
    assert code == 0, err
