"""``predict`` and ``webcam``: the runtime's commands (faces and their emotions in images and video)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from edge_fer.choices import TTA, Backend, DetectorKind, Engine
from edge_fer.cli.consoles import make_console
from edge_fer.cli.progress import progress
from edge_fer.detectors import DEFAULT_CONF, DEFAULT_MIN_FACE
from edge_fer.tracking import DEFAULT_SMOOTHING
from edge_fer.wording import counted

if TYPE_CHECKING:
    from edge_fer.archive import ImageTable, MediaItem
    from edge_fer.predict import ImageResult
    from edge_fer.recognizer import EmotionRecognizer

console = make_console(stderr=True, highlight=False)
out = make_console(highlight=False)

ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="A .tflite, .onnx or .keras emotion model (default: the shipped one).")
]
BackendOpt = Annotated[Backend, typer.Option(help="Classifier backend; auto picks by the model's suffix.")]
ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="CPU threads for detector and classifier.")]
MinFaceOpt = Annotated[int, typer.Option("--min-face", min=0, help="Skip faces smaller than this (box side, px).")]
MarginOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Cut the detector's box grown by this fraction of its side (default: the model's own framing, FER2013's).",
    ),
]
AlignOpt = Annotated[bool, typer.Option(help="Turn each face upright by its eye line before classifying it.")]
ConfOpt = Annotated[
    float | None,
    typer.Option(
        "--conf",
        min=0.01,
        max=0.99,
        help=f"Face detector threshold (default {DEFAULT_CONF['short']} short-range, "
        f"{DEFAULT_CONF['full']} full-range).",
    ),
]
ForceOpt = Annotated[bool, typer.Option(help="Overwrite existing output files.")]
TTAOpt = Annotated[
    TTA, typer.Option(help="Flip test-time averaging: the model's own policy, none (fastest), or always mirror.")
]


def _recognizer(
    model: Path | None,
    detector: DetectorKind | None,
    backend: Backend,
    threads: int | None,
    margin: float | None,
    min_face: int,
    conf: float | None,
    tta: TTA,
    smoothing: int = 0,
    align: bool = True,
    rotations: bool | None = None,
) -> EmotionRecognizer:
    from edge_fer.recognizer import EmotionRecognizer

    return EmotionRecognizer(
        model=model,
        detector=None if detector is None else detector.value,
        align=align,
        rotations=rotations,
        backend=backend.value,
        threads=threads,
        margin=margin,
        min_face=min_face,
        smoothing=smoothing,
        conf=conf,
        tta=tta.value,
    )


def _image_table(result: ImageResult) -> Table:
    """One row per face of an image: its emotion and score, box and the runner-up emotion."""
    where = f"{result.image} ({result.width}x{result.height})"
    table = Table(title=escape(f"{where}: {counted(len(result.faces), 'face')} ({result.seconds:.2f} s)"))
    for col in ("#", "emotion", "score", "box x,y,w,h", "runner-up"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    for i, face in enumerate(result.faces, 1):
        second = sorted(face.probs.items(), key=lambda kv: -kv[1])[1:2]
        runner = f"{second[0][0]} {second[0][1]:.0%}" if second else ""
        table.add_row(str(i), face.label, f"{face.score:.0%}", ",".join(map(str, face.box)), runner)
    return table


def predict_cmd(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Images, videos, folders of them, and/or http(s) image URLs.", show_default=False),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the tables: per video <stem>.csv, .summary.json, .timeline.png; images: predictions.csv.",
        ),
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Also take files in subfolders.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image (per video: its summary) per line on stdout.")
    ] = False,
    save_annotated: Annotated[
        Path | None, typer.Option("--save-annotated", help="Folder for annotated copies of the images and videos.")
    ] = None,
    smoothing: Annotated[
        int, typer.Option(min=0, help="Videos: average each face's probabilities over N frames; 0 (default) = off.")
    ] = 0,
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1, help="Videos: stop after N frames.")] = None,
    model: ModelOpt = None,
    detector: Annotated[
        DetectorKind | None,
        typer.Option(
            help="Default: auto for images (both models, any roll, tiles for small faces in big photos), short "
            "for videos. short: close faces; full: far; none: each image is already one face (face crops).",
            show_default=False,
        ),
    ] = None,
    backend: BackendOpt = Backend.auto,
    threads: ThreadsOpt = None,
    min_face: MinFaceOpt = DEFAULT_MIN_FACE,
    margin: MarginOpt = None,
    align: AlignOpt = True,
    conf: ConfOpt = None,
    tta: TTAOpt = TTA.model,
    force: ForceOpt = False,
    engine: Annotated[
        Engine, typer.Option(help="Videos with --out: local (this process) or ray (Ray workers; pip extra 'ray').")
    ] = Engine.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", help="--engine ray: a running cluster's address (HOST:6379); default a local Ray."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="--engine ray: worker processes (default: the cluster's CPUs / --threads)."),
    ] = None,
) -> None:
    """Faces and their emotions in images and videos. An image without a face gives an empty list, not an error.

    With --out, a rerun skips the videos already finished there (--force redoes them).
    """
    from edge_fer.analysis import AnalysisSettings
    from edge_fer.archive import collect_media
    from edge_fer.errors import EdgeFerError

    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise EdgeFerError(f"--out {out_dir}: is a file, not a folder")
    if engine is Engine.local and (ray_address is not None or workers is not None):
        raise EdgeFerError("--ray-address and --workers apply to --engine ray: add --engine ray")
    if engine is Engine.ray:
        if out_dir is None:
            raise EdgeFerError("--engine ray needs --out DIR: its workers write each video's files there")
        from edge_fer.ray_engine import import_ray

        import_ray()  # a missing extra is said before any work
    items = collect_media(inputs, recursive=recursive, exclude=out_dir)
    images = [i for i in items if i.kind == "image"]
    videos = [i for i in items if i.kind == "video"]
    settings = AnalysisSettings(
        model=str(model) if model is not None else None,
        backend=backend.value,
        detector=(detector or DetectorKind.short).value,
        conf=conf,
        margin=margin,
        align=align,
        min_face=min_face,
        smoothing=smoothing,
        tta=tta.value,
        threads=threads,
        max_frames=max_frames,
        annotate=save_annotated is not None,
    )
    video_run = None
    if videos:  # checked first: a refusal (outputs made with other settings) comes before any work
        from edge_fer.cli.video_progress import VideoRun

        video_run = VideoRun(videos, settings, out_dir, save_annotated, force, engine, ray_address, workers)
    n_read = n_faces = 0
    if images:
        rec = _recognizer(model, detector, backend, threads, margin, min_face, conf, tta, align=align)
        n_read, n_faces = _predict_images(rec, images, as_json, save_annotated, out_dir, force)
        if n_read == 0 and not videos:
            raise EdgeFerError(f"none of the {counted(len(images), 'image')} could be read (see the warnings above)")
    done = skipped = failed = 0
    if video_run is not None:
        done, skipped, failed = video_run.run(as_json, out, console)
    if not as_json:
        parts = [f"{counted(n_read, 'image')}, {counted(n_faces, 'face')}"] if images else []
        if len(images) > n_read:
            parts[0] += f" ({len(images) - n_read} unreadable, skipped)"
        if videos:
            parts.append(f"{counted(done, 'video')} analysed")
            if skipped:
                parts.append(f"{skipped} finished already (skipped)")
            if failed:
                parts.append(f"{failed} failed (see above)")
        console.print("; ".join(parts))


def _predict_images(
    rec: EmotionRecognizer,
    images: list[MediaItem],
    as_json: bool,
    save_annotated: Path | None,
    out_dir: Path | None,
    force: bool,
) -> tuple[int, int]:
    """Print each image's faces (table or JSON); with ``out_dir``, also write predictions.csv. Returns the
    images read (a file found in a folder that cannot be decoded is skipped with a warning) and the faces."""
    from edge_fer.archive import IMAGES_CSV, ImageTable
    from edge_fer.predict import predict_image_items

    table = ImageTable(list(rec.labels)) if out_dir is not None else None
    total = read = 0
    # In an --out archive the annotated copies are ours: a rerun redoes the images and rewrites them.
    items = [(i.path, i.explicit) for i in images]
    with progress("images", len(items), quiet=as_json or len(items) <= 1, console=console) as step:
        for result in predict_image_items(rec, items, save_annotated, force=force or out_dir is not None):
            step()
            read += 1
            total += _show_image(result, table, as_json)
    if table is not None and out_dir is not None and read:
        path = table.write(out_dir / IMAGES_CSV)
        if not as_json:
            out.print(f"images: {path}", markup=False)
    return read, total


def _show_image(result: ImageResult, table: ImageTable | None, as_json: bool) -> int:
    """Print one image's faces (a table, or its JSON line) and add them to ``table``; returns the faces."""
    total = len(result.faces)
    if table is not None:
        table.add(result)
    if as_json:
        print(json.dumps(result.to_dict()), flush=True)
        return total
    if result.faces:
        out.print(_image_table(result))
    else:
        out.print(f"{result.image} ({result.width}x{result.height}): no faces found", markup=False)
    if result.annotated is not None:
        out.print(f"annotated: {result.annotated}", markup=False)
    return total


