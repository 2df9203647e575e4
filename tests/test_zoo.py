"""The model zoo: the contract's parameter counts, and every model trains, saves, loads and predicts."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from edge_fer.training.zoo import create_model, list_models, model_macs

CONTRACT = {
    "seed000-baseline": 13_407_807,
    "seed000-deep": 4_232_255,
    "seed004-cnn": 3_484_935,
    "seed004-dnn": 3_151_367,
    "seed003-mlp": 295_943,
    "seed001-cnn": 2_443_239,
}


@pytest.mark.parametrize(("name", "params"), CONTRACT.items())
def test_parameter_counts_match_the_contract(name, params):
    assert create_model(name).count_params() == params


def test_registry_lists_and_filters():
    names = list_models()
    assert set(CONTRACT) <= set(names)
    assert {"edgefer-s", "edgefer-xs", "seed001-vgg16", "seed002-grid"} <= set(names)
    assert [n for n in names if n.startswith("seed002-c")] == [f"seed002-c{i}" for i in range(1, 7)]
    assert list_models("seed00[34]*") == ["seed003-mlp", "seed004-cnn", "seed004-dnn"]
    with pytest.raises(KeyError, match="choose one of"):
        create_model("resnet-9000")


def test_macs_are_counted_from_layer_shapes():
    # seed003-mlp: 2304*128 + 128*7 multiply-accumulates.
    assert model_macs(create_model("seed003-mlp")) == 2304 * 128 + 128 * 7
    # seed004-dnn: the dense stack only.
    assert model_macs(create_model("seed004-dnn")) == 2304 * 1024 + 1024 * 512 + 512 * 512 + 512 * 7


def test_seed002_grid_rejects_configs_outside_the_family():
    with pytest.raises(ValueError, match="filters 32"):
        create_model("seed002-grid", filters=48)


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_one_step_saves_loads_and_predicts_the_same(name, tmp_path):
    model = create_model(name)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 7, 4), 7)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    p1, p2 = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    assert p1.shape == (4, 7)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)


def test_models_cli_table_and_json(cli):
    code, out, _ = cli("models", "seed00[34]*", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["seed003-mlp", "seed004-cnn", "seed004-dnn"]
    assert rows[0]["params"] == 295_943 and rows[0]["macs"] == 2304 * 128 + 128 * 7
    code, out, _ = cli("models", "edgefer-*")
    assert code == 0 and "edgefer-s" in out and "MACs" in out
