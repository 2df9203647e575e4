"""An artifact that failed its parity gate at export is never taken for a good one, even named explicitly."""

from __future__ import annotations

import logging
import shutil

from edge_fer.backends import load_classifier
from edge_fer.metadata import read_meta
from edge_fer.shipped import default_model_path


def test_loading_a_failed_artifact_warns(tmp_path, caplog) -> None:
    from edge_fer.export.embed import embed_meta

    failed = tmp_path / "best_int8.FAILED.tflite"
    shutil.copy(default_model_path(), failed)
    meta = read_meta(failed)
    meta.extra["parity"] = {"passed": False, "reasons": ["accuracy drop 3.1 points > 1.0"]}
    embed_meta(failed, meta)
    with caplog.at_level(logging.WARNING):
        load_classifier(failed, threads=1)
    assert "FAILED its parity check" in caplog.text and "accuracy drop 3.1 points" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_classifier(default_model_path(), threads=1)  # the shipped one passed: silent
    assert caplog.text == ""
