"""``edge-fer bench``: model latency/throughput/memory, or the whole pipeline per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from edge_fer.bench import TIMED_CALLS, WARMUP_CALLS
from edge_fer.choices import TTA, Backend
from edge_fer.cli.consoles import make_console
from edge_fer.cli.progress import progress
from edge_fer.pipeline_bench import PIPELINE_FRAMES, PIPELINE_REPEATS
from edge_fer.tta import describe_tta

out = make_console()


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{name} takes comma-separated positive integers, e.g. 1,2,4") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{name} takes comma-separated positive integers, e.g. 1,2,4")
    return values


def bench_table(results: list[dict[str, Any]]) -> Table:
    """One row per model setting, narrow enough for an 80-column terminal: latencies are per call (a batch)
    in ms; what does not change between a model's settings (backend, size, TensorFlow) is in :func:`bench_notes`."""
    table = Table(title="edge-fer bench: ms per call, after warm-up", box=box.SIMPLE_HEAD, padding=0, pad_edge=False)
    table.add_column("model", overflow="fold")
    for col in ("threads", "batch", "p50", "p90", "p99", "mean", "faces/s", "RSS MB"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            Path(r["model"]).name,
            str(r["threads"]),
            str(r["batch"]),
            f"{r['p50_ms']:.3f}",
            f"{r['p90_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['mean_ms']:.3f}",
            f"{r['throughput_per_s']:,.0f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    return table


def bench_notes(results: list[dict[str, Any]]) -> list[str]:
    """Lines under the table: each model's backend, size and whether TensorFlow was loaded; its flip policy;
    the machine and the inputs."""
    lines = []
    for name, r in {Path(r["model"]).name: r for r in results}.items():
        tf = "TensorFlow loaded" if r["tensorflow_loaded"] else "no TensorFlow"
        lines.append(f"{name}: {r['backend']} ({r['runtime']} {r['version']}), {r['size_bytes'] / 1024:,.0f} KB, {tf}")
        if r["tta"]:
            lines.append(f"{name} test-time augmentation: {describe_tta(r['tta'])}")
    if results:
        r = results[0]
        lines.append(f"{r['cpu']} ({r['arch']}); accel {r['accel']}; inputs: {r['inputs']}; RSS: peak resident memory")
    return lines


def bench_cmd(
    models: Annotated[list[Path] | None, typer.Argument(help=".tflite, .onnx or .keras models.")] = None,
    backend: Annotated[Backend, typer.Option(help="Backend for every model (auto: by file type).")] = Backend.auto,
    threads: Annotated[str, typer.Option(help="Thread counts, comma-separated: 1,2,4.")] = "1",
    batch: Annotated[str, typer.Option(help="Batch sizes (faces per call), comma-separated: 1,8.")] = "1",
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls first.")] = WARMUP_CALLS,
    runs: Annotated[int, typer.Option(min=5, help="Timed calls per setting.")] = TIMED_CALLS,
    pipeline: Annotated[
        str | None, typer.Option(help="Bench the whole pipeline on this video (or 'synthetic') instead.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Emotion model for --pipeline (default: the shipped one).")] = None,
    max_frames: Annotated[int, typer.Option(min=1, help="Frames for --pipeline.")] = PIPELINE_FRAMES,
    repeats: Annotated[int, typer.Option(min=1, help="--pipeline passes over the frames; medians are reported.")] = (
        PIPELINE_REPEATS
    ),
    align: Annotated[bool, typer.Option(help="--pipeline: turn faces upright by their eyes (stage 'align').")] = True,
    roll: Annotated[
        float, typer.Option(min=-180, max=180, help="--pipeline: turn every frame by this many degrees first.")
    ] = 0.0,
    tta: Annotated[
        TTA, typer.Option(help="Time the bare model (none), its own test-time policy (model) or always-flip.")
    ] = TTA.none,
    faces: Annotated[
        Path | None,
        typer.Option(help="Feed real faces from this folder in turn (needed to time an adaptive test-time policy)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Latency (p50/p90/p99), throughput, size and peak memory of models, or of the pipeline per stage."""
    thread_list, batch_list = _int_list(threads, "--threads"), _int_list(batch, "--batch")
    if pipeline is not None:
        from edge_fer.pipeline_bench import bench_pipeline

        with progress("pipeline", repeats * max_frames, quiet=as_json) as step:
            report = bench_pipeline(
                pipeline,
                model=model,
                threads=thread_list[0],
                max_frames=max_frames,
                repeats=repeats,
                backend=backend.value,
                on_frame=step,
                align=align,
                roll=roll,
            )
        if as_json:
            print(json.dumps(report))
            return
        table = Table(title=f"pipeline on {pipeline}: {report['fps']:.1f} fps ({report['frames']} frames)")
        for col in ("stage", "p50 ms", "mean ms", "share"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        for stage in report["stages"]:
            table.add_row(stage["stage"], f"{stage['p50_ms']:.3f}", f"{stage['mean_ms']:.3f}", f"{stage['share']:.0%}")
        out.print(table)
        tf = "TensorFlow loaded" if report["tensorflow_loaded"] else "no TensorFlow"
        out.print(
            f"faces per frame: {report['faces_per_frame']:.2f}; threads {report['threads']}; {report['machine']}; "
            f"peak memory {report['peak_rss_mb']:.0f} MB, {tf}"
        )
        return
    if not models:
        raise typer.BadParameter("give at least one model, or --pipeline SOURCE", param_hint="MODELS")
    from edge_fer.bench import bench_models, check_bench

    check_bench(models, backend.value, tta.value, faces)

    total = len(models) * len(thread_list) * len(batch_list)
    with progress("bench", total, quiet=as_json) as step:
        results = bench_models(
            models,
            backend.value,
            thread_list,
            batch_list,
            warmup,
            runs,
            on_result=lambda r: step(),
            tta=tta.value,
            faces_dir=faces,
            check=False,
        )
    if as_json:
        print(json.dumps({"results": results}))
        return
    out.print(bench_table(results))
    for line in bench_notes(results):
        out.print(line, markup=False)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
