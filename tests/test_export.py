"""The export stage: every format round-trips a trained model, int8 dtypes, metadata, parity, atomicity, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edge_fer.backends import load_classifier
from edge_fer.errors import DataError, EdgeFerError, ModelError, OutputExistsError
from edge_fer.export import FORMATS, ParityError, export_model, get_format, parse_formats
from edge_fer.export.calibration import load_calibration, stratified_sample
from edge_fer.export.embed import embed_bytes
from edge_fer.export.parity import ParityRow, apply_gate
from edge_fer.labels import LABELS
from edge_fer.metadata import read_embedded_meta, read_meta, read_sidecar
from edge_fer.training.data import load_split

#: Largest |probability difference| to the Keras model each format may show on the synthetic faces.
PROB_TOLERANCE = {
    "tflite-fp32": 1e-5,
    "onnx": 1e-5,
    "tflite-fp16": 5e-3,
    "tflite-dynamic": 5e-2,
    "tflite-int8": 6e-2,
    "onnx-int8": 6e-2,
}


@pytest.fixture(scope="module")
def exported(trained_keras, tiny_fer, tmp_path_factory):
    """Every format of the trained model, exported once for the module's tests."""
    out = tmp_path_factory.mktemp("export_all")
    return export_model(trained_keras, "all", data=tiny_fer, out_dir=out, latency_runs=3)


@pytest.fixture(scope="module")
def val_faces(tiny_fer):
    return load_split(tiny_fer / "val", "val")


@pytest.fixture(scope="module")
def keras_probs(trained_keras, val_faces):
    clf = load_classifier(trained_keras, backend="keras")
    return clf.predict(val_faces.x[..., None])


# ---------------------------------------------------------------- the format table


def test_format_table_names_are_unique_and_sidecars_never_collide():
    stems = [f.filename("best").rsplit(".", 1)[0] for f in FORMATS]
    assert len(set(stems)) == len(FORMATS)
    assert "best" not in stems  # best.json is the Keras model's own sidecar
    assert parse_formats("all") == list(FORMATS)
    assert [f.name for f in parse_formats(None, int8=True)] == ["tflite-int8"]
    assert [f.name for f in parse_formats("onnx", int8=True)] == ["tflite-int8", "onnx"]
    assert "tflite-int8" not in [f.name for f in parse_formats(None)]
    assert "tflite-int8" in [f.name for f in parse_formats(None, have_data=True)]
    with pytest.raises(EdgeFerError, match="unknown export format 'tflite-int4'"):
        parse_formats("tflite-int4")


def test_calibration_is_stratified_seeded_and_real(tiny_fer):
    y = np.array([0] * 900 + [1] * 90 + [2] * 10)
    idx = stratified_sample(y, 100, seed=0)
    assert len(idx) == 100
    assert np.bincount(y[idx]).tolist() == [90, 9, 1]
    assert np.array_equal(idx, stratified_sample(y, 100, seed=0))
    assert not np.array_equal(idx, stratified_sample(y, 100, seed=1))
    calib = load_calibration(tiny_fer, size=70, seed=3)
    assert calib.faces.shape == (70, 48, 48, 1) and calib.faces.dtype == np.uint8
    train = load_split(tiny_fer / "train")
    # Every calibration face is a real training face, ten of each label.
    rows = {f.tobytes(): int(lab) for f, lab in zip(train.x, train.y)}
    labels = [rows[f[..., 0].tobytes()] for f in calib.faces]
    assert np.bincount(labels).tolist() == [10] * len(LABELS)


# ---------------------------------------------------------------- round trips and dtypes


def test_every_format_round_trips_against_keras(exported, val_faces, keras_probs):
    assert [a.format.name for a in exported.artifacts] == [f.name for f in FORMATS]
    for art in exported.artifacts:
        clf = load_classifier(art.path)
        assert clf.backend == art.format.backend
        probs = clf.predict(val_faces.x[..., None])
        assert probs.shape == keras_probs.shape
        diff = float(np.abs(probs - keras_probs).max())
        assert diff <= PROB_TOLERANCE[art.format.name], (art.format.name, diff)
        agreement = float(np.mean(probs.argmax(1) == keras_probs.argmax(1)))
        assert agreement >= 0.97, (art.format.name, agreement)
        # A dynamic batch: one face gives the same answer as inside a batch.
        assert np.allclose(clf.predict(val_faces.x[3:4, ..., None]), probs[3:4], atol=1e-5)


