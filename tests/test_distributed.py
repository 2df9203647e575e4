"""Training beyond one device: two `edge-fer train` workers on the loopback interface (TF_CONFIG,
MultiWorkerMirroredStrategy), a worker lost mid-run and the resume after it, and MirroredStrategy over two
logical CPU devices, the code path several GPUs take."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset

from edge_fer.labels import LABELS

pytestmark = pytest.mark.slow

#: Two TensorFlow processes on a shared 2-core machine: generous, so a busy machine does not fail the test;
#: a run normally ends in well under a minute.
CLUSTER_TIMEOUT_S = 240
XS_ARGS = ["--arch", "edgefer-xs", "--batch-size", "32"]


@pytest.fixture(scope="module")
def faces60(tmp_path_factory) -> Path:
    """The issue's set-up: 60 training faces per label (and 20 for validation), JPG files in label folders."""
    root = tmp_path_factory.mktemp("faces60")
    make_dataset(root / "train", dict.fromkeys(LABELS, 60), seed=3, suffix=".jpg")
    make_dataset(root / "val", dict.fromkeys(LABELS, 20), seed=4, suffix=".jpg")
    return root


def free_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 just now (the OS picks them; the sockets are closed for TF to bind)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


@contextlib.contextmanager
def cluster(logs: Path, *args: str | Path, workers: int = 2) -> Iterator[list[subprocess.Popen]]:
    """``edge-fer train ARGS`` once per worker, each with its TF_CONFIG; every process still running when
    the block ends (a failure, a timeout) is killed with its children, so no worker outlives the test."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        for i in range(workers):
            tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}}
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "EDGE_FER_CACHE": str(logs / "cache")}
            with open(logs / f"worker{i}.out", "w") as out, open(logs / f"worker{i}.err", "w") as err:
                command = [sys.executable, "-m", "edge_fer", "train", *map(str, args)]
                procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True))
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_all(procs: list[subprocess.Popen], logs: Path) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) per worker; fails the test past CLUSTER_TIMEOUT_S."""
    deadline = time.monotonic() + CLUSTER_TIMEOUT_S
    results = []
    for i, proc in enumerate(procs):
        try:
            code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            err = (logs / f"worker{i}.err").read_text()
            pytest.fail(f"worker {i} still running after {CLUSTER_TIMEOUT_S} s: {err[-3000:]}")
        results.append((code, (logs / f"worker{i}.out").read_text(), (logs / f"worker{i}.err").read_text()))
    return results


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("edge-fer: error:")]


def epoch_logs(stdout: str, key: str) -> list[float]:
    """One value of ``key`` per epoch from Keras' per-epoch lines (``... - loss: 1.9461 - ...``)."""
    return [float(v) for v in re.findall(rf"- {key}: ([0-9.]+)", stdout)]


def test_two_workers_on_loopback_train_as_one_and_the_chief_writes_the_run(faces60, tmp_path):
    """The issue's command: two workers, 2 epochs of edgefer-xs at batch 32 on 60 faces per label."""
    out = tmp_path / "run"
    with cluster(tmp_path / "logs", "--data", faces60, "--out", out, "--epochs", "2", *XS_ARGS) as procs:
        (code0, out0, err0), (code1, out1, err1) = wait_all(procs, tmp_path / "logs")
    assert (code0, code1) == (0, 0), err0[-3000:] + err1[-3000:]
    assert "finished: 2/2 epochs" in err0 and "finished: 2/2 epochs" in err1
    # Each step's gradients are all-reduced, so both workers report the same losses, epoch by epoch.
    losses = epoch_logs(out0, "loss")
    assert len(losses) == 2 and losses == epoch_logs(out1, "loss")
    assert epoch_logs(out0, "val_accuracy") == epoch_logs(out1, "val_accuracy")
    for name in ("best.keras", "best.json", "state.json", "history.csv", "curves.png", "summary.json"):
        assert (out / name).is_file(), name
    assert [p.name for p in (out / "ckpt").iterdir()] == ["epoch-0002.keras"]
    assert not list(out.glob("workertemp_*")), "a worker's temporary folder was left behind"
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert [float(r["loss"]) for r in rows] == pytest.approx(losses, abs=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["workers"], summary["replicas"], summary["epochs_done"]) == (2, 2, 2)
    assert summary["best"]["bn_recalibrated"] is True  # the chief's own work after training

    import keras

    from edge_fer.training.data import load_folder

    model = keras.models.load_model(out / "best.keras")
    faces = load_folder(faces60 / "val", use_cache=False)
    probs = model.predict(faces.x.astype("float32")[..., None], verbose=0)
    assert probs.shape == (len(faces), len(LABELS)) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def _wait_for_first_epoch(out: Path, procs: list, logs: Path) -> None:
    """Until the chief has committed an epoch of the run in ``out``; fails if a worker dies or time runs out."""
    deadline = time.monotonic() + CLUSTER_TIMEOUT_S
    while _epochs_done(out) < 1:
        assert all(p.poll() is None for p in procs), (logs / "worker0.err").read_text()[-3000:]
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.1)


