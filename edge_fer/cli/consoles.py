"""The CLI's rich consoles: results on stdout, progress and messages on stderr.

They follow sys.stdout / sys.stderr as they are at print time (tests and redirects replace them), and
piped output gets a wide fixed width instead of rich's 80 columns, so tables stay readable in logs.
"""

from __future__ import annotations

import contextlib
import os
import sys

from rich.console import Console

PIPED_WIDTH = 200


def reader_left() -> None:
    """The reader of our output closed it (``edge-fer evaluate ... | head -1``): not a failure of the command.
    Exit 0 quietly; stdout goes to the null device so the interpreter's last flush cannot fail again (the
    recipe of Python's ``signal`` documentation, "Note on SIGPIPE")."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(0)


class _Console(Console):
    """rich's Console, but a closed pipe ends the command with exit 0 (rich's own choice is 1, which our exit
    codes reserve for internal errors)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        reader_left()


def make_console(stderr: bool = False, **kwargs) -> Console:
    console = _Console(stderr=stderr, soft_wrap=True, **kwargs)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console
