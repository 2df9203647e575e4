"""Progress on stderr for the CLI's long commands: a spinner for a stage of unknown length, a bar for counted work.

Drawn only where stderr is a terminal and never with ``--json`` (``quiet``), so pipes, logs and captured output
stay clean; transient, so the lines vanish when the work is done and only the result remains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from edge_fer.cli.consoles import make_console

err = make_console(stderr=True)

#: ``step(advance=1, *, completed=None, total=None, description=None)``: move the bar on.
Step = Callable[..., None]


@contextmanager
def progress(
    what: str, total: int | None = None, quiet: bool = False, console: Console | None = None
) -> Iterator[Step]:
    """A bar over ``total`` units (a pulsing one when the total is unknown, e.g. a live camera) labelled ``what``;
    yields ``step``, which any library callback can call."""
    console = console or err
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )
    with bar:
        task = bar.add_task(what, total=total)

        def step(
            advance: int = 1,
            *,
            completed: int | None = None,
            total: int | None = None,
            description: str | None = None,
        ) -> None:
            fields = {"total": total, "completed": completed, "description": description}
            bar.update(task, advance=advance if completed is None else None, **fields)

        yield step


@contextmanager
def stage(what: str, quiet: bool = False, console: Console | None = None) -> Iterator[None]:
    """A spinner labelled ``what`` for work that cannot count its steps (importing TensorFlow, loading a model)."""
    console = console or err
    if quiet or not console.is_terminal:
        yield
        return
    with console.status(what):
        yield