def test_a_lost_worker_stops_the_run_at_its_last_epoch_and_every_worker_resumes_it(faces60, tmp_path):
    """Worker 1 is killed after epoch 1: the chief stops at once with one line and exit 130, the last
    completed epoch committed; started again with --resume, both workers finish the run. (Killing the chief
    instead ends worker 1 the same way; the chief's folder is the run either way.)"""
    out = tmp_path / "run"
    logs = tmp_path / "logs"
    args = ("--data", faces60, "--out", out, "--epochs", "3", "--no-recalibrate-bn", *XS_ARGS)
    with cluster(logs, *args) as procs:
        _wait_for_first_epoch(out, procs, logs)
        os.killpg(procs[1].pid, signal.SIGKILL)
        (code, _, err), _ = wait_all(procs, logs)
    assert code == 130, err[-3000:]
    (line,) = error_lines(err)
    assert "a worker of the cluster was lost during epoch" in line and f"--resume {out}" in line
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "interrupted" and 1 <= state["epoch"] < 3
    assert (out / state["checkpoint"]).is_file() and len(state["history"]["loss"]) == state["epoch"]
    stopped_at = state["epoch"]

    with cluster(tmp_path / "logs2", "--resume", out) as procs:
        results = wait_all(procs, tmp_path / "logs2")
    assert [code for code, _, _ in results] == [0, 0], results[0][2][-3000:] + results[1][2][-3000:]
    state = json.loads((out / "state.json").read_text())
    assert (state["status"], state["epoch"]) == ("finished", 3)
    resumed = epoch_logs(results[0][1], "loss")
    assert len(resumed) == 3 - stopped_at and state["history"]["loss"][stopped_at:] == pytest.approx(resumed, abs=1e-4)
    assert not list(out.glob("workertemp_*"))


def test_ctrl_c_on_the_chief_alone_stops_every_worker_at_the_same_epoch(faces60, tmp_path):
    """The chief's stop request is agreed with the other worker at the epoch's end (else that worker would wait
    for a batch that never comes): both stop after the same epoch, exit 130 and say how to resume."""
    out = tmp_path / "run"
    logs = tmp_path / "logs"
    args = ("--data", faces60, "--out", out, "--epochs", "4", "--no-recalibrate-bn", *XS_ARGS)
    with cluster(logs, *args) as procs:
        _wait_for_first_epoch(out, procs, logs)
        os.kill(procs[0].pid, signal.SIGINT)
        results = wait_all(procs, logs)
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "stopped" and 1 <= state["epoch"] < 4
    for code, _, err in results:
        assert code == 130, err[-3000:]
        assert error_lines(err) == [
            f"edge-fer: error: training stopped at epoch {state['epoch']}; continue: edge-fer train --resume {out}"
        ]
    assert not list(out.glob("workertemp_*"))


def _epochs_done(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "state.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


#: Trains in a fresh process whose CPU is split into two logical devices before TensorFlow starts, so
#: training.distribute picks MirroredStrategy over them, exactly as it would over two GPUs. A time budget
#: pauses it after epoch 1 and it resumes, so checkpoints and resume go through the strategy too.
MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from edge_fer.training.train import TrainConfig, resume, train
cfg = TrainConfig(**json.loads(sys.argv[1]))
paused = train(TrainConfig(**{**cfg.__dict__, "time_budget_s": 1e-3}), verbose=0)
done = resume(cfg.out, verbose=0)
print(json.dumps({"paused_at": paused.epochs_done, "status": done.status, "replicas": done.summary["replicas"]}))
"""


def test_mirrored_strategy_over_two_devices_trains_as_one_device_does(tiny_fer, tmp_path):
    """Same data, seed and global batch: two replicas (each half of every batch, gradients summed) follow the
    one-device run's losses. An MLP without augmentation, so nothing random or per-batch (BatchNorm) differs."""
    from edge_fer.training.augment import AugmentConfig
    from edge_fer.training.train import TrainConfig, train

    settings = {"data": str(tiny_fer), "arch": "seed003-mlp", "epochs": 3, "batch_size": 32, "lr": 1e-3}
    settings |= {"schedule": "constant", "augment": AugmentConfig.preset("none").to_dict(), "recalibrate_bn": False}
    two = TrainConfig(out=str(tmp_path / "two"), **settings)
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(two.__dict__)],
        capture_output=True,
        text=True,
        timeout=CLUSTER_TIMEOUT_S,
        env={**os.environ, "EDGE_FER_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"paused_at": 1, "status": "finished", "replicas": 2}
    one = train(TrainConfig(out=str(tmp_path / "one"), **settings), verbose=0)
    assert one.summary["replicas"] == 1
    h_two = json.loads((tmp_path / "two" / "state.json").read_text())["history"]
    h_one = json.loads((tmp_path / "one" / "state.json").read_text())["history"]
    assert len(h_two["loss"]) == 3
    assert h_two["loss"] == pytest.approx(h_one["loss"], rel=1e-4)
    assert h_two["val_loss"] == pytest.approx(h_one["val_loss"], rel=1e-4)


def test_a_failed_collective_is_named_in_a_few_words():
    from edge_fer.training.distribute import collective_error

    raw = (
        "{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:1/device:CPU:0}} "
        "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error information: ..."
    )
    assert collective_error(Exception(raw)) == "Collective ops is aborted by: recvmsg:Connection reset by peer"
    assert collective_error(Exception("x" * 500), limit=10) == "x" * 10 + " [...]"
