"""``predict`` on videos: progress bars (frames, fps, ETA per video; files for several) and result lines.

Progress goes to stderr and only to a terminal, never with ``--json``; results go to stdout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from edge_fer.choices import Engine

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
        self.frames_bar(item.path.name)

    def frames_bar(self, label: str) -> None:
        """A new frames bar (replacing the last): per video, or one for all of Ray's workers."""
        if self.progress is None:
            return
        if self.frames_task is not None:
            self.progress.remove_task(self.frames_task)
        self.frames_task = self.progress.add_task(label, total=None, frames=True)

    def frames(self, done: int, total: int | None) -> None:
        if self.progress is not None and self.frames_task is not None:
            self.progress.update(self.frames_task, completed=done, total=max(total or 0, done) or None)

    def finished(self) -> None:
        if self.progress is not None and self.files is not None:
            self.progress.advance(self.files)


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
        from edge_fer.analysis import SUFFIXES

        files = list(summary.outputs.values())
        if "csv" in summary.outputs:  # the summary sits beside the table (it lists the other outputs, not itself)
            files.append(summary.outputs["csv"].removesuffix(SUFFIXES["csv"]) + SUFFIXES["summary"])
        out.print("  " + ", ".join(str(folder / rel) for rel in files), markup=False)


StartedFn = Callable[["MediaItem"], None]
ReportFn = Callable[["VideoSummary", "Path | None", "float | None"], None]


class VideoRun:
    """The videos of one ``predict`` call, checked before any work (existing outputs, settings of finished
    ones) so a refusal comes before the images are redone too; :meth:`run` does them."""

    def __init__(
        self,
        videos: list[MediaItem],
        settings: AnalysisSettings,
        out_dir: Path | None,
        save_annotated: Path | None,
        force: bool,
        engine: Engine = Engine.local,
        ray_address: str | None = None,
        workers: int | None = None,
    ):
        from edge_fer.analysis import output_paths
        from edge_fer.archive import plan_videos
        from edge_fer.atomic import check_output

        self.videos, self.settings, self.out_dir, self.save_annotated = videos, settings, out_dir, save_annotated
        self.engine, self.ray_address, self.workers = engine, ray_address, workers
        from edge_fer.recognizer import recognizer_for

        self.rec = recognizer_for(settings)
        self.plan = plan_videos(videos, out_dir, settings, self.rec, force) if out_dir is not None else None
        self.targets = {
            item.path: check_output(output_paths(save_annotated, item.name)["annotated"], force)
            for item in videos
            if save_annotated is not None and out_dir is None
        }

    def run(self, as_json: bool, out: Console, err: Console) -> tuple[int, int, int]:
        """Analyse the videos (into ``out_dir`` when given, resumably); returns (analysed, skipped as done,
        failed)."""
        clock = {"start": 0.0}
        with VideoProgress(err, len(self.videos), show=err.is_terminal and not as_json) as bars:

            def started(item: MediaItem) -> None:
                bars.started(item)
                clock["start"] = time.perf_counter()

            def report(summary: VideoSummary, folder: Path | None, seconds: float | None = None) -> None:
                _report(summary, out, as_json, folder, seconds or time.perf_counter() - clock["start"])

            if self.plan is not None:
                return self._archive(started, bars, report, as_json, out)
            return (*self._in_memory(started, bars, report, as_json, out), 0)

    def _archive(
        self, started: StartedFn, bars: VideoProgress, report: ReportFn, as_json: bool, out: Console
    ) -> tuple[int, int, int]:
        from edge_fer.analysis import output_paths, read_summary
        from edge_fer.archive import ArchiveHooks, run_archive

        assert self.plan is not None and self.out_dir is not None
        done = skipped = failed = 0
        hooks = ArchiveHooks(video_started=started, frames=bars.frames, video_done=lambda outcome: bars.finished())
        if self.engine is Engine.ray:
            bars.frames_bar("frames, all workers")  # videos run side by side: one bar counts them all
        for outcome in run_archive(
            self.plan,
            self.out_dir,
            self.settings,
            self.rec,
            hooks,
            annotated_dir=self.save_annotated,
            engine=self.engine,
            ray_address=self.ray_address,
            workers=self.workers,
        ):
            if outcome.error is not None:
                failed += 1  # said in a warning already
                continue
            if outcome.skipped:
                skipped += 1
                stored = read_summary(output_paths(self.out_dir, outcome.item.name)["summary"])
                if as_json and stored is not None:
                    print(json.dumps(stored.to_dict()), flush=True)
                elif not as_json:
                    out.print(f"{outcome.item.path}: finished already in {self.out_dir}, skipped", markup=False)
                continue
            done += 1
            assert outcome.summary is not None
            report(outcome.summary, self.out_dir, outcome.seconds)
        return done, skipped, failed

    def _in_memory(
        self, started: StartedFn, bars: VideoProgress, report: ReportFn, as_json: bool, out: Console
    ) -> tuple[int, int]:
        from edge_fer.analysis import analyze_video
        from edge_fer.atomic import atomic_path
        from edge_fer.errors import SourceError

        done = 0
        for item in self.videos:
            started(item)
            target = self.targets.get(item.path)
            try:
                with atomic_path(target) if target is not None else contextlib.nullcontext(None) as annotated:
                    analysis = analyze_video(
                        self.rec,
                        item.path,
                        max_frames=self.settings.max_frames,
                        annotated=annotated,
                        progress=bars.frames,
                        conf=self.settings.conf,
                    )
            except SourceError as exc:
                if item.explicit:
                    raise
                log.warning("skipped %s", exc)
                continue
            finally:
                bars.finished()
            done += 1
            report(analysis.summary, None, None)
            if target is not None and not as_json:
                out.print(f"  annotated: {target}", markup=False)
        return done, 0