def test_quantized_files_are_smaller(exported):
    size = {a.format.name: a.path.stat().st_size for a in exported.artifacts}
    assert size["tflite-fp16"] < 0.7 * size["tflite-fp32"]
    assert size["tflite-int8"] < 0.5 * size["tflite-fp32"]
    assert size["onnx-int8"] < 0.7 * size["onnx"]


def test_int8_tflite_is_full_integer_with_int8_io(exported):
    art = next(a for a in exported.artifacts if a.format.name == "tflite-int8")
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(art.path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    scale, zero = inp["quantization"]
    # Raw pixels 0..255 in, so the input quantisation is exact: q = pixel - 128.
    assert scale == pytest.approx(1.0, abs=1e-6) and zero == -128
    assert list(inp["shape_signature"]) == [-1, 48, 48, 1]
    assert art.facts["float_tensors"] == 0
    assert "DEQUANTIZE" not in art.facts["ops"] and "QUANTIZE" not in art.facts["ops"]


def test_int8_onnx_is_qdq(exported):
    art = next(a for a in exported.artifacts if a.format.name == "onnx-int8")
    assert art.facts["quantize_nodes"] > 0
    assert {"QuantizeLinear", "DequantizeLinear"} <= set(art.facts["ops"])
    assert art.facts["opset"] == 17
    assert art.facts["input_dtype"] == "float32"


@pytest.mark.parametrize(("flag", "dtype"), [("--uint8", np.uint8), ("--float-io", np.float32)])
def test_int8_io_variants_through_cli(cli, trained_keras, tiny_fer, tmp_path, flag, dtype):
    code, out, err = cli("export", trained_keras, "--int8", flag, "--data", tiny_fer, "--out", tmp_path)
    assert code == 0, err
    path = tmp_path / "best_int8.tflite"
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    assert interp.get_input_details()[0]["dtype"] == dtype
    assert interp.get_output_details()[0]["dtype"] == dtype
    meta = read_meta(path)
    assert meta.extra["input_dtype"] == np.dtype(dtype).name
    assert meta.extra["float_tensors"] == (0 if dtype == np.uint8 else 2)  # float I/O: only the two ends
    # The runtime still reads it right.
    probs = load_classifier(path).predict(load_split(tiny_fer / "val").x[:8, ..., None])
    assert np.allclose(probs.sum(1), 1.0, atol=0.02)
    assert "tflite-int8" in out and "ok" in out


# ---------------------------------------------------------------- metadata


def test_metadata_travels_with_every_artifact(exported, trained_keras):
    sha = hashlib.sha256(trained_keras.read_bytes()).hexdigest()
    source = read_meta(trained_keras)
    for art in exported.artifacts:
        assert art.meta_path == art.path.with_suffix(".json") and art.meta_path.is_file()
        meta = read_meta(art.path)
        assert meta.to_dict() == read_embedded_meta(art.path).to_dict() == read_sidecar(art.path).to_dict()
        assert meta.format == art.format.name
        assert meta.labels == list(LABELS) and meta.input_shape == [48, 48, 1]
        assert meta.preprocessing == source.preprocessing
        assert meta.arch == "edgefer-xs"
        assert meta.extra["quantization"] == art.format.quantization
        assert meta.extra["source_sha256"] == sha
        assert meta.extra["source_extra"]["params"] == source.extra["params"]
        assert ("calibration" in meta.extra) == art.format.calibrated
        assert load_classifier(art.path).meta == meta
    int8 = read_meta(exported.out_dir / "best_int8.tflite")
    assert int8.extra["input_quantization"] == {"scale": 1.0, "zero_point": -128}
    assert int8.extra["calibration"]["faces"] == 7 * 24  # the whole tiny train split: fewer than 300
    assert read_meta(exported.out_dir / "best_onnx.onnx").extra["opset"] == 17


def test_runtime_refuses_an_artifact_whose_metadata_it_does_not_understand(exported, tmp_path):
    art = exported.artifacts[0]
    copy = tmp_path / art.path.name
    copy.write_bytes(embed_bytes(art.path.read_bytes(), art.path.suffix, None))  # sidecar-only, as before 0.1
    meta = json.loads(art.meta_path.read_text())
    meta["preprocessing"]["color"] = "rgb"
    (tmp_path / art.meta_path.name).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="preprocessing color='rgb'"):
        load_classifier(copy)


# ---------------------------------------------------------------- parity


