"""File fingerprints: a model named by its content, independently of where it lies."""

from __future__ import annotations

import hashlib
import os


def file_digest(path: str | os.PathLike[str], length: int = 64) -> str:
    """The first ``length`` hex digits (64: all) of the file's SHA-256, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
