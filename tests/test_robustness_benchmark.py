"""benchmarks/robustness.py: the framing breakdown of the pipeline-vs-bare gap, and a short real run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchmark_modules import load_benchmark

robustness = load_benchmark("robustness")


def test_framing_bands_split_found_faces_by_crop_side_and_give_each_bands_gap():
    side = np.array([0.8, 0.85, 1.0, 1.05, 1.2, 1.4, np.nan])  # the last face was not found
    right = np.array([False, True, True, True, False, True, False])
    bare = np.array([True, True, True, False, True, True, True])
    bands = robustness.framing_bands(side, right, bare)
    assert [(b["side_from"], b["side_to"]) for b in bands] == [(0.0, 0.9), (0.9, 1.1), (1.1, 1.25), (1.25, None)]
    assert [b["faces"] for b in bands] == [2, 2, 1, 1]  # the missed face is in no band
    assert bands[0]["accuracy"] == 0.5 and bands[0]["bare"] == 1.0 and bands[0]["gap"] == -0.5
    assert bands[1]["gap"] == 0.5 and bands[2]["gap"] == -1.0 and bands[3]["gap"] == 0.0


def test_an_empty_band_reads_none_and_the_bands_are_strict_json():
    bands = robustness.framing_bands(np.array([1.0]), np.array([True]), np.array([True]))
    assert [b["faces"] for b in bands] == [0, 1, 0, 0]
    assert bands[0]["gap"] is None and bands[0]["accuracy"] is None and bands[1]["gap"] == 0.0
    json.dumps(bands, allow_nan=False)  # no NaN or Infinity, which strict JSON readers refuse


@pytest.mark.shared
def test_a_short_run_writes_the_report_chart_and_framing_bands(fer_dir, tmp_path):
    out = tmp_path / "rob"
    assert (
        robustness.main(
            ["--faces", str(fer_dir / "val"), "--limit", "24", "--conditions", "clean,roll 30", "--out", str(out)]
        )
        == 0
    )
    report = json.loads((out / "robustness.json").read_text(), parse_constant=pytest.fail)  # strict: no NaN
    assert [r["condition"] for r in report["conditions"]] == ["clean", "roll 30"]
    for row in report["conditions"]:
        found = round(row["found"] * row["faces"])
        assert found >= 20  # BlazeFace finds nearly every FER2013 face set into a frame
        assert sum(b["faces"] for b in row["framing_bands"]) == found
        assert 0.3 <= row["accuracy_on_found"] <= 1.0
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
