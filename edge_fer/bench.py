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
    p50_ms_per_face: float
    throughput_per_s: float
    size_bytes: int
    peak_rss_mb: float
    tensorflow_loaded: bool
    cpu: str
    arch: str


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


def bench_in_process(model: str, backend: str, threads: int, batch: int, warmup: int, runs: int) -> dict[str, Any]:
    """Measure one setting in this process (the worker of :func:`bench_models`)."""
    from edge_fer.backends import load_classifier
    from edge_fer.sysinfo import machine, peak_rss_mb

    clf = load_classifier(model, backend=backend, threads=threads)
    faces = np.random.default_rng(0).integers(0, 256, (batch, 48, 48, 1), dtype=np.uint8)
    samples = time_calls(lambda: clf.predict(faces), warmup, runs)
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
            p50_ms_per_face=stats["p50_ms"] / batch,
            throughput_per_s=batch / float(np.median(samples)),
            size_bytes=Path(model).stat().st_size,
            peak_rss_mb=peak_rss_mb(),
            tensorflow_loaded="tensorflow" in sys.modules,
            cpu=str(host["cpu"]),
            arch=str(host["arch"]),
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


def bench_models(
    models: Sequence[str | Path],
    backend: str = "auto",
    threads: Sequence[int] = (1,),
    batches: Sequence[int] = (1,),
    warmup: int = 20,
    runs: int = 200,
    isolate: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every model x threads x batch, each measured after warm-up over ``runs`` calls."""
    from edge_fer.backends import load_classifier

    for model in models:  # fail fast, in this process, on a bad path or model
        load_classifier(model, backend=backend, threads=1)
    results = []
    for model, t, b in itertools.product(models, threads, batches):
        args = (str(model), backend, t, b, warmup, runs)
        result = run_isolated(args) if isolate else bench_in_process(*args)
        results.append(result)
        if on_result:
            on_result(result)
    return results