def test_parity_json_has_every_field_and_matches_evaluate(exported, tiny_fer, tmp_path):
    report = json.loads(exported.parity_path.read_text())
    assert exported.parity_path.name == "parity.json"
    assert report["passed"] is True and report["n"] == 7 * 8
    assert report["reference"]["format"] == "keras"
    assert [r["format"] for r in report["artifacts"]] == [f.name for f in FORMATS]
    for row in report["artifacts"]:
        for key in ("size_bytes", "accuracy", "agreement", "max_prob_diff", "latency_p50_ms", "passed", "path"):
            assert row[key] is not None, key
        assert row["size_bytes"] == Path(row["path"]).stat().st_size
        assert 0 < row["latency_p50_ms"] < 1000
        assert "1 thread" in row["runtime"]
        assert row["agreement"] >= 0.97 and row["passed"] is True
    from edge_fer.training.evaluate import evaluate_model

    int8 = next(r for r in report["artifacts"] if r["format"] == "tflite-int8")
    evaluated = evaluate_model(int8["path"], tiny_fer / "val", out_dir=tmp_path)
    assert evaluated["accuracy"] == int8["accuracy"]


def test_gate_uses_the_issue_thresholds_for_int8():
    fmt = get_format("tflite-int8")

    def gate(drop: float, agreement: float) -> ParityRow:
        row = ParityRow("tflite-int8", "x", 1, "r", 0.1, accuracy_drop_pts=drop, agreement=agreement)
        apply_gate(row, fmt)
        return row

    assert gate(1.0, 0.97).passed is True
    assert gate(-2.0, 0.99).passed is True  # gaining accuracy is fine
    failed = gate(1.01, 0.969)
    assert failed.passed is False and len(failed.reasons) == 2
    assert "loses 1.01 accuracy points" in failed.reasons[0]
    assert "96.9%" in failed.reasons[1]
    assert get_format("onnx-int8").max_accuracy_drop == 1.0 and get_format("onnx-int8").min_agreement == 0.97


