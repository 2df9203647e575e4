"""``edge-fer export``: a trained .keras model to TFLite and ONNX, with the parity table that proves them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge_fer.cli.consoles import make_console
from edge_fer.errors import EdgeFerError
from edge_fer.export.formats import DEFAULT_CALIB_SIZE, DEFAULT_OPSET, help_text, parse_formats
from edge_fer.tta import policy_views

console = make_console(stderr=True)
out = make_console()


def export_cmd(
    model: Annotated[
        Path, typer.Argument(help="A trained .keras model (e.g. runs/train/best.keras); with --embed-only an artifact.")
    ],
    int8: Annotated[
        bool, typer.Option("--int8", help="Full-integer int8 TFLite (the common case); adds to --formats.")
    ] = False,
    formats: Annotated[str | None, typer.Option("--formats", "-f", help=help_text())] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="FER folder (train/ + val/) or fer2013.csv: int8 calibration faces and parity faces."),
    ] = None,
    val: Annotated[
        Path | None, typer.Option(help="Labelled faces for the parity report (default: val/ or test/ in --data).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: export/ beside the model).")
    ] = None,
    float_io: Annotated[
        bool, typer.Option("--float-io", help="tflite-int8 with float32 input/output tensors (int8 inside).")
    ] = False,
    uint8: Annotated[bool, typer.Option("--uint8", help="tflite-int8 with uint8 input/output tensors.")] = False,
    opset: Annotated[int, typer.Option(min=13, help="ONNX opset.")] = DEFAULT_OPSET,
    calib_size: Annotated[
        int, typer.Option(min=1, help="Representative training faces for int8 calibration (stratified, seeded).")
    ] = DEFAULT_CALIB_SIZE,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the calibration sample.")] = 0,
    flip_budget: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=0.99,
            help="Give each artifact an adaptive flip policy: mirror the least sure faces, this share of training "
            "faces (e.g. 0.3), and average.",
        ),
    ] = None,
    tta_roll: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=30.0,
            help="With --flip-budget: also average those faces rolled by +-DEG degrees, as they are and mirrored "
            "(6 views instead of 2; e.g. 8).",
        ),
    ] = 0.0,
    name: Annotated[
        str | None, typer.Option(help="Artifact stem: <name>_int8.tflite (default: the model file's stem).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing artifacts.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of the table.")] = False,
    embed_only: Annotated[
        bool,
        typer.Option(
            "--embed-only",
            help="MODEL is an exported .tflite/.onnx: copy its sidecar JSON into it (weights untouched, checked) "
            "and stop.",
        ),
    ] = False,
) -> None:
    """Export to TFLite (fp32/fp16/dynamic/int8) and ONNX (float/int8), then prove each artifact against Keras.

    Writes <out>/<name>_<tag>.<tflite|onnx> with its metadata inside, the same as a sidecar <name>_<tag>.json,
    and parity.json.

    Exits with code 2 when an int8 artifact loses over 1.0 accuracy point or agrees with Keras on under 97%.
    """
    if embed_only:
        if formats or int8 or data or val or flip_budget is not None or tta_roll or name:
            raise EdgeFerError("--embed-only rewrites an existing artifact's metadata: drop the export options")
        _embed_only(model)
        return
    from edge_fer.export.exporter import export_model
    from edge_fer.export.parity import render_table

    if float_io and uint8:
        raise typer.BadParameter("choose one of --float-io and --uint8", param_hint="--float-io/--uint8")
    io_dtype = "float32" if float_io else "uint8" if uint8 else "int8"
    asked = {f.name for f in parse_formats(formats, int8=int8, have_data=data is not None)}
    if (float_io or uint8) and "tflite-int8" not in asked:
        raise EdgeFerError("--float-io and --uint8 shape the tflite-int8 model; add --int8 or --formats tflite-int8")

    def progress(msg: str) -> None:
        if not as_json:
            console.print(f"[dim]{msg}[/dim]", soft_wrap=True)

    result = export_model(
        model,
        formats,
        data,
        out_dir,
        val=val,
        int8=int8,
        io_dtype=io_dtype,
        opset=opset,
        calib_size=calib_size,
        seed=seed,
        flip_budget=flip_budget,
        tta_roll=tta_roll,
        name=name,
        force=force,
        strict=False,
        progress=progress,
    )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        out.print(render_table(result.parity))
        for a in result.artifacts:
            if a.tta:
                out.print(
                    f"{a.path.name}: {policy_views(a.tta)} faces below confidence {a.tta['below_confidence']:.3f} "
                    f"({a.tta['budget']:.0%} of {a.tta['chosen_on']['faces']} training faces)"
                )
        for note in result.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        out.print(f"artifacts in {result.out_dir}, parity report {result.parity_path}", soft_wrap=True)
    result.parity.check(result.parity_path)


def _embed_only(model: Path) -> None:
    from edge_fer.export.embed import embed_sidecar

    meta = embed_sidecar(model)
    out.print(f"{model}: metadata embedded ({meta.format or model.suffix}, {len(meta.labels)} labels)", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
