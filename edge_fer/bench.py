"""``edge-fer bench``: latency, throughput and memory of emotion models, each setting in a fresh process.

A fresh (spawned) process per setting makes peak memory that setting's own and proves which
frameworks it loaded: the runtime path of a .tflite model must never load TensorFlow.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.errors import EdgeFerError


@dataclass
class BenchResult:
    """One model x backend x threads x batch measurement."""

    model: str
    backend: str
    runtime: str
    version: str
    accel: str
    threads: int
    batch: int
    runs: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    p50_ms_per_face: float
    throughput_per_s: float
    size_bytes: int
    peak_rss_mb: float
    tensorflow_loaded: bool
    cpu: str
    arch: str
    inputs: str
    tta: dict[str, Any] | None


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 in milliseconds."""
    ms = np.asarray(samples_s) * 1000.0
    return {f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 90, 99)}


def time_calls(fn: Callable[[], Any], warmup: int, runs: int) -> list[float]:
    """Wall time of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


MAX_FACE_FILES = 2000
#: Untimed calls before timing (interpreter allocation, caches, CPU frequency settle).
WARMUP_CALLS = 20
#: Timed calls per setting: enough for a stable p99 (the 2nd-largest of 200).
TIMED_CALLS = 200


def load_face_images(folder: str | Path, limit: int = MAX_FACE_FILES) -> np.ndarray:
    """Up to ``limit`` face images found under ``folder`` (sorted, recursive) as (N, 48, 48, 1) model inputs."""
    import cv2

    from edge_fer.preprocessing import to_face_input
    from edge_fer.sources import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise EdgeFerError(f"--faces {root}: not a folder; give a folder of face images (e.g. a FER2013 val/)")
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files)), dtype=int)] if files else []
    faces = [img for img in (cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files) if img is not None]
    if not faces:
        raise EdgeFerError(f"--faces {root}: no readable images in it")
    return np.stack([to_face_input(img) for img in faces])[..., None]


def _inputs(faces_dir: str | None, batch: int) -> Callable[[], np.ndarray]:
    """Each call's batch: one random-noise batch, or the next ``batch`` real faces in turn."""
    if faces_dir is None:
        noise = np.random.default_rng(0).integers(0, 256, (batch, 48, 48, 1), dtype=np.uint8)
        return lambda: noise
    faces = load_face_images(faces_dir)
    # A seeded shuffle: files come sorted by label folder, and the timed calls use only the first few hundred
    # faces, which would all be one emotion (and an adaptive flip policy's cost depends on the emotion).
    faces = faces[np.random.default_rng(0).permutation(len(faces))]
    batches = itertools.cycle([faces[i : i + batch] for i in range(0, len(faces) - batch + 1, batch)] or [faces])
    return lambda: next(batches)


def bench_in_process(
    model: str,
    backend: str,
    threads: int,
    batch: int,
    warmup: int,
    runs: int,
    tta: str = "none",
    faces_dir: str | None = None,
) -> dict[str, Any]:
    """Measure one setting in this process (the worker of :func:`bench_models`)."""
    from edge_fer.backends import load_classifier
    from edge_fer.sysinfo import machine, peak_rss_mb
    from edge_fer.tta import tta_description, with_tta

    clf = with_tta(load_classifier(model, backend=backend, threads=threads), tta)
    next_batch = _inputs(faces_dir, batch)
    samples = time_calls(lambda: clf.predict(next_batch()), warmup, runs)
    stats = percentiles(samples)
    info, host = clf.describe(), machine()
    return asdict(
        BenchResult(
            model=str(model),
            backend=clf.backend,
            runtime=str(info.get("runtime")),
            version=str(info.get("version")),
            accel=str(info.get("delegate") or info.get("provider") or info.get("device") or "cpu"),
            threads=threads,
            batch=batch,
            runs=runs,
            **stats,
            mean_ms=float(np.mean(samples) * 1000.0),
            p50_ms_per_face=stats["p50_ms"] / batch,
            throughput_per_s=batch / float(np.mean(samples)),
            size_bytes=Path(model).stat().st_size,
            peak_rss_mb=peak_rss_mb(),
            tensorflow_loaded="tensorflow" in sys.modules,
            cpu=str(host["cpu"]),
            arch=str(host["arch"]),
            inputs=f"faces from {faces_dir}" if faces_dir else "random noise",
            tta=tta_description(clf),
        )
    )


def _worker(args: tuple, queue: Any) -> None:
    try:
        queue.put(("ok", bench_in_process(*args)))
    except EdgeFerError as exc:
        queue.put(("error", str(exc)))
    except Exception as exc:  # reported to the parent as one line
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def run_isolated(args: tuple) -> dict[str, Any]:
    """Run :func:`bench_in_process` in a fresh spawned process; re-raise its error as one line."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(args, queue))
    proc.start()
    try:
        status, payload = queue.get(timeout=600)
    finally:
        proc.join(timeout=30)
    if status != "ok":
        raise EdgeFerError(f"bench of {args[0]}: {payload}")
    return payload


def check_bench(
    models: Sequence[str | Path], backend: str = "auto", tta: str = "none", faces_dir: str | Path | None = None
) -> None:
    """Fail fast, in this process and before any worker starts, on a bad path, model or setting."""
    from edge_fer.backends import load_classifier
    from edge_fer.tta import FlipTTA, with_tta

    for model in models:
        clf = with_tta(load_classifier(model, backend=backend, threads=1), tta)
        if isinstance(clf, FlipTTA) and clf.below is not None and faces_dir is None:
            raise EdgeFerError(
                f"{model}: its test-time policy's cost depends on the faces; give --faces DIR (e.g. a FER2013 val/)"
            )
    if faces_dir is not None:
        load_face_images(faces_dir, limit=1)


def bench_models(
    models: Sequence[str | Path],
    backend: str = "auto",
    threads: Sequence[int] = (1,),
    batches: Sequence[int] = (1,),
    warmup: int = WARMUP_CALLS,
    runs: int = TIMED_CALLS,
    isolate: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    tta: str = "none",
    faces_dir: str | Path | None = None,
    check: bool = True,
) -> list[dict[str, Any]]:
    """Every model x threads x batch, each measured after warm-up over ``runs`` calls.

    ``tta``: time the bare model (``none``, default), its own flip policy (``model``) or always-flip.
    ``faces_dir``: feed real faces from this folder in turn instead of noise; needed to time an adaptive
    policy, whose cost depends on how sure the model is of each face. ``check=False``: the caller already
    ran :func:`check_bench`.
    """
    if check:
        check_bench(models, backend, tta, faces_dir)
    results = []
    for model, t, b in itertools.product(models, threads, batches):
        args = (str(model), backend, t, b, warmup, runs, tta, None if faces_dir is None else str(faces_dir))
        result = run_isolated(args) if isolate else bench_in_process(*args)
        results.append(result)
        if on_result:
            on_result(result)
    return results
