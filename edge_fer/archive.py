"""Folders of recordings and photos into one output folder, resumably: the library side of
``edge-fer predict ... --out DIR``.

Each video becomes ``DIR/<name>.csv``, ``.timeline.png``, optionally ``.annotated.mp4``, and last
``.summary.json`` (see :func:`edge_fer.analysis.analyze_video_to`); ``<name>`` is the file's stem, with its
subfolder for ``--recursive`` inputs (``DIR/day1/interview.csv``). All images go into one
``DIR/predictions.csv``, one row per face (images are quick: a rerun redoes them and rewrites it).

Resuming: every file is written atomically and the summary last, so a video whose summary exists, records
the same settings and lists outputs that all exist is finished and skipped on a rerun; anything else of
ours (an interrupted run's leftovers) is redone. A finished video made with *other* settings is refused
before any work (exit 2) unless ``force``, which redoes everything.

Engines: ``local`` analyses the videos one after another in this process (:func:`run_videos`); ``ray`` hands
them to a pool of Ray workers, on this machine or a cluster (:mod:`edge_fer.ray_engine`), with the same files
as a result. :func:`run_archive` picks one; :func:`analyze_archive` is the whole run for Python users.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_fer.analysis import (
    PROB_DECIMALS,
    AnalysisSettings,
    VideoSummary,
    analyze_video_to,
    output_paths,
    read_summary,
    wanted_outputs,
)
from edge_fer.atomic import write_text
from edge_fer.choices import Engine
from edge_fer.errors import EXIT_INTERRUPTED, EdgeFerError, OutputExistsError, SourceError
from edge_fer.recognizer import recognizer_for
from edge_fer.sources import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from edge_fer.predict import ImageResult
    from edge_fer.ray_engine import JobResult, WorkerStatus
    from edge_fer.recognizer import EmotionRecognizer

log = logging.getLogger(__name__)

#: Suffixes taken as videos in a folder (an explicitly named file that is not an image is tried as a video).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".mts"}
)
#: The images' table in the output folder.
IMAGES_CSV = "predictions.csv"
IMAGE_COLUMNS = ("source", "face", "x", "y", "w", "h", "det_score", "label", "score")


class ArchiveInterrupted(EdgeFerError):
    """Ctrl-C or SIGTERM during an archive run: finished videos are kept, the current one left no file."""

    exit_code = EXIT_INTERRUPTED


@dataclass(frozen=True)
class MediaItem:
    """One input file (or http(s) image URL): ``kind`` is ``image`` or ``video``; ``explicit``: named on the
    command line (then a bad file is an error, not a skip); ``name``: its output name in the folder, without
    suffix."""

    path: Path | str
    kind: str
    explicit: bool
    name: str


def _opens_as_video(path: Path) -> bool:
    """Whether OpenCV opens ``path`` as a video and decodes a frame (a file given by name with an odd suffix)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return bool(cap.isOpened() and cap.read()[0])
    finally:
        cap.release()


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def collect_media(
    inputs: Iterable[str | os.PathLike[str]], recursive: bool = False, exclude: str | os.PathLike[str] | None = None
) -> list[MediaItem]:
    """Expand files and folders into images and videos (folders sorted; hidden files and the ``exclude``
    folder, the outputs, left out). Output names that would collide get the suffix, then a number."""
    from edge_fer.images import is_url, sniff_image, url_name

    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[tuple[Path | str, str, bool, str]] = []
    for item in inputs:
        text = os.fspath(item)
        if is_url(text):
            found.append((text, "image", True, Path(url_name(text)).stem))
            continue
        if "://" in text:
            raise SourceError(
                f"{text}: only http(s) image URLs are fetched; for a video stream use `edge-fer webcam --source URL`"
            )
        p = Path(item)
        if not p.exists():
            raise SourceError(f"{p}: no such file or folder")
        if not p.is_dir():
            kind = _kind(p) or ("image" if sniff_image(p) else "video" if _opens_as_video(p) else None)
            if kind is None:
                raise SourceError(
                    f"{p}: neither an image OpenCV or Pillow can read nor a video OpenCV can open; "
                    "give a photo (.jpg, .png, ...) or a video (.mp4, ...)"
                )
            found.append((p, kind, True, p.stem))
            continue
        files = sorted(p.rglob("*") if recursive else p.iterdir())
        n_before = len(found)
        for f in files:
            rel = f.relative_to(p)
            if skip is not None and (skip == f.resolve() or skip == f.resolve().parent or skip in f.resolve().parents):
                continue
            if any(part.startswith(".") for part in rel.parts):
                if not any(part.startswith(".") for part in rel.parts[:-1]):
                    log.warning("skipped %s: hidden", f)
                continue
            if not f.is_file():
                if f.is_dir() and not recursive:
                    log.warning("skipped %s: a folder (add --recursive for subfolders)", f)
                continue
            # Any file an image decoder recognises is an image, whatever its suffix (.jfif, .avif, none).
            kind = _kind(f) or ("image" if sniff_image(f) else None)
            if kind is not None:
                found.append((f, kind, False, rel.with_suffix("").as_posix()))
            else:
                log.warning("skipped %s: neither an image OpenCV or Pillow can read nor a known video type", f)
        if len(found) == n_before:
            hint = "" if recursive else " (add --recursive for subfolders)"
            raise SourceError(f"folder {p}: no images or videos in it{hint}")
    return _unique_names(found)


