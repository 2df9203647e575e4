"""The parity report: every exported artifact run by the runtime's own loader against the Keras model.

Per artifact: file size, accuracy on the validation faces (the number ``edge-fer evaluate`` reports:
same loader, same :func:`edge_fer.training.evaluate.predict_probs`), top-1 agreement with Keras, the largest
probability difference, and the median latency of one face on one thread. Each format's gate comes from
:mod:`edge_fer.export.formats`; :meth:`ParityReport.check` raises when one fails.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.backends import load_classifier
from edge_fer.errors import EdgeFerError
from edge_fer.export.formats import ExportFormat
from edge_fer.preprocessing import INPUT_SIZE
from edge_fer.quiet import quiet_native
from edge_fer.training.data import FaceSet
from edge_fer.training.evaluate import predict_probs

LATENCY_RUNS = 50
LATENCY_WARMUP = 5


class ParityError(EdgeFerError):
    """An artifact strays too far from its Keras model. It is kept for inspection under a ``.FAILED`` name
    (:func:`edge_fer.export.exporter.failed_path`) with parity.json; its sidecar records why."""


@dataclass
class ParityRow:
    """One model's numbers; ``None`` where there were no validation faces."""

    format: str
    path: str
    size_bytes: int
    runtime: str
    latency_p50_ms: float
    accuracy: float | None = None
    accuracy_drop_pts: float | None = None
    agreement: float | None = None
    max_prob_diff: float | None = None
    max_accuracy_drop: float | None = None
    min_agreement: float | None = None
    passed: bool | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class ParityReport:
    """Rows for the Keras reference and each artifact, with where the validation faces came from."""

    model: str
    data: str | None
    n: int
    reference: ParityRow
    rows: list[ParityRow]

    @property
    def failures(self) -> list[ParityRow]:
        return [r for r in self.rows if r.passed is False]

    @property
    def passed(self) -> bool | None:
        """True when every artifact passed its gate, False when one failed, None when unchecked (no data)."""
        if self.failures:
            return False
        return None if any(r.passed is None for r in self.rows) else True

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "n": self.n,
            "passed": self.passed,
            "reference": asdict(self.reference),
            "artifacts": [asdict(r) for r in self.rows],
        }

    def check(self, report_path: str | os.PathLike[str] | None = None) -> None:
        """Raise :class:`ParityError` naming every artifact that failed its gate, and why."""
        if not self.failures:
            return
        why = "; ".join(f"{r.format} {' and '.join(r.reasons)}" for r in self.failures)
        kept = ", ".join(Path(r.path).name for r in self.failures)
        where = f" (kept for inspection as {kept}; details in {report_path})" if report_path else ""
        raise ParityError(f"parity check failed: {why}{where}")


def latency_p50_ms(classifier: Any, face: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    """Median wall time of ``classifier.predict`` on one (1, 48, 48, 1) face, milliseconds."""
    for _ in range(LATENCY_WARMUP):
        classifier.predict(face)
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        classifier.predict(face)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def _runtime(classifier: Any) -> str:
    d = classifier.describe()
    threads = d.get("threads")
    return f"{d.get('runtime')} {d.get('version')}" + (f", {threads} thread" if threads else "")


def _row(classifier: Any, fmt_name: str, path: Path, face: np.ndarray, runs: int) -> ParityRow:
    return ParityRow(
        format=fmt_name,
        path=str(path),
        size_bytes=path.stat().st_size,
        runtime=_runtime(classifier),
        latency_p50_ms=latency_p50_ms(classifier, face, runs),
    )


def apply_gate(row: ParityRow, fmt: ExportFormat) -> None:
    row.max_accuracy_drop, row.min_agreement = fmt.max_accuracy_drop, fmt.min_agreement
    if row.accuracy_drop_pts is None or row.agreement is None:
        return
    if row.accuracy_drop_pts > fmt.max_accuracy_drop:
        row.reasons.append(f"loses {row.accuracy_drop_pts:.2f} accuracy points (at most {fmt.max_accuracy_drop:g})")
    if row.agreement < fmt.min_agreement:
        row.reasons.append(
            f"agrees with Keras on {row.agreement:.1%} of faces (at least {fmt.min_agreement:.0%} needed)"
        )
    row.passed = not row.reasons


def parity_report(
    keras_classifier: Any,
    artifacts: list[tuple[ExportFormat, Path]],
    val: FaceSet | None,
    latency_runs: int = LATENCY_RUNS,
) -> ParityReport:
    """Run the Keras model and every artifact (loaded by :func:`load_classifier`, one thread) on ``val``."""
    face = (
        val.x[:1].reshape(1, INPUT_SIZE, INPUT_SIZE, 1)
        if val is not None and len(val)
        else np.full((1, INPUT_SIZE, INPUT_SIZE, 1), 128, np.uint8)
    )
    reference = _row(keras_classifier, "keras", Path(keras_classifier.path), face, latency_runs)
    ref_probs = None
    if val is not None:
        ref_probs = predict_probs(keras_classifier, val.x)
        reference.accuracy = float(np.mean(ref_probs.argmax(axis=1) == val.y))
        reference.accuracy_drop_pts, reference.agreement, reference.max_prob_diff = 0.0, 1.0, 0.0
    rows = []
    for fmt, path in artifacts:
        with quiet_native():  # LiteRT announces its XNNPACK delegate on stderr
            clf = load_classifier(path, threads=1)
        row = _row(clf, fmt.name, path, face, latency_runs)
        if val is not None and ref_probs is not None and reference.accuracy is not None:
            probs = predict_probs(clf, val.x)
            pred = probs.argmax(axis=1)
            row.accuracy = float(np.mean(pred == val.y))
            row.accuracy_drop_pts = round((reference.accuracy - row.accuracy) * 100.0, 6)
            row.agreement = float(np.mean(pred == ref_probs.argmax(axis=1)))
            row.max_prob_diff = float(np.max(np.abs(probs - ref_probs)))
        apply_gate(row, fmt)
        rows.append(row)
    return ParityReport(
        model=str(keras_classifier.path),
        data=val.source if val is not None else None,
        n=len(val) if val is not None else 0,
        reference=reference,
        rows=rows,
    )


def render_table(report: ParityReport) -> Any:
    """The report as a rich Table (what ``edge-fer export`` prints)."""
    from rich import box
    from rich.table import Table

    title = f"parity on {report.data} (n={report.n})" if report.data else "parity: no validation data (--val)"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    columns = ("format", "KiB", "acc", "loss pts", "agree %", "max|Δp|", "p50 ms", "check")
    for col in columns:
        table.add_column(col, justify="left" if col in ("format", "check") else "right", no_wrap=True)

    def num(v: float | None, spec: str, scale: float = 1.0) -> str:
        return "-" if v is None else format(v * scale, spec)

    for r in (report.reference, *report.rows):
        check = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: "-"}[r.passed]
        table.add_row(
            r.format,
            f"{r.size_bytes / 1024:,.0f}",
            num(r.accuracy, ".4f"),
            num(r.accuracy_drop_pts, "+.2f"),
            num(r.agreement, ".2f", 100.0),
            num(r.max_prob_diff, ".1e"),
            f"{r.latency_p50_ms:.2f}",
            "ref" if r is report.reference else check,
        )
    return table
