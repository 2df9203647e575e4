"""What travels with every model file: its labels, input, preprocessing and flip policy (:class:`ModelMeta`).

The same JSON lives in two places:

- inside the model: a .tflite's ``Model.metadata`` entry and an .onnx's ``metadata_props`` entry, both named
  :data:`EMBEDDED_KEY` (written by :mod:`edge_fer.export.embed`, read by :mod:`edge_fer.embedded`), so a
  model file copied alone still describes itself;
- beside it: ``model.tflite`` -> ``model.json`` (same stem), the only place for .keras models and for models
  exported before edge-fer embedded metadata; kept beside new artifacts for older edge-fer versions.

:func:`read_meta` prefers the embedded copy. The runtime refuses a model whose preprocessing it does not
implement.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_fer import __version__
from edge_fer.atomic import _jsonable, write_text
from edge_fer.embedded import read_embedded
from edge_fer.errors import ModelError
from edge_fer.labels import LABELS
from edge_fer.preprocessing import (
    BASE_SPEC,
    INPUT_SIZE,
    PREPROCESSING_VERSION,
    SPEC,
    check_normalization,
    framing_of,
    normalization_of,
)

log = logging.getLogger(__name__)

SCHEMA = 1
#: Name of the metadata entry inside a .tflite (``Model.metadata``) and an .onnx (``metadata_props``).
EMBEDDED_KEY = "edge_fer.meta"


@dataclass
class ModelMeta:
    """Labels, input and preprocessing of one model artifact."""

    labels: list[str] = field(default_factory=lambda: list(LABELS))
    input_shape: list[int] = field(default_factory=lambda: [INPUT_SIZE, INPUT_SIZE, 1])
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(SPEC))
    arch: str | None = None
    format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA
    edge_fer_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "metadata") -> ModelMeta:
        known = {f for f in cls.__dataclass_fields__}
        meta = cls(**{k: v for k, v in data.items() if k in known})
        meta.check(source)
        return meta

    def check(self, source: str) -> None:
        """Raise ModelError unless this runtime can feed and read a model described so."""
        if list(self.input_shape) != [INPUT_SIZE, INPUT_SIZE, 1]:
            raise ModelError(f"{source}: input {self.input_shape} is not 48x48x1 gray; edge-fer models take 48x48x1")
        for key, want in BASE_SPEC.items():
            if self.preprocessing.get(key) != want:
                raise ModelError(
                    f"{source}: preprocessing {key}={self.preprocessing.get(key)!r} is not the {want!r} "
                    f"this runtime implements"
                )
        version = self.preprocessing.get("version", 1)
        if not isinstance(version, int) or not 1 <= version <= PREPROCESSING_VERSION:
            raise ModelError(
                f"{source}: preprocessing version {version!r} is newer than this edge-fer implements "
                f"(up to {PREPROCESSING_VERSION}); upgrade edge-fer"
            )
        try:
            check_normalization(normalization_of(self.preprocessing))
        except ValueError as exc:
            raise ModelError(f"{source}: {exc}; upgrade edge-fer") from None
        try:
            framing_of(self.preprocessing)
        except ValueError as exc:
            raise ModelError(f"{source}: {exc}; upgrade edge-fer") from None
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ModelError(f"{source}: labels {self.labels} are empty or repeated")


def sidecar_path(model_path: str | Path) -> Path:
    """``dir/name.tflite`` -> ``dir/name.json``."""
    return Path(model_path).with_suffix(".json")


def meta_json(meta: ModelMeta) -> str:
    """The JSON text of ``meta`` as both the sidecar and the embedded entry hold it."""
    return json.dumps(meta.to_dict(), indent=2, default=_jsonable) + "\n"


def write_meta(model_path: str | Path, meta: ModelMeta) -> Path:
    """Write the sidecar of ``model_path`` atomically (the embedded copy is :mod:`edge_fer.export.embed`'s)."""
    return write_text(sidecar_path(model_path), meta_json(meta))


def parse_meta(text: str | bytes, source: str, fix: str = "fix or delete it") -> ModelMeta:
    """A checked ModelMeta from its JSON text; ModelError naming ``source`` (and what to do: ``fix``) when
    unreadable or unusable."""
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{source}: unreadable model metadata ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{source}: model metadata must be a JSON object")
    return ModelMeta.from_dict(data, source=source)


def read_sidecar(model_path: str | Path) -> ModelMeta | None:
    """The sidecar of ``model_path``, checked; None when there is none."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: unreadable model metadata ({exc}); fix or delete it") from None
    return parse_meta(text, str(path))


def read_embedded_meta(model_path: str | Path) -> ModelMeta | None:
    """The metadata inside the model file, checked; None when it carries none (or is not a well-formed model
    of its suffix's format: the backend that opens it says why)."""
    path = Path(model_path)
    try:
        entries = read_embedded(path)
    except (OSError, ValueError) as exc:
        log.debug("model %s: no embedded metadata read (%s)", path, exc)
        return None
    if EMBEDDED_KEY not in entries:
        return None
    return parse_meta(entries[EMBEDDED_KEY], f"model {path} (embedded metadata)", "export the model again")


def read_meta(model_path: str | Path) -> ModelMeta | None:
    """The model's metadata: the copy inside the model file, else its sidecar; None when it has neither.

    When both exist the embedded copy wins (the sidecar may be stale or belong to another file of the same
    stem); a disagreement is logged at DEBUG, so ``--debug`` shows it and nothing else does."""
    embedded = read_embedded_meta(model_path)
    if embedded is None:
        return read_sidecar(model_path)
    if log.isEnabledFor(logging.DEBUG):
        try:
            sidecar = read_sidecar(model_path)
        except ModelError as exc:
            log.debug("%s (the embedded metadata is used)", exc)
            sidecar = None
        if sidecar is not None and sidecar.to_dict() != embedded.to_dict():
            differ = sorted(k for k, v in embedded.to_dict().items() if sidecar.to_dict().get(k) != v)
            log.debug(
                "model %s: sidecar %s disagrees with the embedded metadata on %s; using the embedded",
                model_path,
                sidecar_path(model_path).name,
                ", ".join(differ),
            )
    return embedded
