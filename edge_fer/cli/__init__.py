"""The ``edge-fer`` command line: thin typer commands over library functions.

Errors a user can fix print as one line with exit code 2; anything else prints one line with exit
code 1 and a hint to rerun with ``--debug`` for the traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import Annotated, Any

import typer

from edge_fer.cli import app_state
from edge_fer.cli.consoles import reader_left
from edge_fer.cli.help_format import hide_flag_types
from edge_fer.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USER, EdgeFerError

#: Top-level modules only the ``train`` extra installs (pyproject.toml): a command that imports one needs it.
#: Keyed by import name; the value is the distribution name pip knows.
TRAIN_EXTRA_MODULES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "tf_keras": "tf-keras",
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
}

hide_flag_types()

app = typer.Typer(
    name="edge-fer",
    help="Real-time facial emotion recognition on edge devices: train, evaluate, export, predict, bench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from edge_fer import __version__

        print(f"edge-fer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and library logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
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


def _click_error(name: str) -> type[Any]:
    """click's exception class ``name``, found through typer's public BadParameter (typer 0.29 ships its own copy
    of click, so ``import click`` would not catch what it raises)."""
    return next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == name)


#: A command line click could not parse (unknown option or command, bad or missing value), and its base.
UsageError, ClickException = _click_error("UsageError"), _click_error("ClickException")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so partial outputs are removed and runs save their state."""
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: run the app, turning exceptions into one line and an exit code."""
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(prog_name="edge-fer", standalone_mode=False)  # usage errors come back here: one line
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C (and SIGTERM, above) into a quiet 130
            _fail("interrupted", EXIT_INTERRUPTED, None)
        if code:
            sys.exit(code)
    except UsageError as exc:
        if not exc.format_message():
            sys.exit(exc.exit_code)  # no command given: the help was shown
        _fail(usage_line(exc), exc.exit_code, exc)
    except ClickException as exc:
        _fail(first_line(exc.format_message()), exc.exit_code, exc)
    except typer.Abort as exc:  # end of input at a prompt
        _fail("interrupted", EXIT_INTERRUPTED, exc)
    except EdgeFerError as exc:
        _fail(str(exc), exc.exit_code, exc)
    except KeyboardInterrupt as exc:
        _fail("interrupted", EXIT_INTERRUPTED, exc)
    except BrokenPipeError:
        reader_left()
    except Exception as exc:
        needs = _missing_extra(exc)
        if needs is not None:
            _fail(needs, EXIT_USER, exc)
        message = f"internal error: {type(exc).__name__}: {first_line(str(exc))}"
        _fail(f"{message} (rerun with --debug for the traceback)", EXIT_INTERNAL, exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


#: The most of an internal error's message the one line shows (--debug prints it whole).
MESSAGE_LIMIT = 200


def first_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message as one line: its first non-blank line, at most ``limit`` characters, " [...]" marking a cut.
    Library messages can span hundreds of lines (TensorFlow prints whole tensors in its errors)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    if len(line) > limit:
        return line[:limit].rstrip() + " [...]"
    return line + (" [...]" if len(lines) > 1 else "")


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in the chain that led to ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _missing_extra(exc: BaseException) -> str | None:
    """One line naming the extra to install when ``exc`` comes from importing a module only it provides."""
    missing = _cause(exc, ModuleNotFoundError)
    module = (getattr(missing, "name", None) or "").split(".")[0]
    if module not in TRAIN_EXTRA_MODULES:
        return None
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    command = f"`edge-fer {words[0]}`" if words else "this command"
    return f"{command} needs {TRAIN_EXTRA_MODULES[module]} (the train extra): pip install 'edge-fer[train]'"


def usage_line(exc: Any) -> str:
    """A usage error (unknown option, bad or missing value) as one line, with where the valid ones are listed:
    ``Invalid value for '--tta-roll': ... (see 'edge-fer export --help')``."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "edge-fer"
    message = first_line(exc.format_message()).replace("Value error, ", "")  # typer's validator prefix
    return f"{message} (see '{where} --help')"


def _fail(message: str, code: int, exc: BaseException | None) -> None:
    if app_state.DEBUG and exc is not None:
        import traceback

        traceback.print_exception(exc)
    print(f"edge-fer: error: {message}", file=sys.stderr)
    sys.exit(code)
