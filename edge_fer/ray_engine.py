"""An archive's videos on Ray: a pool of actors, each loading the models once, one video per task.

``edge-fer predict ARCHIVE --engine ray --out DIR`` (and :func:`edge_fer.archive.analyze_archive` with
``engine="ray"``) hand each video to a :class:`VideoWorker` actor, which runs the same
:func:`edge_fer.analysis.analyze_video_to` the local engine runs, so the files are byte-identical. Ray is an
optional extra: this module imports it only inside functions, and only when ``--engine ray`` is asked for.

Faults. An actor restarts without limit (``max_restarts=-1``) and a task whose actor died is retried
(``max_task_retries``, :data:`MAX_ATTEMPTS` attempts in all): a worker killed mid-video has its video redone
from the start by the restarted actor. Every output is written under a temporary name and renamed when whole,
the summary last, so a killed attempt leaves no partial row in any output; its temporary files are removed
before the next attempt (:func:`remove_partials`). A video that fails for a reason of its own (unreadable,
damaged) comes back as a :class:`JobResult` with ``error`` set and the other videos go on; so does one whose
worker died on every attempt. Interrupting the driver kills the actors, removes the temporary files of the
videos in progress and (when this module started Ray) shuts Ray down.

The driver's loop is a few lines over ``ray.wait`` rather than ``ray.util.ActorPool``: the pool's results do
not say which video a failure belongs to, and a worker that died on every attempt must fail its own video only.

Paths: workers open videos and write outputs by absolute path, so on a cluster the archive, the output folder
and ``--model`` must lie at the same path on every node (a shared file system); the ``source`` column keeps the
path as the user gave it, as the local engine writes it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_fer import __version__
from edge_fer.analysis import AnalysisSettings, VideoSummary, analyze_video_to, output_paths
from edge_fer.errors import EdgeFerError, SourceError
from edge_fer.recognizer import recognizer_for

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

#: Attempts per video when its worker dies (the first run and two retries on the restarted actor).
MAX_ATTEMPTS = 3
#: What to install for ``--engine ray``.
INSTALL_HINT = "pip install 'edge-fer[ray]'"
#: Seconds to wait for killed actors' tasks to end before removing their temporary files.
KILL_WAIT_S = 10.0


def import_ray() -> ModuleType:
    """The ``ray`` module, or one line saying which extra to install (EdgeFerError, exit 2)."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise EdgeFerError(f"--engine ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


