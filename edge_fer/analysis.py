"""A recording in, a table out: one row per face per frame, a summary per tracked person and per video.

:func:`analyze_video` runs a recognizer over a video and returns a :class:`VideoAnalysis` (rows, summary,
``to_csv``, ``to_pandas``). :func:`analyze_video_to` is the unit of work of ``edge-fer predict --out``: one
video in, its files out (``<stem>.csv``, ``<stem>.timeline.png``, optionally ``<stem>.annotated.mp4``, and
last ``<stem>.summary.json``), each written atomically. It is a pure function of the video and
:class:`AnalysisSettings`: no wall-clock times or absolute install paths go into the outputs, so a worker
on another machine (issue 20's Ray engine) writes byte-identical files.

Rows hold each frame's media time (``time_s``, from the container: see :mod:`edge_fer.sources`); a frame
without a face still gets a row, with the face fields empty, so gaps show in the table and the plot.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from edge_fer import __version__
from edge_fer.atomic import atomic_path, write_json, write_text
from edge_fer.detectors import DEFAULT_MIN_FACE
from edge_fer.digest import file_digest
from edge_fer.drawing import draw_faces
from edge_fer.errors import EdgeFerError
from edge_fer.sources import VideoSource
from edge_fer.video_writer import TimedWriter
from edge_fer.wording import counted

if TYPE_CHECKING:
    import pandas

    from edge_fer.recognizer import EmotionRecognizer, Face

#: The fixed CSV columns; one column per label (probability 0-1) follows them.
BASE_COLUMNS = ("source", "frame", "time_s", "track_id", "x", "y", "w", "h", "det_score", "label", "score")
#: Decimals kept in the CSV and summary (probabilities to 1e-4; times to the microsecond).
PROB_DECIMALS, TIME_DECIMALS = 4, 6
#: Output names per video stem; the summary is written last, so its presence means the others are whole.
SUFFIXES = {"csv": ".csv", "timeline": ".timeline.png", "annotated": ".annotated.mp4", "summary": ".summary.json"}
#: Smoothing for tables: off, so each row is that frame's own prediction (the tracker still assigns ids).
DEFAULT_TABLE_SMOOTHING = 0


class Row(NamedTuple):
    """One CSV row: a face in a frame, or a frame without a face (then every face field is None).

    ``box`` fields are image pixels; ``probs`` follows the model's label order (:attr:`VideoAnalysis.labels`).
    """

    source: str
    frame: int
    time_s: float
    track_id: int | None = None
    x: int | None = None
    y: int | None = None
    w: int | None = None
    h: int | None = None
    det_score: float | None = None
    label: str | None = None
    score: float | None = None
    probs: tuple[float, ...] | None = None

    def values(self) -> list[Any]:
        """The row as CSV values: the fixed columns, then one probability per label (a faceless frame's row
        stops after ``time_s``: :meth:`VideoAnalysis.csv_text` pads it with empty fields)."""
        head = [self.source, self.frame, round(self.time_s, TIME_DECIMALS)]
        if self.label is None:
            return head
        return [
            *head,
            self.track_id,
            self.x,
            self.y,
            self.w,
            self.h,
            round(self.det_score or 0.0, PROB_DECIMALS),
            self.label,
            round(self.score or 0.0, PROB_DECIMALS),
            *(round(p, PROB_DECIMALS) for p in self.probs or ()),
        ]


def face_row(source: str, frame: int, time_s: float, face: Face | None) -> Row:
    """The row of one face (or of a faceless frame, ``face=None``)."""
    if face is None:
        return Row(source, frame, time_s)
    x, y, w, h = face.box
    return Row(
        source, frame, time_s, face.track_id, x, y, w, h, face.detection_score, face.label, face.score,
        tuple(face.probs.values()),
    )  # fmt: skip


@dataclass
class TrackSummary:
    """One tracked face: when it was seen (media seconds), in how many frames, its mean probability per label,
    the share of its frames in which each label was on top, and the label on top most often (``dominant``;
    ties go to the higher mean probability)."""

    track_id: int
    first_s: float
    last_s: float
    frames: int
    mean_probs: dict[str, float]
    top_share: dict[str, float]
    dominant: str


@dataclass
class VideoSummary:
    """What one video gave: frame counts (read, promised by the container, skipped as damaged, with a face),
    media duration (covered by the frames read, and promised), whether the file was whole, the settings
    used, one :class:`TrackSummary` per track, and the output files (names relative to their folder)."""

    source: str
    frames_read: int = 0
    frames_promised: int | None = None
    frames_skipped: int = 0
    frames_with_faces: int = 0
    faces: int = 0
    duration_s: float = 0.0
    duration_promised_s: float | None = None
    container_fps: float = 0.0
    width: int = 0
    height: int = 0
    complete: bool = True
    stop_reason: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    tracks: list[TrackSummary] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    edge_fer_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoSummary:
        """Read back a ``.summary.json`` (unknown keys from newer versions are ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["tracks"] = [TrackSummary(**t) for t in known.get("tracks", [])]
        return cls(**known)

    def warning(self) -> str:
        """One line for a file cut short or with damaged frames (frames read vs. promised); '' if whole."""
        skipped = f"{counted(self.frames_skipped, 'damaged frame')} skipped" if self.frames_skipped else ""
        if self.complete:
            return f"{self.source}: {skipped} (the rest was read to its end)" if skipped else ""
        promised = self.duration_promised_s
        upto = f" (up to {self.duration_s:.2f} s of {promised:.2f} s)" if promised else ""
        return (
            f"{self.source} ended early: {self.frames_read} of {self.frames_promised} frames read{upto}; "
            "the file is cut short or damaged, results cover the frames read"
        )

    def line(self) -> str:
        """One line for the terminal: frames, faces, tracks and whether the file was whole."""
        frames = (
            f"{self.frames_read} of {counted(self.frames_promised, 'frame')}"
            if self.frames_promised
            else counted(self.frames_read, "frame")
        )
        skipped = f", {counted(self.frames_skipped, 'damaged frame')} skipped" if self.frames_skipped else ""
        tracks = ", ".join(f"#{t.track_id} {t.dominant} ({counted(t.frames, 'frame')})" for t in self.tracks[:5])
        more = f" and {len(self.tracks) - 5} more" if len(self.tracks) > 5 else ""
        return (
            f"{frames}, {self.duration_s:.2f} s, {counted(self.faces, 'face')} in "
            f"{counted(self.frames_with_faces, 'frame')}{skipped}; tracks: {tracks or 'none'}{more}"
        )


@dataclass
class TrackSeries:
    """One track's samples in frame order: frame numbers (N,), media times (N,) and probabilities (N, C)."""

    track_id: int
    frames: np.ndarray
    times: np.ndarray
    probs: np.ndarray


@dataclass
class VideoAnalysis:
    """The result of :func:`analyze_video`: every row, the summary, and the model's labels (column order)."""

    labels: list[str]
    rows: list[Row]
    summary: VideoSummary

    @property
    def columns(self) -> list[str]:
        """The CSV header: the fixed columns, then one per label."""
        return [*BASE_COLUMNS, *self.labels]

    def csv_text(self) -> str:
        """The whole CSV as text (rows in frame order, faces of a frame best detection first)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        width = len(self.columns)
        writer.writerow(self.columns)
        for row in self.rows:
            values = row.values()
            writer.writerow(values + [""] * (width - len(values)) if len(values) < width else values)
        return buffer.getvalue()

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the table to ``path`` atomically."""
        return write_text(path, self.csv_text())

    def to_pandas(self) -> pandas.DataFrame:
        """The table as a pandas DataFrame (pandas is not an edge-fer dependency: install it to use this)."""
        try:
            import pandas as pd
        except ImportError:
            raise EdgeFerError("to_pandas needs pandas, which edge-fer does not install: pip install pandas") from None
        records = []
        for row in self.rows:
            record = {c: getattr(row, c) for c in BASE_COLUMNS}
            record.update(zip(self.labels, row.probs or (None,) * len(self.labels)))
            records.append(record)
        return pd.DataFrame.from_records(records, columns=self.columns)

    def series(self) -> list[TrackSeries]:
        """Each track's samples (for plots), in track-id order."""
        return track_series(self.rows, len(self.labels))


def track_series(rows: list[Row], n_labels: int) -> list[TrackSeries]:
    """The rows grouped by track, in track-id order (faceless rows have no track and are left out)."""
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        if row.track_id is not None:
            grouped.setdefault(row.track_id, []).append(row)
    return [
        TrackSeries(
            tid,
            np.array([r.frame for r in mine], np.int64),
            np.array([r.time_s for r in mine], np.float64),
            np.array([r.probs for r in mine], np.float64).reshape(len(mine), n_labels),
        )
        for tid, mine in sorted(grouped.items())
    ]


def summarize_tracks(rows: list[Row], labels: list[str]) -> list[TrackSummary]:
    """Per-track first/last time, frames, mean probabilities, top-label shares and dominant label."""
    out = []
    for s in track_series(rows, len(labels)):
        mean = s.probs.mean(axis=0)
        tops = Counter(labels[i] for i in s.probs.argmax(axis=1))
        n = len(s.frames)
        dominant = max(labels, key=lambda lab: (tops.get(lab, 0), mean[labels.index(lab)]))
        out.append(
            TrackSummary(
                track_id=s.track_id,
                first_s=round(float(s.times[0]), TIME_DECIMALS),
                last_s=round(float(s.times[-1]), TIME_DECIMALS),
                frames=n,
                mean_probs={lab: round(float(m), PROB_DECIMALS) for lab, m in zip(labels, mean)},
                top_share={lab: round(tops.get(lab, 0) / n, PROB_DECIMALS) for lab in labels},
                dominant=dominant,
            )
        )
    return out


def recorded_settings(recognizer: EmotionRecognizer, conf: float | None = None) -> dict[str, Any]:
    """What made a result, for its summary: the model by file name and hash (not its install path), the
    classifier and detector settings, without thread counts (they change speed, not results)."""
    info = dict(recognizer.describe())
    model = Path(str(info.pop("model", "")))
    classifier = {k: v for k, v in dict(info.pop("classifier", {})).items() if k != "threads"}
    out: dict[str, Any] = {"model": model.name}
    if model.is_file():
        out["model_sha256"] = file_digest(model, 16)
    out["classifier"] = classifier
    if conf is not None:
        out["conf"] = conf
    out.update(info)
    return out


#: Called with (frames read so far, frames the container promises or None).
ProgressFn = Callable[[int, int | None], None]


def analyze_video(
    recognizer: EmotionRecognizer,
    source: str | os.PathLike[str] | VideoSource,
    *,
    max_frames: int | None = None,
    annotated: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    source_name: str | None = None,
    conf: float | None = None,
) -> VideoAnalysis:
    """Run ``recognizer`` over every frame of ``source`` (a video path or an opened :class:`VideoSource`).

    Returns the rows and the summary (``summary.outputs`` stays empty: nothing is written unless
    ``annotated`` names a video path, written directly; wrap it in an atomic path for all-or-nothing).
    ``progress`` is called after every frame with (frames read, frames promised or None). ``source_name``
    is the ``source`` column (default: the path as given). Raises SourceError for a file that is not a
    readable video; a file that ends early or drops damaged frames is not an error (``summary.complete``
    is False, resp. ``summary.frames_skipped`` counts them). With ``max_frames``, ``complete`` is True:
    the run stopped where it was asked to (``stop_reason`` says so), whatever the rest of the file holds.
    """
    video = source if isinstance(source, VideoSource) else VideoSource(source)
    if video.cap is None and video.image is None:
        video.open()
    name = source_name if source_name is not None else str(video.source)
    rows: list[Row] = []
    faces = frames_with_faces = 0
    width = height = 0
    writer = TimedWriter(annotated, video.fps) if annotated is not None else None
    previous_t = last_interval = 0.0
    try:
        for result in recognizer.frames(video, max_frames=max_frames, reuse=True):
            if not rows:
                height, width = result.image.shape[:2]
            if result.faces:
                rows.extend(face_row(name, result.index, result.time_s, f) for f in result.faces)
                faces += len(result.faces)
                frames_with_faces += 1
            else:
                rows.append(Row(name, result.index, result.time_s))
            if result.index:
                last_interval = result.time_s - previous_t
            previous_t = result.time_s
            if writer is not None:
                writer.write(draw_faces(result.image, result.faces), result.time_s)
            if progress is not None:
                progress(result.index + 1, video.frames_promised)
    finally:
        if writer is not None:
            writer.close()
        if not isinstance(source, VideoSource):
            video.close()
    if not rows:
        raise EdgeFerError(f"{video.name}: no frames could be read; try converting it with `ffmpeg -i IN out.mp4`")
    if last_interval <= 0 and video.fps > 0:
        last_interval = 1.0 / video.fps
    labels = list(recognizer.labels)
    promised = video.duration_promised_s
    summary = VideoSummary(
        source=name,
        frames_read=video.frames_read,
        frames_promised=video.frames_promised,
        frames_skipped=video.frames_skipped,
        frames_with_faces=frames_with_faces,
        faces=faces,
        duration_s=round(previous_t + last_interval, TIME_DECIMALS),
        duration_promised_s=round(promised, TIME_DECIMALS) if promised is not None else None,
        container_fps=round(video.fps, 6),
        width=width,
        height=height,
        complete=video.reached_end() or max_frames is not None,
        stop_reason=video.stop_reason,
        settings=recorded_settings(recognizer, conf),
        tracks=summarize_tracks(rows, labels),
    )
    return VideoAnalysis(labels, rows, summary)


# ------------------------------------------------------------------------------------------ one video, its files


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that decides a video's outputs (and ``threads``, which only decides speed): what
    ``edge-fer predict --out`` passes to every video, and what a remote worker needs to redo one."""

    model: str | None = None
    backend: str = "auto"
    detector: str = "short"
    conf: float | None = None
    margin: float | None = None
    align: bool = True
    min_face: int = DEFAULT_MIN_FACE
    smoothing: int = DEFAULT_TABLE_SMOOTHING
    tta: str = "model"
    threads: int | None = None
    max_frames: int | None = None
    annotate: bool = False
    timeline: bool = True

    def recorded(self, recognizer: EmotionRecognizer) -> dict[str, Any]:
        """The settings as a summary records them (see :func:`recorded_settings`), plus ``max_frames``."""
        out = recorded_settings(recognizer, self.conf)
        if self.max_frames is not None:
            out["max_frames"] = self.max_frames
        return out


def output_paths(out_dir: str | os.PathLike[str], stem: str) -> dict[str, Path]:
    """Where one video's files go: ``{"csv", "timeline", "annotated", "summary"}`` -> path."""
    return {kind: Path(out_dir) / f"{stem}{suffix}" for kind, suffix in SUFFIXES.items()}


def wanted_outputs(settings: AnalysisSettings) -> list[str]:
    """The output kinds these settings write (the summary always, last)."""
    return ["csv", *(["timeline"] if settings.timeline else []), *(["annotated"] if settings.annotate else [])]


def analyze_video_to(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: AnalysisSettings,
    recognizer: EmotionRecognizer,
    *,
    stem: str | None = None,
    progress: ProgressFn | None = None,
    source_name: str | None = None,
    annotated_dir: str | os.PathLike[str] | None = None,
) -> VideoSummary:
    """Analyse one video and write its files into ``out_dir`` under ``stem`` (default: the file's stem).

    Each file is written under a temporary name and renamed when whole; the summary goes last, so a
    complete summary means complete outputs, and an interrupted call (Ctrl-C, a killed worker) leaves no
    partial file. Existing files are overwritten: deciding whether to redo a video is the caller's job
    (see :mod:`edge_fer.archive`). ``recognizer``: one made from ``settings`` by
    :func:`edge_fer.recognizer.recognizer_for`, reused across videos.
    ``annotated_dir``: where the annotated video goes when ``settings.annotate`` (default ``out_dir``);
    the summary lists every output relative to ``out_dir``.
    """
    video_path = Path(path)
    stem = stem or video_path.stem
    paths = output_paths(out_dir, stem)
    if annotated_dir is not None:
        paths["annotated"] = output_paths(annotated_dir, stem)["annotated"]
    rec = recognizer
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    annotated_ctx = atomic_path(paths["annotated"]) if settings.annotate else contextlib.nullcontext(None)
    with annotated_ctx as annotated:
        analysis = analyze_video(
            rec,
            video_path,
            max_frames=settings.max_frames,
            annotated=annotated,
            progress=progress,
            source_name=source_name if source_name is not None else str(path),
            conf=settings.conf,
        )
    summary = analysis.summary
    summary.settings = settings.recorded(rec)
    analysis.to_csv(paths["csv"])
    if settings.timeline:
        from edge_fer.timeline import write_timeline

        write_timeline(analysis, paths["timeline"], title=video_path.name)
    summary.outputs = {kind: os.path.relpath(paths[kind], out_dir) for kind in wanted_outputs(settings)}
    write_json(paths["summary"], summary.to_dict())
    return summary


def read_summary(path: str | os.PathLike[str]) -> VideoSummary | None:
    """A ``.summary.json`` read back, or None where it is absent or unreadable (then the video is redone)."""
    try:
        return VideoSummary.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
