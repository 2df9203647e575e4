"""evaluate's list of the most confused class pairs."""

from __future__ import annotations

import numpy as np


def test_most_confused_ranks_off_diagonal_rates_of_the_true_class():
    from edge_fer.training.evaluate import most_confused

    labels = ["fear", "sad", "happy"]
    m = np.array(
        [
            [10, 10, 0],  # fear -> sad: half of the fear faces (the report's finding)
            [6, 30, 4],  # sad -> fear 15%, sad -> happy 10%
            [0, 1, 99],  # happy -> sad 1%
        ]
    )
    pairs = most_confused(m, labels)
    assert [(p["true"], p["predicted"]) for p in pairs] == [
        ("fear", "sad"),
        ("sad", "fear"),
        ("sad", "happy"),
        ("happy", "sad"),
    ]
    assert pairs[0]["rate"] == 0.5 and pairs[0]["count"] == 10
    assert np.isclose(pairs[1]["rate"], 0.15)
    assert len(most_confused(m, labels, top=2)) == 2
    assert most_confused(np.diag([3, 4, 5]), labels) == []