def remove_partials(out_dir: str | os.PathLike[str], stem: str, annotated_dir: str | os.PathLike[str] | None) -> int:
    """Remove the temporary files an interrupted attempt at video ``stem`` left (``.a.XXXXXXXX.part.csv``, as
    :func:`edge_fer.atomic.atomic_path` names them: eight random characters). Returns how many."""
    paths = output_paths(out_dir, stem)
    if annotated_dir is not None:
        paths["annotated"] = output_paths(annotated_dir, stem)["annotated"]
    removed = 0
    for final in paths.values():
        if not final.parent.is_dir():
            continue
        for tmp in final.parent.glob(f".{final.stem}.????????.part{final.suffix}"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass(frozen=True)
class VideoJob:
    """One video for a worker: ``key`` (the caller's index), ``path`` (absolute: readable on every node),
    ``stem`` (its output name) and ``source_name`` (the ``source`` column: the path as the user gave it)."""

    key: int
    path: str
    stem: str
    source_name: str


@dataclass
class JobResult:
    """A video's end: its summary, or ``error`` (one line) with ``kind`` ``source`` (the file cannot be read),
    ``video`` (another problem of this video), ``internal`` (a bug) or ``worker`` (its worker died on every
    attempt); ``seconds``: the worker's wall time for the successful attempt; ``host``: where it ran."""

    key: int
    summary: VideoSummary | None = None
    error: str | None = None
    kind: str = ""
    seconds: float = 0.0
    host: str = ""


@dataclass(frozen=True)
class WorkerStatus:
    """A worker as it reports itself: process id, host, and the video it is on (stem, frames read, frames
    promised) or ``None``."""

    pid: int
    host: str
    video: str | None = None
    frames: int = 0
    total: int | None = None


class VideoWorker:
    """A Ray actor's state (made remote by :class:`RayVideoEngine`): the recognizer, loaded once per process,
    and the video in progress. Runs two calls at once (``max_concurrency=2``) so :meth:`status` answers while
    :meth:`analyze` works."""

    def __init__(self, settings: AnalysisSettings, out_dir: str, annotated_dir: str | None):
        self.settings, self.out_dir, self.annotated_dir = settings, out_dir, annotated_dir
        self.rec = recognizer_for(settings)
        self.recorded = {**settings.recorded(self.rec), "edge_fer_version": __version__}
        self.host = socket.gethostname()
        self.current: WorkerStatus | None = None

    def ready(self) -> tuple[WorkerStatus, dict[str, Any]]:
        """This worker and the settings it would record, with its edge-fer version (the driver checks they
        match its own)."""
        return self.status(), self.recorded

    def status(self) -> WorkerStatus:
        return self.current or WorkerStatus(os.getpid(), self.host)

    def _progress(self, done: int, total: int | None) -> None:
        if self.current is not None:
            self.current = dataclasses.replace(self.current, frames=done, total=total)

    def analyze(self, job: VideoJob) -> JobResult:
        """Analyse one video into the output folder; a failure of the video itself comes back as ``error``."""
        remove_partials(self.out_dir, job.stem, self.annotated_dir)  # an earlier, killed attempt's leftovers
        self.current = WorkerStatus(os.getpid(), self.host, job.stem)
        start = time.perf_counter()
        try:
            summary = analyze_video_to(
                job.path,
                self.out_dir,
                self.settings,
                stem=job.stem,
                recognizer=self.rec,
                progress=self._progress,
                source_name=job.source_name,
                annotated_dir=self.annotated_dir,
            )
        except SourceError as exc:
            return JobResult(job.key, error=str(exc), kind="source", host=self.host)
        except EdgeFerError as exc:
            return JobResult(job.key, error=str(exc), kind="video", host=self.host)
        except Exception as exc:  # a bug shows on its video, the others go on
            return JobResult(job.key, error=f"{type(exc).__name__}: {exc}", kind="internal", host=self.host)
        finally:
            self.current = None
        return JobResult(job.key, summary, seconds=time.perf_counter() - start, host=self.host)


class RayVideoEngine:
    """Connects to Ray (a local instance, or the cluster at ``address``), starts ``workers`` actors and runs
    :class:`VideoJob` s on them; a context manager that kills its actors and shuts down a Ray it started.

    ``workers``: actors to start (default: the cluster's CPUs divided by each worker's threads, at most one per
    video); each reserves ``settings.threads`` CPUs (default 1, and its models use that many threads).
    """

    def __init__(
        self,
        settings: AnalysisSettings,
        out_dir: str | os.PathLike[str],
        *,
        address: str | None = None,
        workers: int | None = None,
        annotated_dir: str | os.PathLike[str] | None = None,
        attempts: int = MAX_ATTEMPTS,
    ):
        self.ray = import_ray()
        threads = settings.threads or 1
        model = str(Path(settings.model).resolve()) if settings.model else None
        self.settings = dataclasses.replace(settings, threads=threads, model=model)
        self.out_dir = str(Path(out_dir).resolve())
        self.annotated_dir = str(Path(annotated_dir).resolve()) if annotated_dir is not None else None
        self.address, self.workers, self.attempts = address, workers, attempts
        self.actors: list[Any] = []
        self.started_ray = False
        self.startup_s = 0.0
        self._restore_printer: Callable[[], None] = lambda: None

    # ---------------------------------------------------------------- start and stop

    def start(self, n_jobs: int, expected: dict[str, Any] | None = None) -> RayVideoEngine:
        """Connect, start the actors (at most ``n_jobs``) and wait until each has loaded its models; with
        ``expected`` (the driver's recorded settings), refuse workers that would record others (another
        model file or edge-fer version on a node)."""
        begin = time.perf_counter()
        self._connect()
        threads = self.settings.threads or 1
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        n = min(self.workers or max(1, cpus // threads), max(1, n_jobs))
        if n * threads > cpus:
            where = f"the cluster at {self.address}" if self.address else "this Ray instance"
            raise EdgeFerError(
                f"--workers {n} with {threads} threads each needs {n * threads} CPUs, {where} has {cpus}: "
                "use fewer workers, or add nodes"
            )
        remote = self.ray.remote(
            num_cpus=threads, max_restarts=-1, max_task_retries=self.attempts - 1, max_concurrency=2
        )(VideoWorker)
        self.actors = [remote.remote(self.settings, self.out_dir, self.annotated_dir) for _ in range(n)]
        expected = {**expected, "edge_fer_version": __version__} if expected is not None else None
        for status, recorded in self.ray.get([a.ready.remote() for a in self.actors]):
            if expected is not None and recorded != expected:
                diff = sorted(k for k in set(recorded) | set(expected) if recorded.get(k) != expected.get(k))
                raise EdgeFerError(
                    f"the worker on {status.host} would record other settings than this machine ({', '.join(diff)}): "
                    "install the same edge-fer version and model file on every node"
                )
        self.startup_s = time.perf_counter() - begin
        return self

    def _connect(self) -> None:
        if self.address:
            _check_reachable(self.address)
        if self.ray.is_initialized():
            if self.address:
                raise EdgeFerError(
                    "Ray is running in this process already: leave the address out to use it, or ray.shutdown() first"
                )
            return  # the caller's Ray: use it, leave it running
        previous = signal.getsignal(signal.SIGTERM)
        local_cpus = None
        if not self.address:
            # A local instance turns on token authentication by default and warns about it on every start.
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
            local_cpus = max(os.cpu_count() or 1, (self.workers or 1) * (self.settings.threads or 1))
        try:
            self.ray.init(
                address=self.address or "local",  # "local": a new instance, never one found running
                num_cpus=local_cpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except ConnectionError as exc:
            raise EdgeFerError(
                f"--ray-address {self.address}: no Ray cluster answered there ({exc}): start one with `ray start "
                "--head` and pass the address it prints; a cluster with token authentication (Ray's default) "
                "also needs RAY_AUTH_MODE=token and its token (`ray get-auth-token` on the head) here"
            ) from None
        finally:
            # ray.init replaces SIGTERM's handler with sys.exit; keep the CLI's (it unwinds like Ctrl-C).
            if previous is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, previous)
        self.started_ray = True
        self._restore_printer = _messages_to_log()

    def close(self) -> None:
        """Kill the actors and shut down a Ray this engine started (a caller's Ray stays up)."""
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_ray:
            self.ray.shutdown()
            self.started_ray = False
            self._restore_printer()

    def __enter__(self) -> RayVideoEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- work

    def statuses(self, timeout_s: float = 5.0) -> list[WorkerStatus]:
        """Each live worker's :class:`WorkerStatus` (a worker that does not answer within ``timeout_s``, e.g.
        one restarting, is left out)."""
        refs = [a.status.remote() for a in self.actors]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        out = []
        for ref in ready:
            try:
                out.append(self.ray.get(ref))
            except self.ray.exceptions.RayError:
                continue
        return out

    def run(
        self, jobs: list[VideoJob], poll: Callable[[list[WorkerStatus]], None] | None = None, poll_s: float = 1.0
    ) -> Iterator[JobResult]:
        """Run ``jobs`` on the workers, at most one per worker at a time, yielding results as they end (in any
        order); ``poll`` is called with the workers' :meth:`statuses` every ``poll_s`` seconds without a result
        (for progress). Stopped early (Ctrl-C, the consumer gone), it kills the actors and removes the
        unfinished videos' temporary files before the exception goes on."""
        if not self.actors:
            raise RuntimeError("start() the engine first")
        queue, idle = deque(jobs), list(self.actors)
        pending: dict[Any, tuple[Any, VideoJob]] = {}
        try:
            while queue or pending:
                while idle and queue:
                    actor, job = idle.pop(), queue.popleft()
                    pending[actor.analyze.remote(job)] = (actor, job)
                done, _ = self.ray.wait(list(pending), num_returns=1, timeout=poll_s if poll else None)
                if not done and poll is not None:
                    poll(self.statuses(timeout_s=poll_s))
                for ref in done:
                    actor, job = pending.pop(ref)
                    idle.append(actor)
                    yield self._result(ref, job)
        finally:
            if pending:
                self._abandon(pending)

    def _result(self, ref: Any, job: VideoJob) -> JobResult:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            remove_partials(self.out_dir, job.stem, self.annotated_dir)
            return JobResult(
                job.key,
                error=f"{job.source_name}: its worker died on each of {self.attempts} attempts ({reason})",
                kind="worker",
            )

    def _abandon(self, pending: dict[Any, tuple[Any, VideoJob]]) -> None:
        """Kill the actors, wait for their tasks to end, then remove the unfinished videos' temporary files."""
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.ray.wait(list(pending), num_returns=len(pending), timeout=KILL_WAIT_S)
        for _, job in pending.values():
            remove_partials(self.out_dir, job.stem, self.annotated_dir)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, where nothing listens at a ``HOST:PORT`` address: ``ray.init`` would retry it for
    minutes, logging a warning every few seconds. Other forms (``auto``, ``ray://...``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EdgeFerError(
            f"--ray-address {address}: nothing answers there ({exc.strerror or exc}): start the head with "
            "`ray start --head --port PORT` and pass HOST:PORT as it prints it"
        ) from None


def _messages_to_log() -> Callable[[], None]:
    """Send the messages Ray's driver prints on stdout (a task retried, an actor killed: the raylet's error
    messages) to this module's debug log (``--debug`` shows them): stdout holds predict's results and ``--json``
    lines. Ray has no option for this, so its printer is replaced; returns the function that puts it back. A
    Ray without that printer (another version) is left alone."""
    from ray._private import worker

    original = getattr(worker, "print_to_stdstream", None)
    if original is None:
        return lambda: None

    def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        for line in data.get("lines", []):
            log.debug("ray (%s): %s", data.get("pid"), line)

    worker.print_to_stdstream = to_log

    def restore() -> None:
        worker.print_to_stdstream = original

    return restore
