"""``export_model``: one trained .keras model to every asked format, each with its metadata and parity proof.

Order of work, so a failure leaves nothing half-made: check every input and output path, load the data,
then per format convert in memory, embed the metadata (:mod:`edge_fer.export.embed`) and write the artifact
and its sidecar atomically; a flip policy, chosen by running the written artifact, is embedded afterwards;
finally the parity report runs each artifact through the runtime's loader, records its outcome in its
metadata, moves one that failed its gate to a ``.FAILED`` name (``best_int8.FAILED.tflite``) and writes
``parity.json``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_fer.atomic import check_output, write_bytes, write_json
from edge_fer.backends import load_classifier
from edge_fer.digest import file_digest
from edge_fer.errors import DataError, EdgeFerError, ModelError
from edge_fer.export.calibration import Calibration, load_calibration, load_validation
from edge_fer.export.embed import embed_bytes, embed_meta
from edge_fer.export.formats import DEFAULT_CALIB_SIZE, DEFAULT_OPSET, ExportFormat, parse_formats
from edge_fer.export.graph import frozen_function
from edge_fer.export.onnx import convert_onnx, onnx_facts, quantize_onnx
from edge_fer.export.parity import LATENCY_RUNS, ParityReport, ParityRow, parity_report
from edge_fer.export.tflite import INT8_IO, convert_tflite, tflite_facts
from edge_fer.metadata import ModelMeta, read_meta, sidecar_path, write_meta
from edge_fer.preprocessing import normalization_of, normalize_faces
from edge_fer.quiet import import_tensorflow
from edge_fer.tta import check_flip_budget, check_roll, policy_views, set_flip_policy

log = logging.getLogger(__name__)

PARITY_FILE = "parity.json"
FAILED_TAG = ".FAILED"  # infix of an artifact that failed its parity gate
FLIP_FACES = 2000  # training faces the adaptive flip policy's confidence cut is chosen on
KERAS_SUFFIXES = (".keras", ".h5")


@dataclass
class Artifact:
    """One written model file, its sidecar, and facts read back from it."""

    format: ExportFormat
    path: Path
    meta_path: Path
    facts: dict[str, Any]
    seconds: float
    tta: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format.name,
            "path": str(self.path),
            "meta": str(self.meta_path),
            "size_bytes": self.path.stat().st_size,
            "seconds": round(self.seconds, 3),
            "tta": self.tta,
            **self.facts,
        }


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how the artifacts compare with the Keras model."""

    model: Path
    out_dir: Path
    artifacts: list[Artifact]
    parity: ParityReport
    parity_path: Path
    calibration: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.model),
            "out_dir": str(self.out_dir),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "calibration": self.calibration,
            "parity": self.parity.to_dict(),
            "parity_path": str(self.parity_path),
            "notes": self.notes,
        }


