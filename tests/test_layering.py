"""Imports point one way: the runtime at the bottom, training and export above it, the CLI on top.

- The runtime imports with ``edge_fer.training``, ``edge_fer.export`` and TensorFlow blocked.
- No import cycles between modules. Every import counts, the lazy ones inside functions too (an import
  deferred to dodge a cycle is still a cycle), except two kinds that cannot form one: imports under
  ``if TYPE_CHECKING:`` (never run) and a package ``__init__``'s PEP 562 ``__getattr__`` (a lazy facade
  re-exporting its own modules, e.g. ``edge_fer.EmotionRecognizer``).
- A command that needs the ``train`` extra says so in one line and exits 2 when its libraries are missing.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
#: Import name -> source folder, as pyproject.toml's package-dir maps them.
ROOTS = {"edge_fer": REPO / "edge_fer", "edge_fer.training": REPO / "training", "edge_fer.export": REPO / "export"}
#: Modules above the runtime, and the one runtime module that is Keras by design (imported with TensorFlow).
NOT_RUNTIME = ("edge_fer.cli", "edge_fer.__main__", "edge_fer.training", "edge_fer.export", "edge_fer.keras_layers")
TRAIN_EXTRA = ("tensorflow", "keras", "tf_keras", "sklearn", "matplotlib", "tf2onnx", "onnx")

BLOCKER = """
import importlib.abc, sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _Blocked())
"""


def _blocked_python(blocked: tuple[str, ...], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where importing any of ``blocked`` raises ModuleNotFoundError."""
    script = BLOCKER.format(blocked=tuple(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300, cwd=REPO)


# ---------------------------------------------------------------- the module graph


def modules(roots: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py under each root."""
    found = {}
    for package, root in roots.items():
        for path in sorted(root.rglob("*.py")):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            if package == "edge_fer" and parts and f"edge_fer.{parts[0]}" in roots:
                continue  # an installed tree's copy of a mapped package
            found[".".join([package, *parts])] = path
    return found


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (see the module docstring for what counts)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        targets: set[str | None] = set()

        def visit(node: ast.AST, name: str = name, is_package: bool = is_package, targets=targets) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef) and is_package and child.name == "__getattr__":
                    continue
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, ast.Import):
                    targets.update(resolve(alias.name) for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        anchor = name if is_package else name.rpartition(".")[0]
                        for _ in range(child.level - 1):
                            anchor = anchor.rpartition(".")[0]
                        base = f"{anchor}.{base}" if base else anchor
                    for alias in child.names:
                        full = f"{base}.{alias.name}"
                        targets.add(full if full in mods else resolve(base))
                visit(child)

        visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _runtime(name: str) -> bool:
    return not any(name == top or name.startswith(top + ".") for top in NOT_RUNTIME)


def test_no_import_cycles_between_modules():
    graph = import_graph(modules(ROOTS))
    assert len(graph) > 60 and "edge_fer.backends" in graph["edge_fer.recognizer"]
    assert cycles(graph) == []


def test_no_runtime_module_imports_training_or_export_even_lazily():
    graph = import_graph(modules(ROOTS))
    above = ("edge_fer.training", "edge_fer.export")
    upward = {(m, t) for m, targets in graph.items() if _runtime(m) for t in targets if t.startswith(above)}
    assert upward == set()
    assert any(t.startswith("edge_fer.export") for t in graph["edge_fer.cli.export_cmds"])  # the check can see it


def test_the_cycle_finder_finds_a_lazy_cycle_and_ignores_facades_and_type_checking(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from pkg import a\n    return a\n")
    (pkg / "a.py").write_text("import pkg\nfrom pkg.b import thing\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "c.py").write_text("def late():\n    from . import d\n")
    (pkg / "d.py").write_text("from pkg import c\n")
    graph = import_graph(modules({"pkg": pkg}))
    assert graph["pkg.a"] == {"pkg", "pkg.b"} and graph["pkg.b"] == set() and graph["pkg"] == set()
    assert cycles(graph) == [["pkg.c", "pkg.d"]]


# ---------------------------------------------------------------- the runtime without the layers above it


def test_every_runtime_module_imports_without_training_export_or_tensorflow():
    names = sorted(m for m in modules(ROOTS) if _runtime(m))
    assert {"edge_fer.backends", "edge_fer.embedded", "edge_fer.video", "edge_fer.recognizer"} <= set(names)
    run = _blocked_python(
        ("edge_fer.training", "edge_fer.export", *TRAIN_EXTRA),
        """
        import importlib
        for name in sys.argv[1:]:
            importlib.import_module(name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print(len(sys.argv) - 1, "modules;", "loaded:", loaded)
        """,
        *names,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{len(names)} modules; loaded: []"


def test_the_runtime_runs_a_model_with_the_layers_above_it_blocked():
    run = _blocked_python(
        ("edge_fer.training", "edge_fer.export", *TRAIN_EXTRA),
        """
        import numpy as np
        from edge_fer.backends import load_classifier
        from edge_fer.shipped import default_model_path
        clf = load_classifier(default_model_path())
        print(clf.meta.arch, clf.predict(np.full((1, 48, 48, 1), 128, np.uint8)).shape)
        """,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "edgefer-s (1, 7)"


# ---------------------------------------------------------------- missing extras: one line, exit 2


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A tiny FER tree, a photo, a run folder and an export folder: enough for each command to reach its imports."""
    from conftest import make_dataset

    from edge_fer.labels import LABELS

    root = tmp_path_factory.mktemp("extras")
    make_dataset(root / "fer" / "train", dict.fromkeys(LABELS, 2), seed=1)
    make_dataset(root / "fer" / "val", dict.fromkeys(LABELS, 2), seed=2)
    photo = root / "photo.png"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    for folder in ("run", "exported"):
        (root / folder).mkdir()
    return {"fer": root / "fer", "photo": photo, "root": root}


KERAS = str(REPO / "assets" / "edgefer-s.keras")
TFLITE = str(REPO / "assets" / "edgefer-s_int8.tflite")

COMMANDS = {
    "train": lambda i: ["train", "--data", i["fer"], "--out", i["root"] / "t"],
    "evaluate-keras": lambda i: ["evaluate", KERAS, "--data", i["fer"] / "val", "--out", i["root"] / "e1"],
    "evaluate-tflite": lambda i: ["evaluate", TFLITE, "--data", i["fer"] / "val", "--out", i["root"] / "e2"],
    "explain": lambda i: ["explain", KERAS, i["photo"], "--out", i["root"] / "x"],
    "filters": lambda i: ["filters", KERAS, "--out", i["root"] / "f"],
    "sweep": lambda i: ["sweep", "--preset", "seed002", "--data", i["fer"], "--out", i["root"] / "s"],
    "experiment": lambda i: ["experiment", "cnn-vs-dnn", "--data", i["fer"], "--out", i["root"] / "c"],
    "export": lambda i: ["export", KERAS, "--int8", "--data", i["fer"], "--out", i["root"] / "ex"],
    "card": lambda i: ["card", i["root"] / "run", "--export-dir", i["root"] / "exported", "--val", i["fer"] / "val"],
    "models": lambda i: ["models"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_that_needs_the_train_extra_says_so_in_one_line(command, inputs):
    args = [str(a) for a in COMMANDS[command](inputs)]
    run = _blocked_python(
        TRAIN_EXTRA, "from edge_fer.cli import main\nsys.argv = ['edge-fer', *sys.argv[1:]]\nmain()", *args
    )
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-fer: error: "), run.stderr
    assert lines[0].endswith("pip install 'edge-fer[train]'")


def test_only_the_train_extras_modules_get_the_install_line(monkeypatch):
    from edge_fer.cli import _missing_extra

    monkeypatch.setattr(sys, "argv", ["edge-fer", "--debug", "evaluate", "m.tflite"])
    line = _missing_extra(ModuleNotFoundError("No module named 'sklearn.metrics'", name="sklearn.metrics"))
    assert line == "`edge-fer evaluate` needs scikit-learn (the train extra): pip install 'edge-fer[train]'"
    wrapped = RuntimeError("while loading")
    wrapped.__cause__ = ModuleNotFoundError(name="matplotlib.pyplot")
    assert "needs matplotlib" in _missing_extra(wrapped)
    assert _missing_extra(ModuleNotFoundError(name="yaml")) is None  # a broken install stays an internal error
    assert _missing_extra(ValueError("x")) is None
