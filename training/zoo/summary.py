"""Rows for ``edge-fer models``: each architecture's size, cost and description."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edge_fer.training.zoo.macs import model_macs
from edge_fer.training.zoo.registry import create_model, get_entry, list_models


def describe_models(
    pattern: str = "*", on_model: Callable[[int, int, str], None] | None = None
) -> list[dict[str, Any]]:
    """name, params, macs, description for every architecture matching ``pattern``. Each is built to be
    measured (about a second apiece, VGG16 more), so ``on_model(index, total, name)`` is called before each."""
    import keras

    rows = []
    quiet = logging.getLogger("edge_fer.training.zoo.seeds")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # building VGG16 without weights warns; listing is not training
    try:
        names = list_models(pattern)
        for i, name in enumerate(names):
            if on_model is not None:
                on_model(i, len(names), name)
            model = create_model(name)
            rows.append(
                {
                    "name": name,
                    "params": int(model.count_params()),
                    "macs": int(model_macs(model)),
                    "description": get_entry(name).description,
                }
            )
            keras.backend.clear_session()
    finally:
        quiet.setLevel(level)
    return rows
