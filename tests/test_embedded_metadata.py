"""Self-describing artifacts: the metadata JSON lives inside the .tflite and the .onnx; the sidecar is optional.

A model file copied alone must read exactly like the shipped one (same metadata, same predictions, nothing on
stderr); an old sidecar-only model must still load; embedding must never touch the weights.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_fer.backends import load_classifier
from edge_fer.embedded import onnx_metadata, read_embedded, tflite_buffers, tflite_metadata
from edge_fer.errors import ModelError
from edge_fer.export.embed import embed_bytes, embed_meta, embed_sidecar
from edge_fer.metadata import EMBEDDED_KEY, ModelMeta, read_embedded_meta, read_meta, read_sidecar, sidecar_path
from edge_fer.shipped import assets_dir
from edge_fer.tta import with_tta

SHIPPED = ("edgefer-s_int8.tflite", "edgefer-s_onnx.onnx")


def _faces(n: int = 64, seed: int = 0) -> np.ndarray:
    """Varied 48x48 gray inputs: noise over gradients, so every output unit and quantization step moves."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 48, dtype=np.float32)
    base = (ramp[None, :, None] * rng.uniform(0, 1, (n, 1, 1))) + (ramp[None, None, :] * rng.uniform(0, 1, (n, 1, 1)))
    return np.clip(base / 2 + rng.normal(0, 40, (n, 48, 48)), 0, 255).astype(np.uint8)[..., None]


def _bits(probs: np.ndarray) -> np.ndarray:
    return np.asarray(probs, np.float32).view(np.uint32)


@pytest.fixture(params=SHIPPED)
def shipped(request) -> Path:
    return assets_dir() / request.param


