"""FER2013 loading: the image-folder layout and the original CSV, with a decoded-array cache.

Every image goes through :func:`edge_fer.preprocessing.to_face_input`, the runtime's own path, so the
network sees at training time exactly what it will see on a device.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_fer.atomic import atomic_path
from edge_fer.errors import DataError
from edge_fer.labels import FER2013_CSV_IDS, LABELS, label_index
from edge_fer.preprocessing import INPUT_SIZE, to_face_input
from edge_fer.sources import quiet_opencv
from edge_fer.wording import counted

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}
CSV_USAGE = {"train": ("Training",), "val": ("PublicTest",), "test": ("PrivateTest",)}
CACHE_VERSION = 2


@dataclass
class Problem:
    """One file that cannot be used, and why."""

    path: str
    reason: str


@dataclass
class FaceSet:
    """Decoded faces: ``x`` (N, 48, 48) uint8 gray, ``y`` (N,) canonical label indices."""

    x: np.ndarray
    y: np.ndarray
    source: str
    paths: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)

    def counts(self) -> dict[str, int]:
        """Faces per label, every label listed."""
        c = Counter(self.y.tolist())
        return {name: int(c.get(i, 0)) for i, name in enumerate(LABELS)}

    def concat(self, other: FaceSet) -> FaceSet:
        """Both sets as one (paths and problems kept)."""
        return FaceSet(
            np.concatenate([self.x, other.x]),
            np.concatenate([self.y, other.y]),
            f"{self.source} + {other.source}",
            self.paths + other.paths,
            self.problems + other.problems,
        )

    def subset(self, index: np.ndarray, source: str) -> FaceSet:
        return FaceSet(self.x[index], self.y[index], source, [self.paths[i] for i in index] if self.paths else [])


def cache_dir() -> Path:
    """Where decoded datasets are cached (``EDGE_FER_CACHE`` or ~/.cache/edge-fer)."""
    return Path(os.environ.get("EDGE_FER_CACHE", Path.home() / ".cache" / "edge-fer")) / "datasets"


def _scan_folder(root: Path) -> tuple[list[tuple[Path, int]], list[Problem], list[tuple[str, int, int]]]:
    """Labelled image files under ``root/<label>/``, problems found by name alone, and a fingerprint."""
    files: list[tuple[Path, int]] = []
    problems: list[Problem] = []
    stamp: list[tuple[str, int, int]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            problems.append(Problem(str(entry), "unlabelled: not inside a label folder"))
            continue
        if entry.name not in LABELS:
            n = sum(1 for p in entry.rglob("*") if p.is_file())
            problems.append(Problem(str(entry), f"unknown label folder ({counted(n, 'file')} skipped)"))
            continue
        idx = label_index(entry.name)
        for path in sorted(entry.iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            st = path.stat()
            stamp.append((f"{entry.name}/{path.name}", st.st_size, st.st_mtime_ns))
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                problems.append(Problem(str(path), "not an image file"))
                continue
            files.append((path, idx))
    return files, problems, stamp


def _decode(path: Path) -> tuple[np.ndarray | None, str | None]:
    """One face as 48x48 uint8, or the reason it cannot be used."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0:
        return None, "empty file"
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if img is None:
        return None, "unreadable or corrupt image"
    if img.shape[:2] != (INPUT_SIZE, INPUT_SIZE):
        return None, f"wrong size {img.shape[1]}x{img.shape[0]} (expected {INPUT_SIZE}x{INPUT_SIZE})"
    return to_face_input(img), None


