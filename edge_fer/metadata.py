"""What travels with every model file: its labels, input and preprocessing, as a sidecar JSON.

``model.tflite`` is described by ``model.json`` beside it (same stem). The runtime reads it to know
what the outputs mean and refuses a model whose preprocessing it does not implement.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_fer import __version__
from edge_fer.atomic import write_json
from edge_fer.errors import ModelError
from edge_fer.labels import LABELS
from edge_fer.preprocessing import BASE_SPEC, INPUT_SIZE, NORMALIZERS, PREPROCESSING_VERSION, SPEC, normalization_of

SCHEMA = 1


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
        method = normalization_of(self.preprocessing).get("method")
        if method not in NORMALIZERS:
            raise ModelError(
                f"{source}: normalization {method!r} is not one this edge-fer implements "
                f"({', '.join(NORMALIZERS)}); upgrade edge-fer"
            )
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ModelError(f"{source}: labels {self.labels} are empty or repeated")


def sidecar_path(model_path: str | Path) -> Path:
    """``dir/name.tflite`` -> ``dir/name.json``."""
    return Path(model_path).with_suffix(".json")


def write_meta(model_path: str | Path, meta: ModelMeta) -> Path:
    """Write the sidecar of ``model_path`` atomically."""
    return write_json(sidecar_path(model_path), meta.to_dict())


def read_meta(model_path: str | Path) -> ModelMeta | None:
    """The sidecar of ``model_path``, checked; None when there is none."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model metadata ({exc}); fix or delete it") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: model metadata must be a JSON object")
    return ModelMeta.from_dict(data, source=str(path))
