"""Read the named metadata a model file carries inside itself: a .tflite's ``Model.metadata`` entries and an
.onnx's ``metadata_props``, in pure Python.

Why hand-written readers: the runtime must read a model's labels and preprocessing on every TFLite runtime it
supports (LiteRT, ``tflite_runtime``, ``tf.lite``; none of them exposes a model's metadata) and before
onnxruntime opens a session, without TensorFlow or the ``onnx`` package. Both wire formats are stable and
only their top level is walked here:

- TFLite is a FlatBuffer (``tensorflow/lite/schema/schema.fbs``): root table ``Model`` with field 4
  ``buffers: [Buffer]`` and field 6 ``metadata: [Metadata]``; a ``Metadata`` is ``(name: string, buffer:
  uint)`` indexing ``buffers``; a ``Buffer`` holds ``data: [ubyte]`` (or, past 2 GB, ``offset``/``size``
  into the file).
- ONNX is a protobuf ``ModelProto`` whose field 14, ``metadata_props``, repeats ``StringStringEntryProto``
  ``(key = 1, value = 2)``.

The writers live in :mod:`edge_fer.export.embed` (they need TensorFlow's or LiteRT's schema, and ``onnx``);
the tests check these readers against those libraries.
"""

from __future__ import annotations

import struct
from pathlib import Path

TFLITE_IDENTIFIER = b"TFL3"
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_ONNX_METADATA_PROPS = 14


class _FlatBuffer:
    """Bounds-checked reads of a FlatBuffer's tables, vectors and strings (little-endian, 32-bit offsets)."""

    def __init__(self, data: bytes):
        self.data = data

    def _unpack(self, fmt: str, pos: int) -> int:
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.data):
            raise ValueError(f"offset {pos} outside the {len(self.data)}-byte file")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def deref(self, pos: int) -> int:
        """The position a uoffset stored at ``pos`` points to."""
        return pos + self._unpack("<I", pos)

    def field(self, table: int, index: int) -> int | None:
        """Position of field ``index`` of the table at ``table``; None when absent (default)."""
        vtable = table - self._unpack("<i", table)
        slot = 4 + 2 * index
        if slot >= self._unpack("<H", vtable):
            return None
        offset = self._unpack("<H", vtable + slot)
        return table + offset if offset else None

    def vector(self, pos: int) -> tuple[int, int]:
        """(start of the elements, element count) of the vector a uoffset at ``pos`` points to."""
        start = self.deref(pos)
        return start + 4, self._unpack("<I", start)

    def table_at(self, vector_start: int, i: int) -> int:
        """The i-th table of a vector of tables."""
        return self.deref(vector_start + 4 * i)

    def bytes_at(self, pos: int) -> bytes:
        start, n = self.vector(pos)
        if start + n > len(self.data):
            raise ValueError(f"vector at {pos} runs past the end of the file")
        return bytes(self.data[start : start + n])

    def u64(self, pos: int) -> int:
        return self._unpack("<Q", pos)

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)


def _tflite_model(data: bytes) -> tuple[_FlatBuffer, int]:
    if data[4:8] != TFLITE_IDENTIFIER:
        raise ValueError("no TFL3 file identifier: not a TFLite model")
    fb = _FlatBuffer(data)
    return fb, fb.deref(0)


def tflite_buffers(data: bytes) -> list[bytes]:
    """Every ``Model.buffers`` entry's bytes, in order (weights, biases, metadata). Raises ValueError on a
    malformed file."""
    fb, model = _tflite_model(data)
    buffers = fb.field(model, _MODEL_BUFFERS)
    if buffers is None:
        return []
    start, count = fb.vector(buffers)
    return [_buffer_bytes(fb, fb.table_at(start, i)) for i in range(count)]


def tflite_metadata_index(data: bytes) -> dict[str, int]:
    """``{name: buffer index}`` of a .tflite's ``Model.metadata`` entries. Raises ValueError on a malformed
    file."""
    fb, model = _tflite_model(data)
    metadata = fb.field(model, _MODEL_METADATA)
    if metadata is None:
        return {}
    entries, count = fb.vector(metadata)
    found: dict[str, int] = {}
    for i in range(count):
        entry = fb.table_at(entries, i)
        name_pos, index_pos = fb.field(entry, 0), fb.field(entry, 1)
        if name_pos is not None:
            found[fb.bytes_at(name_pos).decode("utf-8", "replace")] = fb.u32(index_pos) if index_pos else 0
    return found


def tflite_metadata(data: bytes) -> dict[str, bytes]:
    """``{name: bytes}`` of a .tflite's ``Model.metadata`` entries. Raises ValueError on a malformed file."""
    index = tflite_metadata_index(data)
    buffers = tflite_buffers(data) if index else []
    for name, i in index.items():
        if i >= len(buffers):
            raise ValueError(f"metadata {name!r} names buffer {i} of {len(buffers)}")
    return {name: buffers[i] for name, i in index.items()}


def _buffer_bytes(fb: _FlatBuffer, buffer: int) -> bytes:
    data_pos = fb.field(buffer, 0)
    if data_pos is not None:
        return fb.bytes_at(data_pos)
    offset_pos, size_pos = fb.field(buffer, 1), fb.field(buffer, 2)
    offset = fb.u64(offset_pos) if offset_pos is not None else 0
    size = fb.u64(size_pos) if size_pos is not None else 0
    if offset > 1 and offset + size <= len(fb.data):  # >2 GB models keep buffers after the FlatBuffer
        return bytes(fb.data[offset : offset + size])
    return b""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _protobuf_fields(data: bytes, wanted: int | None = None) -> list[tuple[int, bytes]]:
    """(field number, payload) of a message's length-delimited fields (only field ``wanted``, when given), in
    order; other wire types are skipped, and so are unwanted payloads (an ONNX graph is not copied)."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("protobuf field runs past the end of the file")
            if wanted is None or number == wanted:
                fields.append((number, bytes(data[pos : pos + size])))
            pos += size
        else:
            raise ValueError(f"protobuf wire type {wire} is not used by ONNX models")
    if pos != len(data):
        raise ValueError("truncated protobuf message")
    return fields


def onnx_metadata(data: bytes) -> dict[str, bytes]:
    """``{key: value}`` of an .onnx's ``metadata_props`` (a later entry wins, as protobuf merging has it).
    Raises ValueError on a malformed file."""
    found: dict[str, bytes] = {}
    for _, payload in _protobuf_fields(data, _ONNX_METADATA_PROPS):
        entry = dict(_protobuf_fields(payload))
        found[entry.get(1, b"").decode("utf-8", "replace")] = entry.get(2, b"")
    return found


READERS = {".tflite": tflite_metadata, ".onnx": onnx_metadata}


def read_embedded(path: str | Path) -> dict[str, bytes]:
    """The named metadata inside the model at ``path`` ({} for a format that carries none, such as .keras).

    Raises ValueError when the file is not a well-formed model of its suffix's format, OSError when unreadable."""
    reader = READERS.get(Path(path).suffix.lower())
    if reader is None:
        return {}
    return reader(Path(path).read_bytes())
