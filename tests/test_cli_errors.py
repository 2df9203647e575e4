"""An internal error is one line however long its message; --debug shows all of it."""

from __future__ import annotations

import pytest

from edge_fer.cli import MESSAGE_LIMIT, first_line

#: Like the message TensorFlow gave for a distributed batch: a first line, then a tensor's repr.
TENSOR_MESSAGE = (
    "Attempt to convert a value (PerReplica:{\n" + "  [[ 12.], [ 40.], [ 97.]],\n" * 500 + "}) to a Tensor."
)


@pytest.fixture
def failing_check(monkeypatch):
    """`data check` raising ``message`` as a ValueError (a bug, as far as the CLI knows)."""

    def use(message: str) -> None:
        def boom(folder):
            raise ValueError(message)

        monkeypatch.setattr("edge_fer.training.datacheck.check_dataset", boom)

    return use


def test_a_many_line_internal_error_is_cut_to_its_first_line(cli, failing_check, tmp_path):
    failing_check(TENSOR_MESSAGE)
    code, out, err = cli("data", "check", tmp_path)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "edge-fer: error: internal error: ValueError: Attempt to convert a value (PerReplica:{ [...] "
        "(rerun with --debug for the traceback)"
    ]


def test_a_long_first_line_is_cut_at_the_limit(cli, failing_check, tmp_path):
    failing_check("x" * 5000)
    code, _, err = cli("data", "check", tmp_path)
    (line,) = err.splitlines()
    assert (
        code == 1
        and "x" * MESSAGE_LIMIT + " [...] (rerun with --debug" in line
        and "x" * (MESSAGE_LIMIT + 1) not in line
    )


def test_debug_prints_the_whole_message(cli, failing_check, tmp_path):
    failing_check(TENSOR_MESSAGE)
    code, _, err = cli("--debug", "data", "check", tmp_path)
    assert code == 1 and "Traceback" in err and "}) to a Tensor." in err and err.count("[ 97.]") == 500


def test_first_line():
    assert first_line("one line") == "one line"
    assert first_line("\n\n  first  \nsecond") == "first [...]"
    assert first_line("") == "" and first_line("abcdef", limit=3) == "abc [...]"


def test_a_reader_that_closes_the_pipe_early_is_not_an_error() -> None:
    """``edge-fer evaluate ... | head -1``: the command ends with exit 0 and no message, not rich's exit 1 (our
    internal-error code)."""
    import subprocess
    import sys

    code = "from edge_fer.cli.consoles import make_console\nfor _ in range(20000): make_console().print('x' * 99)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100) == b"x" * 99 + b"\n"
    proc.stdout.close()  # the reader goes away long before the 2 MB are written
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and b"Error" not in err
