"""`edge-fer card`: the model card of an exported run, JSON beside the model and Markdown for the README."""

from __future__ import annotations

import json
import shutil

from edge_fer.labels import LABELS


def test_card_of_an_exported_run(cli, trained_keras, tiny_fer, tmp_path):
    exported = tmp_path / "exp"
    exported.mkdir()
    shutil.copy(trained_keras, exported / "m.keras")
    shutil.copy(trained_keras.with_suffix(".json"), exported / "m.json")
    code, _, err = cli(
        "export", exported / "m.keras", "--formats", "tflite-int8", "--data", tiny_fer, "--out", exported
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
    assert training["epochs_done"] == 6 and training["bn_recalibrated"] is True
    assert 0.0 <= training["val_accuracy_before_bn_recalibration"] <= 1.0
    assert "BatchNorm statistics re-estimated" in out and "| tflite-int8 |" in out
    # A card is rebuilt whole: running it again refreshes its evaluation files.
    code, _, err = cli("card", trained_keras.parent, "--export-dir", exported, "--val", tiny_fer / "val", "--name", "m")
    assert code == 0, err
