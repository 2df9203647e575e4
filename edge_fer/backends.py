"""Emotion-classifier backends: TFLite (LiteRT, then tflite_runtime, then tf.lite), ONNX Runtime, Keras.

Every backend takes a batch of 48x48x1 uint8 gray faces (the output of :mod:`edge_fer.preprocessing`),
applies the per-face normalization the model was trained with (its metadata's ``preprocessing``), and
returns class probabilities in the order of the model's metadata labels. TensorFlow is imported
only for the Keras backend and the last-resort TFLite interpreter.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_fer.errors import EdgeFerError, ModelError
from edge_fer.metadata import ModelMeta, read_meta, sidecar_path
from edge_fer.preprocessing import INPUT_SIZE, normalization_of, normalize_faces
from edge_fer.quiet import import_tensorflow, quiet_native

log = logging.getLogger(__name__)

BACKENDS = ("auto", "tflite", "onnx", "keras")
SUFFIX_BACKEND = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras", ".h5": "keras"}


class Classifier(Protocol):
    """What the runtime needs of a loaded emotion model."""

    meta: ModelMeta
    backend: str
    path: Path

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """(N, 48, 48, 1) uint8 -> (N, len(labels)) float32 probabilities."""
        ...

    def describe(self) -> dict[str, Any]:
        """Backend name, version, threads and delegate or provider, for reports."""
        ...


def _check_io(path: Path, in_shape: list[Any], out_classes: Any, meta: ModelMeta) -> None:
    dims = [None if (d is None or isinstance(d, str) or d == -1) else int(d) for d in in_shape]
    if len(dims) != 4 or dims[1:] != [INPUT_SIZE, INPUT_SIZE, 1]:
        shown = "x".join("?" if d is None else str(d) for d in dims[1:]) or str(dims)
        raise ModelError(f"model {path}: input is {shown}, not 48x48x1; edge-fer models take 48x48 gray faces")
    if out_classes is not None and int(out_classes) != len(meta.labels):
        raise ModelError(
            f"model {path}: {int(out_classes)} outputs do not match its {len(meta.labels)} labels "
            f"({', '.join(meta.labels)})"
        )


def _interpreter_class() -> tuple[Any, str]:
    """LiteRT's Interpreter, else tflite_runtime's, else TensorFlow's."""
    for module, label in (
        ("ai_edge_litert.interpreter", "ai_edge_litert"),
        ("tflite_runtime.interpreter", "tflite_runtime"),
    ):
        try:
            return importlib.import_module(module).Interpreter, label
        except ImportError:
            continue
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"
    except ImportError:
        raise EdgeFerError(
            "no TFLite interpreter installed; pip install ai-edge-litert (or use an .onnx model with onnxruntime)"
        ) from None


def create_interpreter(model: str | os.PathLike[str] | bytes, threads: int | None = None) -> tuple[Any, str]:
    """A TFLite interpreter, tensors allocated, on the same backend the classifier uses, and that backend's name.

    ``model`` is a .tflite path or its bytes. Used by the face detector so detection and classification
    share one runtime (and one XNNPACK thread setting).
    """
    interpreter_cls, runtime = _interpreter_class()
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    try:
        with quiet_native():
            interpreter = interpreter_cls(**source, num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        name = "<bytes>" if "model_content" in source else source["model_path"]
        raise ModelError(f"model {name}: not a readable TFLite model ({str(exc).splitlines()[0]})") from None
    return interpreter, runtime


class TFLiteClassifier:
    """A .tflite model on the LiteRT interpreter; int8/uint8 I/O is (de)quantised here."""

    backend = "tflite"

    def __init__(self, path: Path, meta: ModelMeta, threads: int | None = None):
        self.path, self.meta, self.threads = path, meta, threads
        self.interpreter, self.runtime = create_interpreter(path, threads)
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        _check_io(path, list(self._in["shape_signature"]), self._out["shape"][-1], meta)
        self._batch = int(self._in["shape"][0])
        self.dynamic_batch = int(self._in["shape_signature"][0]) == -1
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self.interpreter.resize_tensor_input(self._in["index"], [n, INPUT_SIZE, INPUT_SIZE, 1])
            self.interpreter.allocate_tensors()
            self._in = self.interpreter.get_input_details()[0]
            self._out = self.interpreter.get_output_details()[0]
            self._batch = n

    def _quantize(self, faces: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.float32:
            return faces.astype(np.float32)
        scale, zero = self._in["quantization"]
        info = np.iinfo(self.input_dtype)
        q = np.round(faces.astype(np.float32) / scale + zero)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self._resize(len(batch))
        self.interpreter.set_tensor(self._in["index"], self._quantize(batch))
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._out["index"])
        if self.output_dtype == np.float32:
            return raw.astype(np.float32, copy=True)
        scale, zero = self._out["quantization"]
        return ((raw.astype(np.float32) - zero) * scale).astype(np.float32)

    def predict(self, faces: np.ndarray) -> np.ndarray:
        if len(faces) == 0:
            return np.zeros((0, len(self.meta.labels)), np.float32)
        faces = normalize_faces(faces, normalization_of(self.meta.preprocessing))
        if self.dynamic_batch or len(faces) == self._batch:
            return self._run(faces)
        return np.concatenate([self._run(faces[i : i + 1]) for i in range(len(faces))])

    def describe(self) -> dict[str, Any]:
        version = getattr(importlib.import_module(self.runtime.replace("tf.lite", "tensorflow")), "__version__", "?")
        return {
            "backend": "tflite",
            "runtime": self.runtime,
            "version": version,
            "threads": self.threads,
            "delegate": "XNNPACK (default CPU)",
            "input_dtype": self.input_dtype.name,
        }


class ONNXClassifier:
    """An .onnx model on ONNX Runtime (CUDA provider when present)."""

    backend = "onnx"

    def __init__(self, path: Path, meta: ModelMeta, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeFerError(f"model {path}: onnxruntime is not installed; pip install onnxruntime") from None
        self.path, self.meta, self.threads, self._ort = path, meta, threads, ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"model {path}: not a readable ONNX model ({str(exc).splitlines()[0][:200]})") from None
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        _check_io(path, list(inp.shape), out.shape[-1] if isinstance(out.shape[-1], int) else None, meta)
        self._in_name = inp.name
        self._in_type = inp.type
        self.dynamic_batch = not isinstance(inp.shape[0], int)

    def predict(self, faces: np.ndarray) -> np.ndarray:
        if len(faces) == 0:
            return np.zeros((0, len(self.meta.labels)), np.float32)
        x = normalize_faces(faces, normalization_of(self.meta.preprocessing)).astype(np.float32)
        if self.dynamic_batch:
            return np.asarray(self.session.run(None, {self._in_name: x})[0], np.float32)
        return np.concatenate([self.session.run(None, {self._in_name: x[i : i + 1]})[0] for i in range(len(x))])

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "onnx",
            "runtime": "onnxruntime",
            "version": self._ort.__version__,
            "threads": self.threads,
            "provider": self.session.get_providers()[0],
        }


