"""The ``edge-fer`` command line: thin typer commands over library functions.

Errors a user can fix print as one line with exit code 2; anything else prints one line with exit
code 1 and a hint to rerun with ``--debug`` for the traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from edge_fer.cli import app_state
from edge_fer.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EdgeFerError

app = typer.Typer(
    name="edge-fer",
    help="Real-time facial emotion recognition on edge devices: train, evaluate, export, predict, bench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and library logs."),
) -> None:
    """Set up logging once for every command."""
    app_state.DEBUG = debug or bool(os.environ.get("EDGE_FER_DEBUG"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if app_state.DEBUG else "3")
    logging.basicConfig(
        level=logging.DEBUG if app_state.DEBUG else logging.WARNING,
        format="%(levelname)s: %(message)s" if not app_state.DEBUG else "%(levelname)s %(name)s: %(message)s",
    )
    if not app_state.DEBUG:
        logging.getLogger("absl").setLevel(logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _register_commands() -> None:
    from edge_fer.cli import training_cmds

    training_cmds.register(app)
    for name in ("export_cmds", "runtime_cmds", "bench_cmds", "explain_cmds"):
        try:
            module = __import__(f"edge_fer.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"edge_fer.cli.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    """Console entry point: run the app, turning exceptions into one line and an exit code."""
    try:
        app()
    except EdgeFerError as exc:
        _fail(str(exc), exc.exit_code, exc)
    except KeyboardInterrupt as exc:
        _fail("interrupted", EXIT_INTERRUPTED, exc)
    except Exception as exc:
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", EXIT_INTERNAL, exc)


def _fail(message: str, code: int, exc: BaseException) -> None:
    if app_state.DEBUG:
        import traceback

        traceback.print_exception(exc)
    print(f"edge-fer: error: {message}", file=sys.stderr)
    sys.exit(code)
