"""Shared fixtures: real data from ../shared where present, and small data and models made here."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_fer.labels import LABELS

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EDGE_FER_SHARED", REPO.parent / "shared"))
FER_DIR = SHARED / "datasets" / "fer2013"
MEDIA_DIR = SHARED / "media"


SHARED_FIXTURES = ("fer_dir", "media_dir")


def pytest_collection_modifyitems(config, items) -> None:
    """A test that reads the shared data must carry the ``shared`` marker (so ``-m "not shared"`` leaves it out
    on a fresh clone): one that uses a shared-data fixture without it is a collection error, not a surprise."""
    unmarked = [
        item.nodeid
        for item in items
        if set(SHARED_FIXTURES) & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("shared") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"tests using {'/'.join(SHARED_FIXTURES)} need @pytest.mark.shared: {unmarked}")


def synthetic_face(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A 48x48 gray image whose pattern (stripe angle and brightness) encodes ``label``, plus noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = np.pi * label / len(LABELS)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / 3.0)
    img = 128 + 60 * stripes + 8 * label + rng.normal(0, 12, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dataset(root: Path, per_label: dict[str, int], seed: int = 0, suffix: str = ".png") -> Path:
    """Write ``root/<label>/<label>_<i><suffix>`` synthetic faces (PNG, or e.g. ".jpg" as FER2013 ships)."""
    rng = np.random.default_rng(seed)
    for i, label in enumerate(LABELS):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_label.get(label, 0)):
            cv2.imwrite(str(folder / f"{label}_{k}{suffix}"), synthetic_face(i, rng))
    return root


@pytest.fixture(scope="session")
def tiny_fer(tmp_path_factory) -> Path:
    """A FER2013-shaped tree: train/ (24 per label) and val/ (8 per label) of synthetic faces."""
    root = tmp_path_factory.mktemp("tiny_fer")
    make_dataset(root / "train", dict.fromkeys(LABELS, 24), seed=1)
    make_dataset(root / "val", dict.fromkeys(LABELS, 8), seed=2)
    return root


@pytest.fixture(scope="session")
def trained_keras(tiny_fer, tmp_path_factory) -> Path:
    """A narrow edgefer-xs (8-16-32-32) trained for a few epochs on ``tiny_fer`` with edge-fer's own trainer:
    ``best.keras`` with its ``best.json`` metadata. Learns the synthetic patterns well."""
    from edge_fer.training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("trained") / "run"
    cfg = TrainConfig(
        data=str(tiny_fer),
        arch="edgefer-xs",
        out=str(out),
        epochs=6,
        batch_size=16,
        lr=3e-3,
        arch_kwargs={"widths": (8, 16, 32, 32), "depths": (1, 2, 1, 1), "bn_momentum": 0.5},
        augment={
            "rotation_deg": 0,
            "zoom": 0,
            "shift": 0,
            "shear": 0,
            "flip": False,
            "brightness": 0,
            "contrast": 0,
            "erasing": 0,
            "gamma": 1.0,
            "blur": 0,
            "noise": 0,
            "canvas": 0,
        },
        monitor="val_accuracy",
        label_smoothing=0.0,
        schedule="constant",
    )
    train(cfg, verbose=0)
    return out / "best.keras"


@pytest.fixture
def fer_dir() -> Path:
    """The shared FER2013 folders; skips where absent."""
    if not (FER_DIR / "train").is_dir():
        pytest.skip(f"shared FER2013 not found at {FER_DIR} (set EDGE_FER_SHARED)")
    return FER_DIR


@pytest.fixture
def media_dir() -> Path:
    """The shared photo and video; skips where absent."""
    if not (MEDIA_DIR / "group-six-faces.jpg").is_file():
        pytest.skip(f"shared media not found at {MEDIA_DIR} (set EDGE_FER_SHARED)")
    return MEDIA_DIR


@pytest.fixture
def cli():
    """Run the edge-fer CLI in-process: returns (exit_code, stdout, stderr). Log records (warnings) land in
    the captured stderr too, formatted as the CLI formats them, so "one line" means what a user would see."""
    import contextlib
    import io
    import logging
    import sys

    from edge_fer.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        root, argv = logging.getLogger(), sys.argv
        root.addHandler(handler)
        sys.argv = ["edge-fer", *map(str, args)]
        code = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = argv
            root.removeHandler(handler)
        return code, out.getvalue(), err.getvalue()

    return run


@pytest.fixture
def interrupt_mid_write(monkeypatch) -> None:
    """Every ``Path.write_bytes`` writes half its data, then raises KeyboardInterrupt (Ctrl-C mid-write)."""
    real_write = Path.write_bytes

    def half_then_interrupt(self, data):
        real_write(self, data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", half_then_interrupt)
