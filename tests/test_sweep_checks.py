"""`sweep` checks its whole grid before it trains anything: a bad run is one line naming it, exit 2, no files."""

from __future__ import annotations

import json

import pytest

from edge_fer.errors import DataError
from edge_fer.training.sweep import check_grid


def test_a_bad_late_run_stops_the_sweep_before_the_first_trains(cli, tiny_fer, tmp_path):
    grid = [{"arch": "seed003-mlp"}, {"arch": "seed002-grid", "name": "grid16", "arch_kwargs": {"filters": 16}}]
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    out = tmp_path / "sw"
    code, stdout, err = cli(
        "sweep", "--data", tiny_fer, "--grid", tmp_path / "grid.json", "--out", out, "--epochs", "1"
    )
    assert code == 2 and stdout == ""
    assert err.splitlines() == [
        f'edge-fer: error: {tmp_path / "grid.json"}: run 1 (grid16): seed002-grid with arch_kwargs {{"filters": 16}}: '
        "seed002-grid: filters 32|64, conv_layers 2-4, kernel 3|4, dense 512-1024"
    ]
    assert not out.exists()  # nothing trained, no empty run folder


@pytest.mark.parametrize(
    ("run", "problem"),
    [
        ({"arch": "seed002-grid", "arch_kwargs": {"filter": 32}}, "seed002-grid takes no arch_kwargs ['filter']; it "
         "takes: filters, conv_layers, kernel, dense, l2, dropout, seed"),
        ({"arch": "seed002-grid", "arch_kwargs": {"kernel": 5}}, "kernel 3|4"),
        ({"arch": "seed003-mlp", "arch_kwargs": {"num_classes": 3}}, "takes no arch_kwargs ['num_classes']"),
        ({"arch": "edgefer-xs", "arch_kwargs": {"widths": ["wide"]}}, 'arch_kwargs {"widths": ["wide"]}'),
        ({"arch": "seed003-mlp", "arch_kwargs": 3}, "arch_kwargs 3 is not an object"),
        ({"arch": "seed003-mlp", "lr": -0.1}, "lr -0.1 is not a number above 0"),
        ({"arch": "seed003-mlp", "epochs": 0}, "epochs 0 is out of range (at least 1)"),
        ({"arch": "seed003-mlp", "batch_size": 12.5}, "batch_size 12.5 is not an integer"),
        ({"arch": "seed003-mlp", "optimizer": "adamw"}, "optimizer 'adamw': choose one of adam, nadam, sgd"),
        ({"arch": "seed003-mlp", "label_smoothing": 0.9}, "label_smoothing 0.9 is out of range (0 to 0.5)"),
        ({"arch": "seed003-mlp", "deterministic": "yes"}, "deterministic 'yes' is not true or false"),
        ({"arch": "seed003-mlp", "augment": {"rotation_deg": "big"}}, "augment rotation_deg: strengths are numbers"),
        ({"arch": "seed003-mlp", "augment": {"spin": 1}}, "augment {'spin': 1}: an object with some of"),
        ({"arch": "seed003-mlp", "val": "elsewhere"}, "unknown keys ['val']"),
        ({"arch": "no-such-net"}, "unknown or missing arch 'no-such-net'"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_run_is_named_with_its_problem(run, problem):
    good = {"arch": "seed003-mlp", "name": "fine"}
    with pytest.raises(DataError) as caught:
        check_grid([good, run], "grid.json", epochs=2)
    message = str(caught.value)
    assert message.startswith("grid.json: run 1") and problem in message and "\n" not in message


def test_a_good_grid_passes_and_defaults_are_checked_too():
    grid = [{"arch": "seed002-grid", "arch_kwargs": {"filters": 64, "kernel": 4}}, {"arch": "seed003-mlp", "lr": 3e-4}]
    check_grid(grid, "grid.json", epochs=2, defaults={"augment": {"flip": False, "zoom": 0.1}})
    with pytest.raises(DataError, match=r"run 0 \(seed002-grid\): patience 0"):
        check_grid(grid, "grid.json", defaults={"patience": 0})
