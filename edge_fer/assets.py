"""Where the shipped model lives: the repository's ``assets/`` (editable install) or $EDGE_FER_MODEL."""

from __future__ import annotations

import os
from pathlib import Path

from edge_fer.errors import ModelError

#: File name of the shipped int8 emotion model in ``assets/``.
DEFAULT_MODEL = "edgefer-s_int8.tflite"
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def default_model_path() -> Path:
    """The model every command uses when none is named."""
    env = os.environ.get("EDGE_FER_MODEL")
    path = Path(env) if env else ASSETS_DIR / DEFAULT_MODEL
    if not path.is_file():
        raise ModelError(
            f"model {path}: the shipped model is missing; reinstall from the repository "
            "(pip install -e .) or pass --model PATH"
        )
    return path
