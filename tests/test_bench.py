"""`edge-fer bench`: model latency/memory report, the pipeline per stage, and the model card helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runtime_models import converted

from edge_fer.training.modelcard import command_line
from edge_fer.training.train import TrainConfig


@pytest.fixture(scope="module")
def models(trained_keras) -> dict[str, Path]:
    return converted(str(trained_keras))


def test_bench_json_reports_every_field_without_tensorflow(models, cli):
    code, out, err = cli("bench", models["tflite_int8"], "--runs", "20", "--warmup", "3", "--batch", "1,4", "--json")
    assert code == 0, err
    results = json.loads(out)["results"]
    assert [r["batch"] for r in results] == [1, 4]
    for r in results:
        assert {
            "model",
            "backend",
            "threads",
            "batch",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "throughput_per_s",
            "size_bytes",
            "peak_rss_mb",
        } <= set(r)
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["backend"] == "tflite" and r["threads"] == 1 and r["runs"] == 20
        assert r["size_bytes"] == Path(models["tflite_int8"]).stat().st_size
        assert r["tensorflow_loaded"] is False  # the runtime path never loads TensorFlow
        assert 0 < r["peak_rss_mb"] < 1000
    assert results[1]["p50_ms_per_face"] == pytest.approx(results[1]["p50_ms"] / 4)


def test_bench_table_of_two_models_fits_80_columns(models, cli):
    import io

    from rich.console import Console

    from edge_fer.cli.bench_cmds import bench_table

    names = [Path(models["tflite_int8"]).name, Path(models["onnx"]).name]
    code, out, err = cli("bench", models["tflite_int8"], models["onnx"], "--runs", "10", "--warmup", "2")
    assert code == 0, err
    assert all(name in out for name in names) and "p50" in out and "faces/s" in out
    assert f"{names[0]}: tflite (" in out and "no TensorFlow" in out
    code, out, err = cli(
        "bench", models["tflite"], models["tflite_int8"], models["onnx"], "--runs", "10", "--warmup", "2", "--json"
    )
    assert code == 0, err
    results = json.loads(out)["results"]
    narrow = Console(width=80, file=io.StringIO(), record=True)
    narrow.print(bench_table(results))
    text = narrow.export_text()
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    for r in results:  # each model's row whole on one line: name, then its numbers
        assert any(
            line.split()[:1] == [Path(r["model"]).name] and f"{r['p50_ms']:.3f}" in line for line in text.splitlines()
        )


def test_pipeline_on_synthetic_frames_reports_every_stage(models, cli):
    code, out, err = cli(
        "bench",
        "--pipeline",
        "synthetic",
        "--model",
        models["tflite_int8"],
        "--max-frames",
        "12",
        "--repeats",
        "2",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["frames"] == 12 and report["repeats"] == 2 and report["fps"] > 0
    assert report["faces_per_frame"] == 0  # synthetic frames hold no face
    stages = [s["stage"] for s in report["stages"]]
    assert stages[:2] == ["detect", "align"] and "draw" in stages
    assert sum(s["share"] for s in report["stages"]) == pytest.approx(1.0)


def test_pipeline_bench_says_its_peak_memory_and_that_tensorflow_stayed_out(models):
    import subprocess
    import sys

    args = ["bench", "--pipeline", "synthetic", "--model", str(models["tflite_int8"]), "--max-frames", "6"]
    run = subprocess.run([sys.executable, "-m", "edge_fer", *args, "--repeats", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.endswith(", no TensorFlow") and "peak memory " in last  # a fresh process: the runtime alone
    mb = float(last.split("peak memory ")[1].split(" MB")[0])
    assert 30 < mb < 1000


@pytest.mark.shared
def test_pipeline_on_the_shared_video_finds_her_face(models, media_dir, cli):
    code, out, err = cli(
        "bench",
        "--pipeline",
        media_dir / "woman-with-phone.mp4",
        "--model",
        models["tflite_int8"],
        "--repeats",
        "1",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["frames"] == 115 and report["faces_per_frame"] > 0.8
    assert [s["stage"] for s in report["stages"]][:3] == ["decode", "detect", "align"]


def test_bench_needs_a_model_or_a_pipeline(cli):
    code, _, err = cli("bench")
    assert code == 2 and "--pipeline" in err
    code, _, err = cli("bench", "x.tflite", "--threads", "0")
    assert code == 2 and "--threads" in err


def test_model_card_command_line_reproduces_the_run_options():
    cfg = TrainConfig(
        data="fer",
        arch="edgefer-s",
        out="runs/s",
        epochs=40,
        lr=1e-3,
        warmup_epochs=1,
        weight_decay=1e-4,
        monitor="val_accuracy",
        patience=40,
    )
    line = command_line(cfg.__dict__)
    assert line == (
        "edge-fer train --data fer --arch edgefer-s --out runs/s --epochs 40 --lr 0.001 --weight-decay 0.0001 "
        "--warmup-epochs 1 --monitor val_accuracy --patience 40"
    )
    extended = command_line({**cfg.__dict__, "epochs": 60}, [{"at_epoch": 40, "from_epochs": 40, "to_epochs": 60}])
    assert extended == line + " && edge-fer train --resume runs/s --epochs 60"
