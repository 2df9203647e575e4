"""The CLI's rich consoles: results on stdout, progress and messages on stderr.

They follow sys.stdout / sys.stderr as they are at print time (tests and redirects replace them), and
piped output gets a wide fixed width instead of rich's 80 columns, so tables stay readable in logs.
"""

from __future__ import annotations

from rich.console import Console

PIPED_WIDTH = 200


def make_console(stderr: bool = False, **kwargs) -> Console:
    console = Console(stderr=stderr, soft_wrap=True, **kwargs)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console