def _alone(model: Path, folder: Path, blob: bytes | None = None) -> Path:
    """``model`` copied (or ``blob`` written) into ``folder`` with no sidecar beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / model.name
    copy.write_bytes(model.read_bytes() if blob is None else blob)
    assert not sidecar_path(copy).exists()
    return copy


# ---------------------------------------------------------------- the shipped artifacts


def test_shipped_models_carry_the_same_metadata_inside_as_beside(shipped):
    inside, beside = read_embedded_meta(shipped), read_sidecar(shipped)
    assert inside is not None and beside is not None
    assert inside.to_dict() == beside.to_dict()
    assert inside.extra["tta"]["mode"] == "views-below-confidence" and inside.arch == "edgefer-s"


def test_a_model_copied_alone_reads_and_predicts_exactly_like_the_shipped_one(shipped, tmp_path, caplog, capfd):
    copy = _alone(shipped, tmp_path)
    faces = _faces()
    with caplog.at_level(logging.DEBUG):
        ours, theirs = load_classifier(copy, threads=1), load_classifier(shipped, threads=1)
        assert ours.meta.to_dict() == theirs.meta.to_dict()
        a, b = with_tta(ours, "model"), with_tta(theirs, "model")
        assert a.below == b.below == theirs.meta.extra["tta"]["below_confidence"]
        np.testing.assert_array_equal(_bits(a.predict(faces)), _bits(b.predict(faces)))
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], caplog.text
    assert capfd.readouterr().err == ""


def test_the_cli_on_a_copied_model_prints_nothing_on_stderr(shipped, tmp_path):
    """A real process, so native output (LiteRT's delegate line, onnxruntime's logs) counts too."""
    import cv2

    rng = np.random.default_rng(3)
    image = tmp_path / "noise.png"
    cv2.imwrite(str(image), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    copy = _alone(shipped, tmp_path / "alone")
    runs = [
        subprocess.run(
            [sys.executable, "-m", "edge_fer", "predict", str(image), "--json", "--model", str(model)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for model in (copy, shipped)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.stderr == ""
    assert runs[0].stdout == runs[1].stdout and json.loads(runs[0].stdout)["faces"] == []


@pytest.mark.shared
def test_a_copied_model_finds_the_same_emotions_on_the_group_photo(shipped, media_dir, tmp_path):
    copy = _alone(shipped, tmp_path)
    photo = media_dir / "group-six-faces.jpg"
    runs = [
        subprocess.run(
            [sys.executable, "-m", "edge_fer", "predict", str(photo), "--json", "--model", str(model)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for model in (copy, shipped)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[0].stderr == runs[1].stderr == ""
    assert runs[0].stdout == runs[1].stdout and len(json.loads(runs[0].stdout)["faces"]) == 6


# ---------------------------------------------------------------- old models and precedence


def test_an_old_sidecar_only_model_still_loads_and_predicts_the_same(shipped, tmp_path):
    old = _alone(shipped, tmp_path, embed_bytes(shipped.read_bytes(), shipped.suffix, None))
    assert EMBEDDED_KEY not in read_embedded(old) and read_embedded_meta(old) is None
    shutil.copy(sidecar_path(shipped), sidecar_path(old))
    faces = _faces(seed=1)
    clf, ref = load_classifier(old, threads=1), load_classifier(shipped, threads=1)
    assert clf.meta.to_dict() == ref.meta.to_dict()
    np.testing.assert_array_equal(_bits(clf.predict(faces)), _bits(ref.predict(faces)))


def test_a_model_with_neither_still_loads_with_a_warning(shipped, tmp_path, caplog):
    bare = _alone(shipped, tmp_path, embed_bytes(shipped.read_bytes(), shipped.suffix, None))
    with caplog.at_level(logging.WARNING):
        clf = load_classifier(bare)
    assert clf.meta.extra == {} and "has no metadata (none inside it, no sidecar" in caplog.text


def test_embedded_metadata_wins_over_a_disagreeing_sidecar_which_is_logged_at_debug(shipped, tmp_path, caplog):
    copy = _alone(shipped, tmp_path)
    stale = read_sidecar(shipped).to_dict()
    stale["arch"], stale["extra"] = "something-else", {}
    sidecar_path(copy).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING):
        assert load_classifier(copy).meta.arch == "edgefer-s"
    assert caplog.text == ""
    with caplog.at_level(logging.DEBUG, logger="edge_fer.metadata"):
        read_meta(copy)
    assert "disagrees with the embedded metadata on arch, extra; using the embedded" in caplog.text


def test_embedded_metadata_is_checked_like_a_sidecar(tmp_path):
    shipped = assets_dir() / SHIPPED[0]
    meta = read_sidecar(shipped)
    meta.preprocessing = {**meta.preprocessing, "color": "rgb"}  # unchecked: ModelMeta(...) does not check
    bad = _alone(shipped, tmp_path, embed_bytes(shipped.read_bytes(), ".tflite", meta))
    with pytest.raises(ModelError, match=r"\(embedded metadata\): preprocessing color='rgb'"):
        load_classifier(bad)


# ---------------------------------------------------------------- embedding never touches the weights


def test_strip_and_re_embed_restore_the_shipped_file_byte_for_byte(shipped):
    data = shipped.read_bytes()
    stripped = embed_bytes(data, shipped.suffix, None)
    assert len(stripped) < len(data)
    assert embed_bytes(stripped, shipped.suffix, read_sidecar(shipped)) == data


def test_re_embedding_keeps_every_weight_buffer_and_does_not_grow():
    shipped = assets_dir() / SHIPPED[0]
    data = shipped.read_bytes()
    meta = read_sidecar(shipped)
    meta.extra = {**meta.extra, "note": "x" * 100}
    again = embed_bytes(data, ".tflite", meta)
    before, after = tflite_buffers(data), tflite_buffers(again)
    assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) == 1  # only the JSON's
    assert json.loads(tflite_metadata(again)[EMBEDDED_KEY])["extra"]["note"] == "x" * 100
    assert set(tflite_metadata(again)) == {"min_runtime_version", "CONVERSION_METADATA", EMBEDDED_KEY}


def test_embed_sidecar_and_the_cli_make_an_old_model_self_describing(tmp_path, cli):
    shipped = assets_dir() / SHIPPED[0]
    old = _alone(shipped, tmp_path, embed_bytes(shipped.read_bytes(), ".tflite", None))
    code, _, err = cli("export", old, "--embed-only")
    assert code == 2 and f"no sidecar {old.stem}.json to embed" in err
    shutil.copy(sidecar_path(shipped), sidecar_path(old))
    code, out, err = cli("export", old, "--embed-only")
    assert code == 0, err
    assert "metadata embedded (tflite-int8, 7 labels)" in out
    assert old.read_bytes() == shipped.read_bytes() and sidecar_path(old).is_file()
    assert embed_sidecar(old).to_dict() == read_sidecar(shipped).to_dict()
    code, _, err = cli("export", old, "--embed-only", "--int8")
    assert code == 2 and "--embed-only rewrites an existing artifact's metadata" in err


def test_embedding_refuses_other_files_with_one_clear_error(tmp_path):
    keras = tmp_path / "m.keras"
    keras.write_bytes(b"zip")
    with pytest.raises(ModelError, match=r"embedded in \.tflite and \.onnx models, not \.keras"):
        embed_meta(keras, ModelMeta())
    junk = tmp_path / "m.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a readable TFLite model"):
        embed_meta(junk, ModelMeta())


# ---------------------------------------------------------------- the readers


def test_the_tflite_reader_agrees_with_the_schema():
    from ai_edge_litert import schema_py_generated as schema

    data = (assets_dir() / SHIPPED[0]).read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    want = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        want[entry.Name().decode()] = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert tflite_metadata(data) == want and EMBEDDED_KEY in want
    sizes = [model.Buffers(i).DataLength() for i in range(model.BuffersLength())]
    assert [len(b) for b in tflite_buffers(data)] == sizes


def test_the_onnx_reader_agrees_with_onnxruntime_and_onnx():
    ort = pytest.importorskip("onnxruntime")
    path = assets_dir() / SHIPPED[1]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mine = {k: v.decode() for k, v in onnx_metadata(path.read_bytes()).items()}
    assert mine == session.get_modelmeta().custom_metadata_map
    onnx = pytest.importorskip("onnx")
    assert mine == {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize("suffix", [".tflite", ".onnx"])
def test_truncated_or_foreign_files_are_not_read_as_metadata(suffix, tmp_path, caplog):
    src = assets_dir() / next(name for name in SHIPPED if name.endswith(suffix))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(ValueError):
        read_embedded(cut)
    assert read_embedded_meta(cut) is None  # the backend that opens it says what is wrong
    with pytest.raises(ModelError, match=f"not a readable {'TFLite' if suffix == '.tflite' else 'ONNX'} model"):
        load_classifier(cut)


def test_the_card_and_the_parity_report_state_the_shipped_files_sizes():
    assets = Path(__file__).resolve().parent.parent / "assets"
    card = json.loads((assets / "edgefer-s.card.json").read_text())
    parity = json.loads((assets / "parity.json").read_text())
    sizes = {row["format"]: row["size_bytes"] for row in parity["artifacts"]}
    for fmt, name in (("tflite-int8", SHIPPED[0]), ("onnx", SHIPPED[1])):
        assert card["size_bytes"][fmt] == sizes[fmt] == (assets / name).stat().st_size


def test_unreadable_embedded_metadata_is_one_clear_error(tmp_path):
    from edge_fer.export import embed

    shipped = assets_dir() / SHIPPED[0]
    blob = embed._embed_tflite(shipped.read_bytes(), b"{not json")
    bad = _alone(shipped, tmp_path, blob)
    with pytest.raises(
        ModelError, match=r"\(embedded metadata\): unreadable model metadata .*; export the model again"
    ):
        load_classifier(bad)
