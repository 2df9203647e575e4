"""Silence native chatter (TF/absl C++ logs, converters' prints, LiteRT's delegate line) at the fd level.

TensorFlow, the TFLite converter and LiteRT write to fd 1 and 2 from C++, past Python's ``sys.stdout``;
only a ``dup2`` keeps the CLI's table clean. What they wrote is logged at DEBUG (``edge-fer --debug``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

log = logging.getLogger(__name__)


#: Python loggers of the converters that warn about their own internals (deprecated paths, tracing).
CHATTY_LOGGERS = ("absl", "tensorflow", "tf2onnx")


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Send fd 1 and 2 to a temporary file for the block, and hush the converters' Python loggers below
    ERROR; replay the captured output to the debug log afterwards."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    saved: dict[int, int] = {}
    debug = log.isEnabledFor(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in CHATTY_LOGGERS]
    levels = [lg.level for lg in loggers]
    if not debug:
        for lg in loggers:
            lg.setLevel(max(lg.level, logging.ERROR))
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                try:
                    copy = os.dup(fd)
                except OSError:  # no such fd (embedded interpreters): nothing to silence
                    continue
                saved[fd] = copy
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
            if debug:
                sink.seek(0)
                text = sink.read().decode("utf-8", "replace").strip()
                if text:
                    log.debug("converter output:\n%s", text)


def import_tensorflow():
    """TensorFlow and Keras, imported quietly with the zoo's custom layers registered."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native():
        import tensorflow as tf

        import edge_fer.keras_layers  # noqa: F401  (registers the zoo's custom layers)
    return tf
