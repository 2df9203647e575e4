"""The model registry: ``@register`` puts a builder under a name; ``create_model`` builds it (timm's way)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_fer.labels import NUM_CLASSES
from edge_fer.preprocessing import INPUT_SIZE

INPUT_SHAPE = (INPUT_SIZE, INPUT_SIZE, 1)


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: its builder, one-line description and default keyword arguments."""

    name: str
    builder: Callable[..., Any]
    description: str
    defaults: dict[str, Any]
    #: Recommended learning rate for fine-tuning-style models (None: the trainer's default).
    learning_rate: float | None = None


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str, description: str, learning_rate: float | None = None, **defaults: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated builder under ``name`` (it may be registered again under other names
    with other defaults, as the seed002 grid is)."""

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, builder, description, dict(defaults), learning_rate)
        return builder

    return wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The entry registered under ``name``; KeyError listing the valid names otherwise."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown architecture {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int = NUM_CLASSES, **kwargs: Any) -> Any:
    """Build the Keras model registered as ``name``, taking 48x48x1 raw gray pixels (0..255)."""
    entry = get_entry(name)
    params = {**entry.defaults, **kwargs}
    model = entry.builder(num_classes=num_classes, **params)
    model.name = name.replace("-", "_")
    return model