def _unique_names(found: list[tuple[Path | str, str, bool, str]]) -> list[MediaItem]:
    counts = Counter(name for _, kind, _, name in found if kind == "video")
    seen: Counter[str] = Counter()
    out = []
    for path, kind, explicit, name in found:
        if kind == "video" and counts[name] > 1:
            name = f"{name}-{Path(path).suffix.lstrip('.').lower()}"
            seen[name] += 1
            if seen[name] > 1:
                name = f"{name}-{seen[name]}"
        out.append(MediaItem(path, kind, explicit, name))
    return out


# ------------------------------------------------------------------------------------------ videos


def video_state(item: MediaItem, out_dir: Path, recorded: dict[str, Any], settings: AnalysisSettings) -> str:
    """``done`` (finished with these settings: skip), ``todo`` (nothing, or an interrupted run's leftovers)
    or ``other`` (finished with other settings: refuse without force)."""
    paths = output_paths(out_dir, item.name)
    summary = read_summary(paths["summary"]) if paths["summary"].is_file() else None
    if summary is None:
        return "todo"
    if summary.settings != recorded:
        return "other"
    have = set(summary.outputs)
    complete = all((out_dir / rel).is_file() for rel in summary.outputs.values())
    return "done" if complete and set(wanted_outputs(settings)) <= have else "todo"


def _settings_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:3])


@dataclass
class VideoOutcome:
    """One video of an archive run: its summary (None if it was skipped as done already, or failed: then
    ``error`` says why in one line); ``seconds``: wall time of its analysis."""

    item: MediaItem
    summary: VideoSummary | None
    skipped: bool = False
    error: str | None = None
    seconds: float = 0.0


@dataclass
class ArchiveHooks:
    """Progress callbacks (all optional): a video starts (item), frames advance (done, total or None),
    a video ends (outcome)."""

    video_started: Callable[[MediaItem], None] | None = None
    frames: Callable[[int, int | None], None] | None = None
    video_done: Callable[[VideoOutcome], None] | None = None


def plan_videos(
    items: list[MediaItem], out_dir: Path, settings: AnalysisSettings, recognizer: EmotionRecognizer, force: bool
) -> list[tuple[MediaItem, bool]]:
    """Each video with whether it is to be (re)done; OutputExistsError before any work for a video finished
    with other settings (unless ``force``)."""
    recorded = settings.recorded(recognizer)
    plan = []
    for item in items:
        state = "todo" if force else video_state(item, out_dir, recorded, settings)
        if state == "other":
            old = read_summary(output_paths(out_dir, item.name)["summary"])
            diff = _settings_diff(old.settings if old else {}, recorded)
            raise OutputExistsError(
                f"{output_paths(out_dir, item.name)['summary']} was made with other settings ({diff}); "
                "pass --force to redo it, or choose another --out folder"
            )
        plan.append((item, state == "todo"))
    return plan