def load_folder(root: str | Path, use_cache: bool = True) -> FaceSet:
    """Load ``root/<label>/*.jpg|png``; unusable files are recorded in ``problems``, never fatal."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder; give a folder of <label>/ subfolders or a fer2013.csv")
    files, problems, stamp = _scan_folder(root)
    key = hashlib.sha256(repr((CACHE_VERSION, str(root.resolve()), stamp)).encode()).hexdigest()[:20]
    cached = cache_dir() / f"{key}.npz"
    if use_cache and cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                bad = [Problem(p, r) for p, r in zip(z["bad_paths"].tolist(), z["bad_reasons"].tolist())]
                return FaceSet(z["x"], z["y"], str(root), z["paths"].tolist(), problems + bad)
        except (OSError, ValueError, KeyError):
            log.warning("dataset cache %s is unreadable; decoding again", cached)
    if not files:
        raise DataError(
            f"{root}: no labelled images found; expected subfolders named {', '.join(LABELS)} holding images"
        )
    # Corrupt files are listed as problems, not as OpenCV's own [ERROR] lines.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool, quiet_opencv():
        decoded = list(pool.map(lambda f: _decode(f[0]), files))
    xs, ys, paths, bad = [], [], [], []
    for (path, idx), (img, why) in zip(files, decoded):
        if img is None:
            bad.append(Problem(str(path), why or "unreadable"))
            continue
        xs.append(img)
        ys.append(idx)
        paths.append(str(path))
    x = np.stack(xs) if xs else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
    y = np.asarray(ys, dtype=np.int64)
    if use_cache and len(y):
        try:
            with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    x=x,
                    y=y,
                    paths=np.asarray(paths),
                    bad_paths=np.asarray([b.path for b in bad], dtype=str),
                    bad_reasons=np.asarray([b.reason for b in bad], dtype=str),
                )
        except OSError as exc:
            log.warning("could not write dataset cache %s: %s", cached, exc)
    return FaceSet(x, y, str(root), paths, problems + bad)


def load_csv(path: str | Path, split: str = "train") -> FaceSet:
    """Load one split (train/val/test = Training/PublicTest/PrivateTest) of the original fer2013.csv."""
    import csv

    path = Path(path)
    usages = CSV_USAGE[split]
    xs, ys, problems = [], [], []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"emotion", "pixels"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}: not a fer2013 CSV, missing columns {sorted(missing)}")
            for row_no, row in enumerate(reader, start=2):
                if "Usage" in row and row["Usage"] not in usages:
                    continue
                where = f"{path}:{row_no}"
                try:
                    label = FER2013_CSV_IDS[int(row["emotion"])]
                    pixels = np.array(row["pixels"].split(), dtype=np.uint8)
                except (KeyError, ValueError, TypeError, AttributeError):
                    problems.append(Problem(where, "bad emotion id or pixel values"))
                    continue
                if pixels.size != INPUT_SIZE * INPUT_SIZE:
                    problems.append(Problem(where, f"{pixels.size} pixels (expected {INPUT_SIZE * INPUT_SIZE})"))
                    continue
                xs.append(pixels.reshape(INPUT_SIZE, INPUT_SIZE))
                ys.append(label_index(label))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})") from None
    if not xs:
        raise DataError(f"{path}: no usable rows for split {split!r} (Usage {', '.join(usages)})")
    return FaceSet(np.stack(xs), np.asarray(ys, np.int64), f"{path}[{split}]", [], problems)


def load_split(path: str | Path, split: str = "train") -> FaceSet:
    """A label-folder tree or a fer2013.csv (``split`` picks its Usage rows)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise DataError(f"{path}: no such CSV file")
        return load_csv(path, split)
    return load_folder(path)


def find_splits(data: str | Path) -> tuple[Path | str, Path | str | None]:
    """Train and validation sources in ``data``: a CSV, a folder with train/ and val/ (or test/), or a
    single split folder (no validation: the caller splits)."""
    data = Path(data)
    if data.suffix.lower() == ".csv":
        return data, data
    if (data / "train").is_dir():
        for name in ("val", "validation", "test"):
            if (data / name).is_dir():
                return data / "train", data / name
        return data / "train", None
    return data, None


def stratified_split(faces: FaceSet, val_fraction: float, seed: int) -> tuple[FaceSet, FaceSet]:
    """A seeded split keeping every label's share in both parts."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(faces))
    tr, va = train_test_split(index, test_size=val_fraction, random_state=seed, stratify=faces.y)
    train_part = faces.subset(np.sort(tr), f"{faces.source} (train part)")
    train_part.problems = list(faces.problems)  # the skipped files stay counted (once, with the train part)
    return train_part, faces.subset(np.sort(va), f"{faces.source} (val part)")


def load_train_val(
    data: str | Path, val: str | Path | None = None, val_fraction: float = 0.1, seed: int = 0
) -> tuple[FaceSet, FaceSet]:
    """Training and validation faces from the user's ``--data`` (and optional ``--val``)."""
    train_src, val_src = find_splits(data)
    train = load_split(train_src, "train")
    if val is not None:
        return train, load_split(val, "val")
    if val_src is not None:
        return train, load_split(val_src, "val")
    return stratified_split(train, val_fraction, seed)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """sklearn's "balanced" weights n / (k * count) for the labels present."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    return {int(c): float(w) for c, w in zip(present, weights)}


def imbalance_ratio(counts: dict[str, int]) -> float:
    """Largest label count over the smallest: ``math.inf`` when a label has no faces (a model cannot learn
    it at all), 0.0 when there are no faces."""
    if not counts or max(counts.values()) == 0:
        return 0.0
    smallest = min(counts.values())
    return max(counts.values()) / smallest if smallest > 0 else math.inf
