"""Errors a user can act on: the CLI prints them as one line and exits with their code."""

from __future__ import annotations

#: Exit codes, documented in the README.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2
EXIT_INTERRUPTED = 130


class EdgeFerError(Exception):
    """A problem with the user's input (a path, a model, data): one line, exit code 2."""

    exit_code = EXIT_USER


class ModelError(EdgeFerError):
    """A model file that is missing, unreadable, or not one edge-fer understands."""


class SourceError(EdgeFerError):
    """A camera, video, stream or image that cannot be opened or read."""


class DataError(EdgeFerError):
    """A dataset folder or file that cannot be used for training or evaluation."""


class OutputExistsError(EdgeFerError):
    """An output path that exists already and may not be overwritten without --force."""