def webcam_cmd(
    source: Annotated[str, typer.Option(help="Camera index (0, 1, ...), video file, image, or rtsp/http URL.")] = "0",
    width: Annotated[int | None, typer.Option(min=1, help="Requested camera width.")] = None,
    height: Annotated[int | None, typer.Option(min=1, help="Requested camera height.")] = None,
    fps: Annotated[int | None, typer.Option(min=1, help="Requested camera frame rate.")] = None,
    headless: Annotated[bool, typer.Option(help="No window (servers, Raspberry Pi over ssh).")] = False,
    output: Annotated[Path | None, typer.Option(help="Write the annotated video here (.mp4 or .avi).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="One JSON object per frame (JSON lines).")] = None,
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1, help="Stop after N frames.")] = None,
    smoothing: Annotated[
        int, typer.Option(min=0, help="Average each face's probabilities over N frames; 0 turns it off.")
    ] = DEFAULT_SMOOTHING,
    model: ModelOpt = None,
    detector: Annotated[
        DetectorKind | None,
        typer.Option(
            help="Default: short for video and cameras (fastest), auto for an image. full: faces far away; "
            "auto: both (slower); none: each frame is one face.",
            show_default=False,
        ),
    ] = None,
    rotations: Annotated[
        bool, typer.Option("--rotations", help="Also find faces turned 90/180/270 degrees (4 detector passes).")
    ] = False,
    backend: BackendOpt = Backend.auto,
    threads: ThreadsOpt = None,
    min_face: MinFaceOpt = DEFAULT_MIN_FACE,
    margin: MarginOpt = None,
    align: AlignOpt = True,
    conf: ConfOpt = None,
    tta: TTAOpt = TTA.model,
    force: ForceOpt = False,
) -> None:
    """Live emotions from a camera, video file or stream; q or Esc quits."""
    from edge_fer.video import run_video

    rec = _recognizer(
        model, detector, backend, threads, margin, min_face, conf, tta, smoothing, align, rotations or None
    )
    with progress(f"{source}: frames", max_frames) as step:
        summary = run_video(
            rec,
            source,
            show=not headless,
            output=output,
            json_out=json_out,
            max_frames=max_frames,
            force=force,
            width=width,
            height=height,
            fps=fps,
            on_frame=lambda result: step(),
        )
    console.print(f"{summary.source}: {summary.line()}", markup=False)
    for label, path in (("video", output), ("frames", json_out)):
        if path is not None:
            console.print(f"{label}: {path}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)
    app.command("webcam")(webcam_cmd)