def run_videos(
    plan: list[tuple[MediaItem, bool]],
    out_dir: Path,
    settings: AnalysisSettings,
    recognizer: EmotionRecognizer,
    hooks: ArchiveHooks | None = None,
    annotated_dir: str | os.PathLike[str] | None = None,
) -> Iterator[VideoOutcome]:
    """Analyse each planned video into ``out_dir`` (skipping finished ones), yielding outcomes as they
    end. A video found in a folder that cannot be opened is skipped with a warning; a named one is an
    error. Ctrl-C raises :class:`ArchiveInterrupted` saying how far it got. ``annotated_dir``: where annotated
    videos go (default ``out_dir``)."""
    hooks = hooks or ArchiveHooks()
    done = 0
    for item, todo in plan:
        if not todo:
            outcome = VideoOutcome(item, None, skipped=True)
        else:
            if hooks.video_started:
                hooks.video_started(item)
            start = time.perf_counter()
            try:
                summary = analyze_video_to(
                    item.path,
                    out_dir,
                    settings,
                    stem=item.name,
                    recognizer=recognizer,
                    progress=hooks.frames,
                    annotated_dir=annotated_dir,
                )
            except SourceError as exc:
                if item.explicit:
                    raise
                log.warning("skipped %s", exc)
                yield VideoOutcome(item, None, error=str(exc))
                continue
            except KeyboardInterrupt:
                kept = f"{done} video{'s' * (done != 1)} finished this run kept" if done else "nothing finished"
                raise ArchiveInterrupted(
                    f"interrupted in {item.path} ({kept}; it left no partial file): rerun the same command to "
                    "continue, finished videos are skipped"
                ) from None
            outcome = VideoOutcome(item, summary, seconds=time.perf_counter() - start)
            done += 1
        if hooks.video_done:
            hooks.video_done(outcome)
        yield outcome


def run_archive(
    plan: list[tuple[MediaItem, bool]],
    out_dir: Path,
    settings: AnalysisSettings,
    recognizer: EmotionRecognizer,
    hooks: ArchiveHooks | None = None,
    annotated_dir: str | os.PathLike[str] | None = None,
    *,
    engine: Engine | str = Engine.local,
    ray_address: str | None = None,
    workers: int | None = None,
) -> Iterator[VideoOutcome]:
    """:func:`run_videos` on the chosen engine: ``local`` (this process) or ``ray`` (Ray workers; see
    :mod:`edge_fer.ray_engine`; ``ray_address``: a cluster's address, default a local instance; ``workers``:
    how many). The same files either way. On Ray, videos run in parallel and end in any order, the
    ``video_started`` hook is not called, and every failing video is reported (``error``) while the
    others go on; a file named on the command line that cannot be read is still an error, raised once the
    others have finished; ``frames`` is called with all workers' frames so far (total None) about once a
    second. Ctrl-C raises :class:`ArchiveInterrupted`, leaving no partial file."""
    engine = Engine(engine)
    if engine is Engine.local:
        if ray_address is not None or workers is not None:
            raise EdgeFerError("--ray-address and --workers apply to --engine ray only")
        yield from run_videos(plan, out_dir, settings, recognizer, hooks, annotated_dir)
    else:
        yield from _run_on_ray(plan, out_dir, settings, recognizer, hooks, annotated_dir, ray_address, workers)


