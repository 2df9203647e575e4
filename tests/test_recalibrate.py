"""BatchNorm recalibration: statistics re-estimated on clean faces, weights untouched, runs record it."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from edge_fer.training.recalibrate import recalibrate_batchnorm
from edge_fer.training.train import TrainConfig, resume, train


def _bn_model() -> keras.Model:
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.BatchNormalization(momentum=0.99, name="bn")(x)
    x = keras.layers.Dropout(0.5, name="drop")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))


def test_statistics_become_the_clean_batch_averages_and_nothing_else_changes():
    model = _bn_model()
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.full(4, 9.0, "float32"))
    bn.moving_variance.assign(np.full(4, 9.0, "float32"))
    kernels = [w.copy() for w in model.get_layer("conv").get_weights()]
    faces = np.random.default_rng(1).integers(0, 256, (512, 48, 48), dtype=np.uint8)

    assert recalibrate_batchnorm(model, faces, seed=3) == 1

    order = np.random.default_rng(3).permutation(512)
    conv = keras.Model(model.input, model.get_layer("conv").output)
    outs = [conv.predict(faces[order[i : i + 256]][..., None].astype("float32"), verbose=0) for i in (0, 256)]
    expected_mean = np.mean([o.mean(axis=(0, 1, 2)) for o in outs], axis=0)
    expected_var = np.mean([o.var(axis=(0, 1, 2)) for o in outs], axis=0)
    assert np.asarray(bn.moving_mean) == pytest.approx(expected_mean, rel=1e-3, abs=1e-4)
    assert np.asarray(bn.moving_variance) == pytest.approx(expected_var, rel=1e-2, abs=1e-4)
    assert bn.momentum == 0.99 and model.get_layer("drop").rate == 0.5
    for before, after in zip(kernels, model.get_layer("conv").get_weights()):
        assert np.array_equal(before, after)


def test_a_model_without_batchnorm_is_left_alone():
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7)])
    weights = model.get_weights()
    assert recalibrate_batchnorm(model, np.zeros((8, 48, 48), np.uint8)) == 0
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def _cfg(data, out, **kw) -> TrainConfig:
    narrow = {"widths": [8, 16, 16, 16], "depths": [1, 1, 1, 1], "bn_momentum": 0.5}
    return TrainConfig(
        data=str(data), out=str(out), arch="edgefer-xs", arch_kwargs=narrow, epochs=1, batch_size=32, **kw
    )


def test_training_recalibrates_the_best_model_and_resume_catches_up(tiny_fer, tmp_path):
    run = tmp_path / "run"
    result = train(_cfg(tiny_fer, run), verbose=0)
    best = result.best
    assert best["bn_recalibrated"] is True
    assert 0.0 <= best["val_accuracy_before_recalibration"] <= 1.0 and 0.0 <= best["val_accuracy_recalibrated"] <= 1.0
    sidecar = json.loads((run / "best.json").read_text())["extra"]
    assert sidecar["bn_recalibrated"] and sidecar["val_accuracy"] == best["val_accuracy_recalibrated"]

    # A run that ended before recalibration: --resume does just that step, once.
    state = json.loads((run / "state.json").read_text())
    for key in ("bn_recalibrated", "val_accuracy_before_recalibration", "val_accuracy_recalibrated"):
        state["best"].pop(key)
    (run / "state.json").write_text(json.dumps(state))
    again = resume(run, verbose=0)
    assert again.epochs_done == 1 and again.best["bn_recalibrated"] is True
    with pytest.raises(Exception, match="already trained 1 of 1"):
        resume(run, verbose=0)


def test_no_recalibrate_bn_keeps_the_trained_statistics(tiny_fer, tmp_path):
    result = train(_cfg(tiny_fer, tmp_path / "run", recalibrate_bn=False), verbose=0)
    assert "bn_recalibrated" not in result.best
