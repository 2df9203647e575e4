"""``predict`` on videos: progress bars (frames, fps, ETA per video; files for several) and result lines.

Progress goes to stderr and only to a terminal, never with ``--json``; results go to stdout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Task, TaskID

    from edge_fer.analysis import AnalysisSettings, VideoSummary
    from edge_fer.archive import MediaItem

log = logging.getLogger("edge_fer.predict")


class _FpsColumn(ProgressColumn):
    """Frames per second over rich's recent-speed window (frame bars only, not the files bar)."""

    def render(self, task: Task) -> Text:
        shown = task.speed and task.fields.get("frames")
        return Text(f"{task.speed:.0f} fps" if shown else "", style="progress.data.speed")


class VideoProgress:
    """A frames bar for the current video and, for several videos, a files bar; inert when not shown."""

    def __init__(self, console: Console, n_videos: int, show: bool):
        self.progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _FpsColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            if show
            else None
        )
        self.files: TaskID | None = None
        self.frames_task: TaskID | None = None
        self.n_videos = n_videos

    def __enter__(self) -> VideoProgress:
        if self.progress is not None:
            self.progress.__enter__()
            if self.n_videos > 1:
                self.files = self.progress.add_task("files", total=self.n_videos)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def started(self, item: MediaItem) -> None:
        if self.progress is None:
            return
        if self.frames_task is not None:
            self.progress.remove_task(self.frames_task)
        self.frames_task = self.progress.add_task(item.path.name, total=None, frames=True)

    def frames(self, done: int, total: int | None) -> None:
        if self.progress is not None and self.frames_task is not None:
            self.progress.update(self.frames_task, completed=done, total=max(total or 0, done) or None)

    def finished(self) -> None:
        if self.progress is not None and self.files is not None:
            self.progress.advance(self.files)

    def print(self, *args: object, **kwargs: object) -> None:
        """Print above the bars (or plainly when there are none)."""
        if self.progress is not None:
            self.progress.console.print(*args, **kwargs)


def _report(summary: VideoSummary, out: Console, as_json: bool, folder: Path | None, seconds: float) -> None:
    warning = summary.warning()
    if warning:
        log.warning(warning)
    if as_json:
        print(json.dumps(summary.to_dict()), flush=True)
        return
    speed = f" [{summary.frames_read / seconds:.0f} fps]" if seconds > 0 else ""
    out.print(f"{summary.source}: {summary.line()}{speed}", markup=False)
    if folder is not None and summary.outputs:
        out.print("  " + ", ".join(str(folder / rel) for rel in summary.outputs.values()), markup=False)


def run_videos_cli(
    videos: list[MediaItem],
    settings: AnalysisSettings,
    out_dir: Path | None,
    save_annotated: Path | None,
    force: bool,
    as_json: bool,
    out: Console,
    err: Console,
) -> tuple[int, int]:
    """Analyse the videos (into ``out_dir`` when given, resumably); returns (analysed, skipped as done)."""
    from edge_fer.analysis import analyze_video, output_paths, read_summary
    from edge_fer.archive import ArchiveHooks, VideoOutcome, plan_videos, run_videos
    from edge_fer.atomic import atomic_path, check_output

    rec = settings.recognizer()
    done = skipped = 0
    clock = {"start": 0.0}

    def started(item: MediaItem) -> None:
        bars.started(item)
        clock["start"] = time.perf_counter()

    with VideoProgress(err, len(videos), show=err.is_terminal and not as_json) as bars:
        if out_dir is not None:
            plan = plan_videos(videos, out_dir, settings, rec, force)

            def ended(outcome: VideoOutcome) -> None:
                bars.finished()

            hooks = ArchiveHooks(video_started=started, frames=bars.frames, video_done=ended)
            for outcome in run_videos(plan, out_dir, settings, rec, hooks, annotated_dir=save_annotated):
                if outcome.skipped:
                    skipped += 1
                    stored = read_summary(output_paths(out_dir, outcome.item.name)["summary"])
                    if as_json and stored is not None:
                        print(json.dumps(stored.to_dict()), flush=True)
                    elif not as_json:
                        out.print(f"{outcome.item.path}: finished already in {out_dir}, skipped", markup=False)
                    continue
                done += 1
                assert outcome.summary is not None
                _report(outcome.summary, out, as_json, out_dir, time.perf_counter() - clock["start"])
            return done, skipped
        targets = {
            item.path: check_output(output_paths(save_annotated, item.name)["annotated"], force)
            for item in videos
            if save_annotated is not None
        }
        for item in videos:
            started(item)
            target = targets.get(item.path)
            with atomic_path(target) if target is not None else contextlib.nullcontext(None) as annotated:
                analysis = analyze_video(
                    rec,
                    item.path,
                    max_frames=settings.max_frames,
                    annotated=annotated,
                    progress=bars.frames,
                    conf=settings.conf,
                )
            bars.finished()
            done += 1
            _report(analysis.summary, out, as_json, None, time.perf_counter() - clock["start"])
            if target is not None and not as_json:
                out.print(f"  annotated: {target}", markup=False)
    return done, skipped