def _run_on_ray(
    plan: list[tuple[MediaItem, bool]],
    out_dir: Path,
    settings: AnalysisSettings,
    recognizer: EmotionRecognizer,
    hooks: ArchiveHooks | None,
    annotated_dir: str | os.PathLike[str] | None,
    address: str | None,
    workers: int | None,
) -> Iterator[VideoOutcome]:
    from edge_fer.ray_engine import RayVideoEngine, VideoJob

    hooks = hooks or ArchiveHooks()
    todo = [(k, item) for k, (item, redo) in enumerate(plan) if redo]
    for item, redo in plan:
        if not redo:
            outcome = VideoOutcome(item, None, skipped=True)
            if hooks.video_done:
                hooks.video_done(outcome)
            yield outcome
    if not todo:
        return  # nothing to do: Ray is not even started
    items = dict(todo)
    jobs = [VideoJob(k, str(item.path.resolve()), item.name, str(item.path)) for k, item in todo]
    done, named_failure = 0, None
    frames = {"finished": 0, "shown": 0}

    def show_frames(statuses: list[WorkerStatus]) -> None:  # all workers' frames: the total never goes back
        now = frames["finished"] + sum(s.frames for s in statuses if s.video is not None)
        frames["shown"] = max(frames["shown"], now)
        if hooks.frames:
            hooks.frames(frames["shown"], None)

    try:
        with RayVideoEngine(settings, out_dir, address=address, workers=workers, annotated_dir=annotated_dir) as pool:
            pool.start(len(jobs), settings.recorded(recognizer))
            for result in pool.run(jobs, poll=show_frames if hooks.frames else None):
                outcome = _ray_outcome(items[result.key], result)
                if outcome.error is not None and result.kind == "source" and outcome.item.explicit:
                    named_failure = named_failure or outcome.error
                done += outcome.error is None
                frames["finished"] += outcome.summary.frames_read if outcome.summary is not None else 0
                show_frames([])
                if hooks.video_done:
                    hooks.video_done(outcome)
                yield outcome
    except KeyboardInterrupt:
        kept = f"{done} video{'s' * (done != 1)} finished this run kept" if done else "nothing finished"
        raise ArchiveInterrupted(
            f"interrupted on Ray ({kept}; the videos in progress left no partial file): rerun the same command "
            "to continue, finished videos are skipped"
        ) from None
    if named_failure is not None:
        raise SourceError(named_failure)


def _ray_outcome(item: MediaItem, result: JobResult) -> VideoOutcome:
    """A worker's result as the local engine's outcome; a failure is logged as the local engine logs it."""
    if result.error is None:
        return VideoOutcome(item, result.summary, seconds=result.seconds)
    if not (result.kind == "source" and item.explicit):
        log.warning("skipped %s" if result.kind == "source" else "failed: %s", result.error)
    return VideoOutcome(item, None, error=result.error)


@dataclass
class ArchiveReport:
    """What :func:`analyze_archive` did, one outcome per video: analysed, skipped (finished already), failed."""

    outcomes: list[VideoOutcome]

    @property
    def analysed(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.summary is not None]

    @property
    def skipped(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.skipped]

    @property
    def failed(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def analyze_archive(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: AnalysisSettings | None = None,
    *,
    engine: Engine | str = Engine.local,
    ray_address: str | None = None,
    workers: int | None = None,
    recursive: bool = False,
    force: bool = False,
    hooks: ArchiveHooks | None = None,
    annotated_dir: str | os.PathLike[str] | None = None,
) -> ArchiveReport:
    """The videos among ``inputs`` (files and folders; images are left out) analysed into ``out_dir``, resumably,
    on ``engine`` (``"local"`` or ``"ray"``): what ``edge-fer predict ... --out DIR [--engine ray]`` does for
    videos. Raises OutputExistsError before any work for a video finished there with other settings (unless
    ``force``), SourceError for a named file that cannot be read, ArchiveInterrupted on Ctrl-C."""
    settings = settings or AnalysisSettings()
    out = Path(out_dir)
    videos = [i for i in collect_media(inputs, recursive=recursive, exclude=out) if i.kind == "video"]
    recognizer = recognizer_for(settings)
    plan = plan_videos(videos, out, settings, recognizer, force)
    outcomes = run_archive(
        plan, out, settings, recognizer, hooks, annotated_dir, engine=engine, ray_address=ray_address, workers=workers
    )
    return ArchiveReport(list(outcomes))


# ------------------------------------------------------------------------------------------ images


@dataclass
class ImageTable:
    """The rows of ``predictions.csv``: one per face, an image without a face gets one row with empty fields."""

    labels: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, result: ImageResult) -> None:
        source = str(result.image)
        if not result.faces:
            self.rows.append([source])
        for i, face in enumerate(result.faces, 1):
            self.rows.append(
                [
                    source,
                    i,
                    *face.box,
                    round(face.detection_score, PROB_DECIMALS),
                    face.label,
                    round(face.score, PROB_DECIMALS),
                    *(round(face.probs[label], PROB_DECIMALS) for label in self.labels),
                ]
            )

    def write(self, path: str | os.PathLike[str]) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = [*IMAGE_COLUMNS, *self.labels]
        writer.writerow(header)
        writer.writerows(row + [""] * (len(header) - len(row)) for row in self.rows)
        return write_text(path, buffer.getvalue())