def load_source(model_path: str | Path) -> Any:
    """The Keras model to export, through the runtime's loader (so its errors and input checks apply)."""
    path = Path(model_path)
    if path.suffix.lower() not in KERAS_SUFFIXES and path.exists():
        raise ModelError(f"model {path}: export takes a trained Keras model (.keras), not {path.suffix or 'a folder'}")
    import_tensorflow()
    return load_classifier(path, backend="keras")


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"):
        try:
            found[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return found


def _write_pair(path: Path, blob: bytes, meta: ModelMeta) -> Path:
    """The model with its metadata inside, and the same metadata as a sidecar (for older edge-fer versions).
    Sidecar first, then the model, each atomically: a failed model write takes its new sidecar with it."""
    blob = embed_bytes(blob, path.suffix, meta)
    meta_path = write_meta(path, meta)
    try:
        write_bytes(path, blob)
    except BaseException:
        meta_path.unlink(missing_ok=True)
        raise
    return meta_path


class _Converter:
    """Converts one Keras model to any format, sharing the frozen graph and the float ONNX between formats."""

    def __init__(self, model: Any, calib: Calibration | None, io_dtype: str, opset: int):
        self.model, self.calib, self.io_dtype, self.opset = model, calib, io_dtype, opset
        self._frozen: Any = None
        self._onnx: bytes | None = None

    def _frozen_function(self) -> Any:
        if self._frozen is None:
            self._frozen = frozen_function(self.model)
        return self._frozen

    def _float_onnx(self) -> bytes:
        if self._onnx is None:
            self._onnx = convert_onnx(self.model, self.opset, frozen=self._frozen_function())
        return self._onnx

    def __call__(self, fmt: ExportFormat) -> tuple[bytes, dict[str, Any]]:
        """The artifact's bytes and its format-specific metadata."""
        if fmt.backend == "tflite":
            data = convert_tflite(self.model, fmt, self.calib, self.io_dtype, frozen=self._frozen_function())
            facts = tflite_facts(data)
        elif fmt.name == "onnx":
            data = self._float_onnx()
            facts = onnx_facts(data)
        elif fmt.name == "onnx-int8":
            data = quantize_onnx(self._float_onnx(), self.calib)
            facts = onnx_facts(data)
        else:
            raise EdgeFerError(f"no converter for format {fmt.name}")
        return data, facts


def _add_flip_policies(
    artifacts: list[Artifact], faces: Calibration, budget: float, roll_deg: float, say: Callable[[str], None]
) -> None:
    """Each artifact's own confidence cut (quantised models are a little less sure than float ones), written
    into its sidecar and embedded in the model."""
    for artifact in artifacts:
        clf = load_classifier(artifact.path, threads=1)
        artifact.tta = set_flip_policy(clf, faces.faces, budget, faces.source, roll_deg)
        embed_meta(artifact.path, clf.meta)
        cut = artifact.tta["below_confidence"]
        say(f"{artifact.format.name}: {policy_views(artifact.tta)} faces below confidence {cut:.3f}")


def failed_path(path: Path) -> Path:
    """Where an artifact that failed its parity gate goes: ``best_int8.tflite`` -> ``best_int8.FAILED.tflite``."""
    return path.with_name(f"{path.stem}{FAILED_TAG}{path.suffix}")


def _settle(artifact: Artifact, row: ParityRow) -> None:
    """Record the artifact's parity outcome in its metadata (``extra.parity``, sidecar and embedded copy). One
    that failed its gate leaves its normal name first, so no command given that name (evaluate, predict, bench,
    a release recipe) runs it as if it were good: it becomes :func:`failed_path`, and its metadata follows. A
    stale failed pair of an earlier export under the same name goes once this one passes."""
    meta = read_meta(artifact.path)
    if meta is None:  # written by _write_pair a moment ago
        raise ModelError(f"{artifact.meta_path}: the metadata of {artifact.path} disappeared during the export")
    meta.extra["parity"] = {
        "passed": row.passed,
        "accuracy": row.accuracy,
        "agreement": row.agreement,
        "accuracy_drop_pts": row.accuracy_drop_pts,
        "reasons": list(row.reasons),
    }
    failed = failed_path(artifact.path)
    if row.passed is False:
        os.replace(artifact.path, failed)
        artifact.meta_path.unlink(missing_ok=True)
        artifact.path, artifact.meta_path, row.path = failed, sidecar_path(failed), str(failed)
    else:
        for stale in (failed, sidecar_path(failed)):
            stale.unlink(missing_ok=True)
    write_meta(artifact.path, meta)
    embed_meta(artifact.path, meta)
    row.size_bytes = artifact.path.stat().st_size  # the record inside makes the file a little larger


def _check_name(name: str) -> str:
    """An artifact stem is a bare file name: a path would write outside ``--out``."""
    if not name or name in {".", ".."} or any(sep in name for sep in ("/", "\\")):
        raise EdgeFerError(f"--name {name!r}: give a bare file stem such as edgefer-s (folders go in --out)")
    return name


def export_model(
    model_path: str | Path,
    formats: str | Iterable[str] | None = None,
    data: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    val: str | Path | None = None,
    int8: bool = False,
    io_dtype: str = "int8",
    opset: int = DEFAULT_OPSET,
    calib_size: int = DEFAULT_CALIB_SIZE,
    seed: int = 0,
    flip_budget: float | None = None,
    tta_roll: float = 0.0,
    name: str | None = None,
    force: bool = False,
    strict: bool = True,
    latency_runs: int = LATENCY_RUNS,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``model_path`` to ``formats`` in ``out_dir`` (default: ``export/`` beside the model) and prove
    each artifact against it on the validation faces of ``val`` or ``data``.

    ``strict``: raise :class:`edge_fer.export.parity.ParityError` (after writing everything) when an artifact fails its
    parity gate; the CLI passes False to print the table first, then calls ``result.parity.check()``.
    ``flip_budget``: give every artifact an adaptive flip policy mirroring that share of training faces
    (:mod:`edge_fer.tta`); the parity report always compares the bare models. ``tta_roll`` (degrees, with
    ``flip_budget``): those faces are also averaged rolled by +-tta_roll, themselves and mirrored.
    ``name``: the artifacts' stem (``<name>_int8.tflite``); default the model file's, so ``best.keras`` gives
    ``best_int8.tflite`` and a release can be named without copying the model.
    """
    say = progress or (lambda _msg: None)
    model_path = Path(model_path)
    chosen = parse_formats(formats, int8=int8, have_data=data is not None)
    stem = _check_name(name) if name is not None else model_path.stem
    if io_dtype not in INT8_IO:
        raise EdgeFerError(f"int8 input/output type {io_dtype!r}: choose one of {', '.join(INT8_IO)}")
    needs_faces = [f.name for f in chosen if f.calibrated]
    if flip_budget is not None and data is None:
        raise DataError("--flip-budget sets its confidence cut on training faces: pass --data DIR")
    if flip_budget is not None:
        check_flip_budget(flip_budget)
    if tta_roll and flip_budget is None:
        raise EdgeFerError("--tta-roll adds rolled views to the adaptive policy: give --flip-budget too")
    check_roll(tta_roll)
    if needs_faces and data is None:
        raise DataError(
            f"{', '.join(needs_faces)} need real training faces to calibrate: pass --data DIR (a FER folder "
            "with train/, or fer2013.csv); edge-fer never calibrates on made-up inputs"
        )
    if data is not None and not Path(data).exists():
        raise DataError(f"{data}: no such dataset folder or CSV")
    if val is not None and not Path(val).exists():
        raise DataError(f"{val}: no such validation folder or CSV")

    source = load_source(model_path)
    out = Path(out_dir) if out_dir is not None else model_path.parent / "export"
    targets = [(fmt, fmt.path(out, stem)) for fmt in chosen]
    for _, path in targets:  # refuse before converting anything
        check_output(path, force)
        check_output(sidecar_path(path), force)

    calib = None
    if needs_faces:
        calib = load_calibration(data, calib_size, seed)  # type: ignore[arg-type]
        # The converters feed the bare network: give it faces normalized as every backend will.
        calib.faces = normalize_faces(calib.faces, normalization_of(source.meta.preprocessing))
        say(f"calibration: {len(calib)} stratified training faces from {calib.source}")
    val_faces = load_validation(data, val)
    notes = []
    if val_faces is None:
        notes.append("no validation faces (pass --val or a --data folder with val/): accuracy and agreement unchecked")

    base_extra = {
        "source_model": str(model_path),
        "source_sha256": file_digest(model_path),
        "source_extra": dict(source.meta.extra),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    convert = _Converter(source.model, calib, io_dtype, opset)
    artifacts: list[Artifact] = []
    for fmt, path in targets:
        say(f"{fmt.name}: converting")
        started = time.perf_counter()
        blob, facts = convert(fmt)
        extra = {**base_extra, "quantization": fmt.quantization, **facts}
        if fmt.calibrated and calib is not None:
            extra["calibration"] = calib.describe()
        meta = ModelMeta(
            labels=list(source.meta.labels),
            input_shape=list(source.meta.input_shape),
            preprocessing=dict(source.meta.preprocessing),
            arch=source.meta.arch,
            format=fmt.name,
            extra=extra,
        )
        meta_path = _write_pair(path, blob, meta)
        elapsed = time.perf_counter() - started
        artifacts.append(Artifact(fmt, path, meta_path, facts, elapsed))
        say(f"{fmt.name}: wrote {path} ({path.stat().st_size / 1024:,.0f} KiB with its metadata, {elapsed:.1f} s)")

    if flip_budget is not None:
        _add_flip_policies(artifacts, load_calibration(data, FLIP_FACES, seed), flip_budget, tta_roll, say)  # type: ignore[arg-type]

    say(f"parity: running {len(artifacts)} artifacts" + (f" on {len(val_faces)} faces" if val_faces else ""))
    report = parity_report(source, [(a.format, a.path) for a in artifacts], val_faces, latency_runs)
    for artifact, row in zip(artifacts, report.rows):
        _settle(artifact, row)
    parity_path = write_json(out / PARITY_FILE, report.to_dict())
    result = ExportResult(model_path, out, artifacts, report, parity_path, calib.describe() if calib else None, notes)
    if strict:
        report.check(parity_path)
    return result
