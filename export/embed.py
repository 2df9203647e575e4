"""Put a model's metadata (the :class:`edge_fer.metadata.ModelMeta` JSON) inside the model file itself.

- .tflite: a ``Model.metadata`` entry named :data:`edge_fer.metadata.EMBEDDED_KEY` pointing at a buffer with
  the JSON, the way TFLite's own converter stores ``min_runtime_version``. The FlatBuffer is rebuilt with the
  schema's object API (LiteRT's generated schema, else TensorFlow's); every other buffer is copied verbatim.
- .onnx: a ``metadata_props`` entry with the same key, through the ``onnx`` package; the graph is untouched.

Both refuse to write unless the rewritten model's weights and graph are byte-identical to the original's
(:func:`embed_bytes` rebuilds the model without the entry and compares), so re-embedding metadata into a
shipped model can never change what it computes. The runtime reads the entry back with
:mod:`edge_fer.embedded`, without TensorFlow or ``onnx``.

>>> from edge_fer.export.embed import embed_sidecar
>>> embed_sidecar("assets/edgefer-s_int8.tflite")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.atomic import write_bytes
from edge_fer.embedded import tflite_buffers, tflite_metadata_index
from edge_fer.errors import ModelError
from edge_fer.metadata import EMBEDDED_KEY, ModelMeta, meta_json, read_sidecar, sidecar_path

#: Alignment of every buffer's data in a rebuilt .tflite (TFLite's own writer forces 16 for buffers).
BUFFER_ALIGNMENT = 16
SUFFIXES = (".tflite", ".onnx")


def _schema() -> Any:
    """The TFLite FlatBuffer schema's generated Python: LiteRT's (a runtime dependency), else TensorFlow's."""
    for module in ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated"):
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    raise ModelError("writing TFLite metadata needs ai-edge-litert or TensorFlow; pip install ai-edge-litert")


def _pack_tflite(schema: Any, model: Any) -> bytes:
    """Serialize a ``ModelT`` with each buffer's data aligned to :data:`BUFFER_ALIGNMENT` bytes."""
    import flatbuffers

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder: Any) -> int:
            data = None
            if self.data is not None:
                payload = np.asarray(self.data, np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head -= len(payload)
                builder.Bytes[builder.head : builder.head + len(payload)] = payload
                builder.vectorNumElems = len(payload)
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    for buffer in model.buffers or []:
        buffer.__class__ = AlignedBuffer
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tflite_with(schema: Any, data: bytes, payload: bytes | None) -> bytes:
    """``data`` rebuilt with the entry set to ``payload`` (removed when None). Removing drops the entry's
    buffer when it is the last one (the one embedding appended), else empties it, so no other index moves."""
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # the generated reader raises whatever a bad offset causes
        raise ModelError(f"not a readable TFLite model ({type(exc).__name__}: {exc})") from None
    model.metadata = list(model.metadata or [])
    model.buffers = list(model.buffers or [])
    mine = [m for m in model.metadata if _name(m) == EMBEDDED_KEY]
    for entry in mine:
        model.buffers[entry.buffer].data = None
    if payload is None and mine and mine[0].buffer == len(model.buffers) - 1:
        model.buffers.pop()  # the buffer edge-fer appended: the model is as it was before
    model.metadata = [m for m in model.metadata if _name(m) != EMBEDDED_KEY]
    if payload is not None:
        if mine:  # reuse the entry's buffer: re-embedding does not grow the model
            index = mine[0].buffer
        else:
            model.buffers.append(schema.BufferT())
            index = len(model.buffers) - 1
        model.buffers[index].data = np.frombuffer(payload, np.uint8)
        model.metadata.append(schema.MetadataT(name=EMBEDDED_KEY, buffer=index))
    if not model.metadata:
        model.metadata = None
    return _pack_tflite(schema, model)


def _name(entry: Any) -> str:
    name = entry.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def _embed_tflite(data: bytes, payload: bytes | None) -> bytes:
    schema = _schema()
    rebuilt = _tflite_with(schema, data, payload)
    # The proof, twice: every buffer but the entry's own holds the same bytes (read independently of the
    # schema), and without the entry the rebuilt model and the original rebuild to the same bytes.
    before, after = _weights(data), _weights(rebuilt)
    n = max(len(before), len(after))  # the entry's buffer, appended or dropped, is blank on both sides
    if before + [b""] * (n - len(before)) != after + [b""] * (n - len(after)):
        raise ModelError("rewriting the TFLite model changed its weights; nothing written")
    if _tflite_with(schema, rebuilt, None) != _tflite_with(schema, data, None):
        raise ModelError("rewriting the TFLite model changed more than its metadata; nothing written")
    return rebuilt


def _weights(data: bytes) -> list[bytes]:
    """Every buffer's bytes, with edge-fer's metadata buffer blanked (it is the one allowed to differ)."""
    try:
        buffers = tflite_buffers(data)
        index = _entry_buffer(data)
    except ValueError as exc:
        raise ModelError(f"not a readable TFLite model ({exc})") from None
    if index is not None:
        buffers[index] = b""
    return buffers


def _entry_buffer(data: bytes) -> int | None:
    """Index of the buffer edge-fer's entry names, if any."""
    return tflite_metadata_index(data).get(EMBEDDED_KEY)


def _embed_onnx(data: bytes, payload: bytes | None) -> bytes:
    try:
        import onnx
    except ImportError:
        raise ModelError("writing ONNX metadata needs the onnx package; pip install 'edge-fer[train]'") from None
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and onnx's own
        raise ModelError(f"not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    graph = model.graph.SerializeToString()
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != EMBEDDED_KEY]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    if payload is not None:
        model.metadata_props.add(key=EMBEDDED_KEY, value=payload.decode("utf-8"))
    if model.graph.SerializeToString() != graph:
        raise ModelError("rewriting the ONNX model changed its graph; nothing written")
    return model.SerializeToString()


_EMBEDDERS = {".tflite": _embed_tflite, ".onnx": _embed_onnx}


def embed_bytes(data: bytes, suffix: str, meta: ModelMeta | None) -> bytes:
    """A model's bytes (format by ``suffix``: .tflite or .onnx) with ``meta`` inside, or with edge-fer's
    entry removed when ``meta`` is None (what an old, sidecar-only model looks like). Weights and graph are
    unchanged, checked; ModelError otherwise."""
    embedder = _EMBEDDERS.get(suffix.lower())
    if embedder is None:
        raise ModelError(f"metadata can be embedded in {' and '.join(SUFFIXES)} models, not {suffix or 'this file'}")
    return embedder(data, None if meta is None else meta_json(meta).encode("utf-8"))


def embed_meta(model_path: str | os.PathLike[str], meta: ModelMeta | None) -> Path:
    """Rewrite the model at ``model_path`` (atomically) with ``meta`` inside; see :func:`embed_bytes`."""
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model {path}: no such file")
    try:
        blob = embed_bytes(path.read_bytes(), path.suffix, meta)
    except ModelError as exc:
        raise ModelError(f"model {path}: {exc}") from None
    return write_bytes(path, blob)


def embed_sidecar(model_path: str | os.PathLike[str]) -> ModelMeta:
    """Copy the sidecar JSON of an existing artifact into it (for models exported before metadata was
    embedded, or a sidecar edited by hand); the sidecar stays, for older edge-fer versions. Returns the meta."""
    path = Path(model_path)
    meta = read_sidecar(path)
    if meta is None:
        raise ModelError(f"model {path}: no sidecar {sidecar_path(path).name} to embed; export the model again")
    embed_meta(path, meta)
    return meta
