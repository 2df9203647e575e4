"""``edge-fer bench``: model latency/throughput/memory, or the whole pipeline per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edge_fer.choices import TTA, Backend
from edge_fer.cli.consoles import make_console
from edge_fer.tta import describe_tta

out = make_console()
err = make_console(stderr=True)


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{name} takes comma-separated positive integers, e.g. 1,2,4") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{name} takes comma-separated positive integers, e.g. 1,2,4")
    return values


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def bench_cmd(
    models: Annotated[list[Path] | None, typer.Argument(help=".tflite, .onnx or .keras models.")] = None,
    backend: Annotated[Backend, typer.Option(help="Backend for every model (auto: by file type).")] = Backend.auto,
    threads: Annotated[str, typer.Option(help="Thread counts, comma-separated: 1,2,4.")] = "1",
    batch: Annotated[str, typer.Option(help="Batch sizes (faces per call), comma-separated: 1,8.")] = "1",
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls first.")] = 20,
    runs: Annotated[int, typer.Option(min=5, help="Timed calls per setting.")] = 200,
    pipeline: Annotated[
        str | None, typer.Option(help="Bench the whole pipeline on this video (or 'synthetic') instead.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Emotion model for --pipeline (default: the shipped one).")] = None,
    max_frames: Annotated[int, typer.Option(min=1, help="Frames for --pipeline.")] = 300,
    repeats: Annotated[int, typer.Option(min=1, help="--pipeline passes over the frames; medians are reported.")] = 3,
    align: Annotated[bool, typer.Option(help="--pipeline: turn faces upright by their eyes (stage 'align').")] = True,
    roll: Annotated[
        float, typer.Option(min=-180, max=180, help="--pipeline: turn every frame by this many degrees first.")
    ] = 0.0,
    tta: Annotated[
        TTA, typer.Option(help="Time the bare model (none), its own flip policy (model) or always-flip.")
    ] = TTA.none,
    faces: Annotated[
        Path | None,
        typer.Option(help="Feed real faces from this folder in turn (needed to time an adaptive flip policy)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Latency (p50/p90/p99), throughput, size and peak memory of models, or of the pipeline per stage."""
    thread_list, batch_list = _int_list(threads, "--threads"), _int_list(batch, "--batch")
    if pipeline is not None:
        from edge_fer.pipeline_bench import bench_pipeline

        with _progress() as progress:
            task = progress.add_task("pipeline", total=repeats * max_frames)
            report = bench_pipeline(
                pipeline,
                model=model,
                threads=thread_list[0],
                max_frames=max_frames,
                repeats=repeats,
                backend=backend.value,
                on_frame=lambda: progress.advance(task),
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
        out.print(f"faces per frame: {report['faces_per_frame']:.2f}; threads {report['threads']}; {report['machine']}")
        return
    if not models:
        raise typer.BadParameter("give at least one model, or --pipeline SOURCE", param_hint="MODELS")
    from edge_fer.bench import bench_models, check_bench

    check_bench(models, backend.value, tta.value, faces)

    total = len(models) * len(thread_list) * len(batch_list)
    with _progress() as progress:
        task = progress.add_task("bench", total=total)
        results = bench_models(
            models,
            backend.value,
            thread_list,
            batch_list,
            warmup,
            runs,
            on_result=lambda r: progress.advance(task),
            tta=tta.value,
            faces_dir=faces,
            check=False,
        )
    if as_json:
        print(json.dumps({"results": results}))
        return
    table = Table(title="edge-fer bench (medians after warm-up)")
    columns = (
        "model",
        "backend",
        "threads",
        "batch",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "mean ms",
        "ms/face",
        "faces/s",
        "size",
        "peak RSS",
        "TF loaded",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "backend") else "right")
    for r in results:
        table.add_row(
            Path(r["model"]).name,
            f"{r['backend']} ({r['runtime']} {r['version']})",
            str(r["threads"]),
            str(r["batch"]),
            f"{r['p50_ms']:.3f}",
            f"{r['p90_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['mean_ms']:.3f}",
            f"{r['p50_ms_per_face']:.3f}",
            f"{r['throughput_per_s']:.0f}",
            f"{r['size_bytes'] / 1024:.0f} KB",
            f"{r['peak_rss_mb']:.0f} MB",
            "yes" if r["tensorflow_loaded"] else "no",
        )
    out.print(table)
    if results:
        out.print(f"{results[0]['cpu']} ({results[0]['arch']}); accel {results[0]['accel']}; {results[0]['inputs']}")
        for r in results:
            if r["tta"]:
                out.print(f"{Path(r['model']).name} test-time flip: {describe_tta(r['tta'])}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
