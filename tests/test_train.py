"""`edge-fer train`: a real short run, its outputs, time budget + resume, and surviving SIGINT / SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from edge_fer.training.train import TrainConfig, parse_duration, resume, train

NARROW = {"widths": [8, 16, 32, 32], "depths": [1, 2, 1, 1], "bn_momentum": 0.5}
NARROW_ARGS = ["--arch", "edgefer-xs", "--batch-size", "16", "--augment", "none"]


def narrow_config(data: Path, out: Path, epochs: int, **kw) -> TrainConfig:
    settings = {"arch": "edgefer-xs", "batch_size": 16, "arch_kwargs": NARROW, "deterministic": True, **kw}
    return TrainConfig(data=str(data), out=str(out), epochs=epochs, **settings)


def test_parse_duration():
    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400 and parse_duration("45") == 45
    with pytest.raises(ValueError, match="2h, 90m"):
        parse_duration("soon")


def test_cli_run_writes_checkpoint_curves_history_and_summary(tiny_fer, tmp_path, cli):
    out = tmp_path / "run"
    code, _, err = cli("train", "--data", tiny_fer, "--out", out, "--epochs", "2", *NARROW_ARGS)
    assert code == 0, err
    assert "finished: 2/2 epochs" in err and "BatchNorm recalibrated on clean training faces" in err
    for name in ("best.keras", "best.json", "state.json", "history.csv", "curves.png", "summary.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and {"loss", "val_accuracy", "lr"} <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_done"] == 2 and summary["arch"] == "edgefer-xs" and summary["params"] > 0
    meta = json.loads((out / "best.json").read_text())
    assert meta["arch"] == "edgefer-xs" and meta["labels"][3] == "happy"
    assert len(list((out / "ckpt").glob("*.keras"))) == 1  # only the last epoch's checkpoint is kept
    code, _, err = cli("train", "--data", tiny_fer, "--out", out, "--epochs", "2", *NARROW_ARGS)
    assert code == 2 and "--resume" in err and "--force" in err


def test_time_budget_pause_then_resume_matches_an_uninterrupted_run(tiny_fer, tmp_path):
    straight = train(narrow_config(tiny_fer, tmp_path / "a", 3), verbose=0)
    assert (straight.status, straight.epochs_done) == ("finished", 3)
    paused = train(narrow_config(tiny_fer, tmp_path / "b", 3, time_budget_s=0.001), verbose=0)
    assert (paused.status, paused.epochs_done) == ("paused", 1)
    resumed = resume(tmp_path / "b", verbose=0)
    assert (resumed.status, resumed.epochs_done) == ("finished", 3)
    ha = json.loads((tmp_path / "a" / "state.json").read_text())["history"]
    hb = json.loads((tmp_path / "b" / "state.json").read_text())["history"]
    assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-5)
    assert ha["val_loss"] == pytest.approx(hb["val_loss"], rel=1e-5)
    wa = keras.models.load_model(tmp_path / "a" / "best.keras").get_weights()
    wb = keras.models.load_model(tmp_path / "b" / "best.keras").get_weights()
    for x, y in zip(wa, wb):
        assert x == pytest.approx(y, rel=1e-4, abs=1e-5)


def test_extending_a_cosine_run_rebuilds_its_schedule(tiny_fer, tmp_path):
    """--resume --epochs N past the end: a finished run restarts its cosine (its old one sits at zero); a
    run stopped early decays from where it was to zero at the new end."""
    mlp = {"arch": "seed003-mlp", "arch_kwargs": {}, "deterministic": False, "lr": 1e-3}
    finished = train(narrow_config(tiny_fer, tmp_path / "a", 2, **mlp), verbose=0)
    assert finished.status == "finished"
    resume(tmp_path / "a", epochs=4, verbose=0)
    lr = json.loads((tmp_path / "a" / "state.json").read_text())["history"]["lr"]
    assert len(lr) == 4 and lr[1] < 1e-9 and lr[2] == pytest.approx(5e-4, rel=0.05) and lr[3] < 1e-9
    extensions = json.loads((tmp_path / "a" / "state.json").read_text())["extensions"]
    assert extensions == [{"at_epoch": 2, "from_epochs": 2, "to_epochs": 4}]  # the card's second command

    paused = train(narrow_config(tiny_fer, tmp_path / "b", 2, time_budget_s=0.001, **mlp), verbose=0)
    assert (paused.status, paused.epochs_done) == ("paused", 1)
    resume(tmp_path / "b", epochs=3, verbose=0)
    lr = json.loads((tmp_path / "b" / "state.json").read_text())["history"]["lr"]
    assert lr[0] == pytest.approx(5e-4, rel=0.05)  # halfway through the planned 2 epochs
    assert lr[1] == pytest.approx(2.5e-4, rel=0.05) and lr[2] < 1e-9  # 5e-4 decayed over the 2 new epochs


def _spawn_training(data: Path, out: Path, epochs: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "edge_fer",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        *NARROW_ARGS,
        "--patience",  # a long run must still be running when the test signals it, learning or not
        str(epochs),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_epoch(out: Path, proc: subprocess.Popen, epoch: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = out / "state.json"
        if state.is_file() and json.loads(state.read_text())["epoch"] >= epoch:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"training did not reach epoch {epoch} in {timeout}s")


def signal_after_first_epoch(data: Path, out: Path, sig: int, timeout: float) -> tuple[int, str]:
    """Start a long training run in a real process, send ``sig`` once epoch 1 is saved; (exit code, stderr)."""
    proc = _spawn_training(data, out, epochs=200)
    _wait_for_epoch(out, proc, 1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.mark.slow
def test_sigkill_leaves_a_good_checkpoint_and_resume_finishes(tiny_fer, tmp_path, cli):
    out = tmp_path / "run"
    proc = _spawn_training(tiny_fer, out, epochs=200)
    _wait_for_epoch(out, proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state = json.loads((out / "state.json").read_text())
    keras.models.load_model(out / state["checkpoint"])  # the checkpoint it names is whole
    keras.models.load_model(out / "best.keras")
    code, _, err = cli("train", "--resume", out, "--epochs", str(state["epoch"] + 1))
    assert code == 0, err
    after = json.loads((out / "state.json").read_text())
    assert after["epoch"] == state["epoch"] + 1 and after["status"] == "finished"
    assert len(after["history"]["loss"]) == after["epoch"]
    assert not list(out.rglob(".*.part.*"))


@pytest.mark.slow
def test_ctrl_c_stops_at_the_epoch_end_with_state_saved(tiny_fer, tmp_path):
    out = tmp_path / "run"
    code, err = signal_after_first_epoch(tiny_fer, out, signal.SIGINT, timeout=400)
    assert code == 130, err
    assert "--resume" in err and "Traceback" not in err
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "stopped" and 1 <= state["epoch"] < 200


@pytest.mark.shared
@pytest.mark.slow
def test_a_bounded_run_on_fer2013_learns(fer_dir, tmp_path, cli):
    """Three epochs of a small report network on the real data beat always answering 'happy' (25%) by far."""
    out = tmp_path / "fer"
    code, _, err = cli(
        "train",
        "--data",
        fer_dir,
        "--out",
        out,
        "--epochs",
        "3",
        "--arch",
        "seed002-c2",
        "--batch-size",
        "128",
        "--augment",
        "none",
        "--lr",
        "1e-3",
        "--monitor",
        "val_accuracy",
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_val_accuracy"] > 0.40


def test_bad_arguments_are_usage_errors(tiny_fer, tmp_path, cli):
    code, _, err = cli("train", "--data", tiny_fer, "--arch", "resnet-9000", "--out", tmp_path / "x")
    assert code == 2 and "edgefer-s" in err
    code, _, err = cli("train", "--data", tiny_fer, "--epochs", "0", "--out", tmp_path / "x")
    assert code == 2
    code, _, err = cli("train", "--data", tiny_fer, "--optimizer", "lion", "--out", tmp_path / "x")
    assert code == 2 and "adam" in err
    code, _, err = cli("train", "--data", tmp_path / "missing", "--out", tmp_path / "x")
    assert code == 2 and "no such dataset folder" in err and "Traceback" not in err
    code, _, err = cli("train", "--resume", tmp_path / "nothing-here")
    assert code == 2 and "not a training run folder" in err


def test_resume_passes_every_epochs_value_through(cli, tmp_path, monkeypatch):
    """--epochs 60 (the default for new runs) must still extend a resumed run; no --epochs keeps the plan."""
    import edge_fer.training.train as train_module

    seen: dict = {}

    def fake_resume(run, epochs=None, time_budget_s=None, verbose=None):
        seen["epochs"] = epochs
        raise train_module.DataError("stop here")

    monkeypatch.setattr(train_module, "resume", fake_resume)
    for extra, expected in ((["--epochs", "60"], 60), ([], None), (["--epochs", "7"], 7)):
        code, _, err = cli("train", "--resume", tmp_path, *extra)
        assert code == 2 and "stop here" in err and seen.pop("epochs") == expected