def test_export_fails_with_exit_2_when_an_int8_artifact_strays(cli, trained_keras, tiny_fer, tmp_path, monkeypatch):
    """A quantized model that predicts a different class for every face fails the export, saying why,
    and leaves it for inspection under a .FAILED name, with parity.json."""
    import edge_fer.export.parity as parity

    real = parity.predict_probs

    def broken(classifier, x, *args, **kwargs):
        probs = real(classifier, x, *args, **kwargs)
        return np.roll(probs, 1, axis=1) if classifier.backend == "tflite" else probs

    monkeypatch.setattr(parity, "predict_probs", broken)
    code, out, err = cli("export", trained_keras, "--int8", "--data", tiny_fer, "--out", tmp_path)
    assert code == 2
    last = err.strip().splitlines()[-1]  # after the progress lines
    assert last.startswith("edge-fer: error: parity check failed: tflite-int8 loses")
    assert "agrees with Keras on 0.0% of faces" in last and "Traceback" not in err
    assert "FAIL" in out
    assert "kept for inspection as best_int8.FAILED.tflite" in last
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["passed"] is False and report["artifacts"][0]["passed"] is False
    assert report["artifacts"][0]["path"] == str(tmp_path / "best_int8.FAILED.tflite")
    # The failed artifact never passes for a good one: not under its normal name, its sidecar says why.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best_int8.FAILED.json",
        "best_int8.FAILED.tflite",
        "parity.json",
    ]
    from edge_fer.metadata import read_embedded_meta, read_sidecar

    for meta in (
        read_sidecar(tmp_path / "best_int8.FAILED.tflite"),
        read_embedded_meta(tmp_path / "best_int8.FAILED.tflite"),
    ):
        parity_meta = meta.extra["parity"]
        assert (
            parity_meta["passed"] is False and parity_meta["agreement"] == 0.0 and "loses" in parity_meta["reasons"][0]
        )
    code, _, err = cli("evaluate", tmp_path / "best_int8.tflite", "--data", tiny_fer / "val")
    assert code == 2 and "best_int8.tflite" in err
    with pytest.raises(ParityError):
        export_model(trained_keras, "tflite-int8", data=tiny_fer, out_dir=tmp_path, force=True, latency_runs=1)
    monkeypatch.setattr(parity, "predict_probs", real)  # a good export replaces the failed pair
    export_model(trained_keras, "tflite-int8", data=tiny_fer, out_dir=tmp_path, latency_runs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_int8.json", "best_int8.tflite", "parity.json"]
    assert read_embedded_meta(tmp_path / "best_int8.tflite").extra["parity"]["passed"] is True


def test_export_without_data_writes_floats_and_says_parity_is_unchecked(cli, trained_keras, tmp_path):
    code, out, err = cli("export", trained_keras, "--formats", "tflite-fp32", "--out", tmp_path, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [a["format"] for a in result["artifacts"]] == ["tflite-fp32"]
    assert result["parity"]["passed"] is None and result["parity"]["artifacts"][0]["accuracy"] is None
    assert "no validation faces" in result["notes"][0]


def test_name_sets_the_artifact_stem_without_copying_the_model(cli, trained_keras, tmp_path):
    args = ("-f", "tflite-fp32", "--name", "edgefer-s", "--out", tmp_path, "--json")
    code, out, err = cli("export", trained_keras, *args)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edgefer-s_fp32.json", "edgefer-s_fp32.tflite", "parity.json"]
    assert json.loads(out)["artifacts"][0]["path"].endswith("edgefer-s_fp32.tflite")
    meta = json.loads((tmp_path / "edgefer-s_fp32.json").read_text())
    assert meta["extra"]["source_model"] == str(trained_keras)  # still names the model it came from


@pytest.mark.parametrize("bad", ["", "sub/edgefer-s", "..", "a\\b"])
def test_name_with_a_folder_in_it_is_refused(cli, trained_keras, tmp_path, bad):
    err = _one_line_error(*cli("export", trained_keras, "-f", "tflite-fp32", "--name", bad, "--out", tmp_path)[::2])
    assert "--name" in err and "bare file stem" in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- atomic writes and existing outputs


def test_failed_conversion_leaves_no_file(trained_keras, tiny_fer, tmp_path, monkeypatch):
    import tensorflow as tf

    def explode(self):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", explode)
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="tflite-fp32: TFLite conversion failed \\(converter crashed\\)"):
        export_model(trained_keras, "tflite-fp32", data=tiny_fer, out_dir=out, latency_runs=1)
    assert not out.exists() or list(out.iterdir()) == []


def test_interrupted_write_leaves_no_half_file(trained_keras, tmp_path, interrupt_mid_write):
    """An interrupt in the middle of writing the model: no model, no temp file, and no orphan sidecar."""
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        export_model(trained_keras, "onnx", out_dir=out, latency_runs=1)
    assert list(out.iterdir()) == []


def test_existing_outputs_are_refused_unless_force(cli, trained_keras, tmp_path):
    (tmp_path / "best_fp16.tflite").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--force"):
        export_model(trained_keras, "tflite-fp32,tflite-fp16", out_dir=tmp_path)
    assert not (tmp_path / "best_fp32.tflite").exists()  # refused before converting anything
    code, _, err = cli("export", trained_keras, "-f", "tflite-fp16", "--out", tmp_path, "--force")
    assert code == 0, err
    assert (tmp_path / "best_fp16.tflite").read_bytes()[4:8] == b"TFL3"


# ---------------------------------------------------------------- bad input: one line, exit 2


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("edge-fer: error: "), err
    assert "Traceback" not in err
    return err


def test_missing_model_path(cli, tmp_path):
    err = _one_line_error(*cli("export", tmp_path / "nope.keras", "--out", tmp_path)[::2])
    assert "no such file" in err


def test_text_file_named_keras(cli, tmp_path):
    fake = tmp_path / "notes.keras"
    fake.write_text("this is not a model\n")
    err = _one_line_error(*cli("export", fake, "--out", tmp_path / "out")[::2])
    assert "not a readable Keras model" in err
    assert not (tmp_path / "out").exists()


def test_model_with_wrong_input_shape(cli, tmp_path):
    import keras

    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inputs)))
    path = tmp_path / "big.keras"
    model.save(path)
    err = _one_line_error(*cli("export", path, "--out", tmp_path / "out")[::2])
    assert "input is 64x64x3, not 48x48x1" in err


def test_non_keras_source_and_int8_without_data(cli, exported, trained_keras, tmp_path):
    tflite = exported.out_dir / "best_fp32.tflite"
    err = _one_line_error(*cli("export", tflite, "--out", tmp_path)[::2])
    assert "export takes a trained Keras model" in err
    err = _one_line_error(*cli("export", trained_keras, "--int8", "--out", tmp_path)[::2])
    assert "tflite-int8 need real training faces" in err and "--data" in err
    with pytest.raises(DataError):
        export_model(trained_keras, "onnx-int8", out_dir=tmp_path)
    err = _one_line_error(*cli("export", trained_keras, "-f", "onnx", "--uint8", "--out", tmp_path)[::2])
    assert "--int8" in err
    assert list(tmp_path.iterdir()) == []
