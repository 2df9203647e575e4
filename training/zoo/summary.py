"""Rows for ``edge-fer models``: each architecture's size, cost and description."""

from __future__ import annotations

import logging
from typing import Any

from edge_fer.training.zoo.macs import model_macs
from edge_fer.training.zoo.registry import create_model, get_entry, list_models


def describe_models(pattern: str = "*") -> list[dict[str, Any]]:
    """name, params, macs, description for every architecture matching ``pattern``."""
    import keras

    rows = []
    quiet = logging.getLogger("edge_fer.training.zoo.seeds")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # building VGG16 without weights warns; listing is not training
    try:
        for name in list_models(pattern):
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
