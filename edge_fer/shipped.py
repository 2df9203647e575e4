"""Where the shipped model lives: package data of the installed ``edge_fer`` (a wheel or ``pip install .``),
the repository's ``assets/`` (a source checkout or editable install), or ``$EDGE_FER_MODEL``.

``pyproject.toml`` installs the top-level ``assets/`` folder's runtime artifacts as ``edge_fer/assets/``, so
both layouts resolve without a download.
"""

from __future__ import annotations

import os
from pathlib import Path

from edge_fer.errors import ModelError

#: File name of the shipped int8 emotion model.
DEFAULT_MODEL = "edgefer-s_int8.tflite"
_PACKAGE = Path(__file__).resolve().parent


def assets_dir() -> Path:
    """The folder holding the shipped models: ``edge_fer/assets`` when installed, else the checkout's ``assets/``."""
    for folder in (_PACKAGE / "assets", _PACKAGE.parent / "assets"):
        if (folder / DEFAULT_MODEL).is_file():
            return folder
    return _PACKAGE / "assets"


def default_model_path() -> Path:
    """The model every command uses when none is named (``$EDGE_FER_MODEL`` overrides it).

    Raises ModelError when the file is absent (a broken install)."""
    env = os.environ.get("EDGE_FER_MODEL")
    path = Path(env) if env else assets_dir() / DEFAULT_MODEL
    if not path.is_file():
        where = "$EDGE_FER_MODEL" if env else "the installed package"
        raise ModelError(
            f"model {path}: the shipped model is missing from {where}; reinstall edge-fer or pass --model PATH"
        )
    return path