class KerasClassifier:
    """A .keras model through Keras/TensorFlow: for GPUs and for checking exports against the source."""

    backend = "keras"

    def __init__(self, path: Path, meta: ModelMeta, threads: int | None = None):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            tf = import_tensorflow()
        except ImportError:
            raise EdgeFerError(f"model {path}: Keras models need TensorFlow; pip install 'edge-fer[train]'") from None
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass  # already initialised; the setting applies to the next process
        import keras

        self.path, self.meta, self.threads = path, meta, threads
        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for a bad file
            raise ModelError(f"model {path}: not a readable Keras model ({str(exc).splitlines()[0][:200]})") from None
        _check_io(path, [None, *self.model.input_shape[1:]], self.model.output_shape[-1], meta)
        self._tf = tf

    def predict(self, faces: np.ndarray) -> np.ndarray:
        if len(faces) == 0:
            return np.zeros((0, len(self.meta.labels)), np.float32)
        faces = normalize_faces(faces, normalization_of(self.meta.preprocessing))
        out = self.model(self._tf.constant(faces, self._tf.float32), training=False)
        return np.asarray(out, np.float32)

    def describe(self) -> dict[str, Any]:
        import keras

        gpus = self._tf.config.list_logical_devices("GPU")
        return {
            "backend": "keras",
            "runtime": "keras",
            "version": keras.__version__,
            "threads": self.threads,
            "device": gpus[0].name if gpus else "CPU",
        }


_CLASSES = {"tflite": TFLiteClassifier, "onnx": ONNXClassifier, "keras": KerasClassifier}


def load_classifier(path: str | os.PathLike[str], backend: str = "auto", threads: int | None = None) -> Classifier:
    """Load an emotion model with its metadata (embedded in the file, else its sidecar: see
    :func:`edge_fer.metadata.read_meta`); clear one-line errors for anything unusable."""
    p = Path(path)
    if backend not in BACKENDS:
        raise EdgeFerError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not p.exists():
        raise ModelError(f"model {p}: no such file")
    if p.is_dir():
        raise ModelError(f"model {p}: is a folder; give a .tflite, .onnx or .keras file")
    kind = SUFFIX_BACKEND.get(p.suffix.lower())
    if kind is None:
        raise ModelError(f"model {p}: unknown model type {p.suffix!r}; give a .tflite, .onnx or .keras file")
    if backend not in ("auto", kind):
        raise ModelError(f"model {p}: a {p.suffix} file cannot run on the {backend} backend; use --backend {kind}")
    if p.stat().st_size == 0:
        raise ModelError(f"model {p}: empty file")
    meta = read_meta(p)
    classifier = _CLASSES[kind](p, meta or ModelMeta(format=kind), threads)
    if meta is None:  # warned only about a model that loads: a broken one gets its one error line alone
        log.warning(
            "model %s has no metadata (none inside it, no sidecar %s); assuming edge-fer's labels and preprocessing",
            p,
            sidecar_path(p).name,
        )
    parity = (meta.extra.get("parity") or {}) if meta is not None else {}
    if parity.get("passed") is False:  # kept for inspection by export; never to be taken for a good model
        log.warning(
            "model %s FAILED its parity check at export (%s); its outputs are not trustworthy",
            p,
            "; ".join(parity.get("reasons") or ["see its metadata"]),
        )
    return classifier
