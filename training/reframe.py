"""FER2013 faces as the runtime cuts them, to train on beside the originals.

FER2013's crops vary by about 17% in scale around the face (``benchmarks/framing.py``), while the runtime cuts
every face by one rule from BlazeFace's box, so a network that learned only FER2013's crops reads the runtime's a
little worse (the framing gap of ``benchmarks/robustness.py``). Here each training face is enlarged into a plain
gray frame, found by BlazeFace and cut exactly as :meth:`edge_fer.recognizer.EmotionRecognizer.crops` cuts it
(the model's framing, alignment on); a fine-tune on these and the originals together learns both framings
(docs/experiments.md, section 5). Faces the detector does not find are skipped and counted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_fer.atomic import write_bytes, write_json
from edge_fer.errors import DataError
from edge_fer.labels import LABELS

#: The frame a face is set into (the robustness benchmark's): gray 640x480, the face enlarged to 240 px.
FRAME_H, FRAME_W = 480, 640
FACE_PX = 240
BACKGROUND = 128
#: Suffix of a reframed face beside its original (``00012.jpg`` -> ``00012_reframed.png``).
SUFFIX = "_reframed.png"
#: What made an output folder (detector, framing) and which faces were not found: a rerun with other settings
#: is refused (it would mix two framings), and faces not found are not looked for again.
MANIFEST = "reframe.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def set_in_frame(face: np.ndarray, face_px: int = FACE_PX, background: int = BACKGROUND) -> np.ndarray:
    """A 48x48 gray face enlarged (bicubic) to ``face_px`` in the middle of a gray 640x480 BGR frame.
    A plain background: BlazeFace finds a FER2013 crop far more often there than in a frame filled by repeating
    the crop's border."""
    big = cv2.resize(face, (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    top, left = (FRAME_H - face_px) // 2, (FRAME_W - face_px) // 2
    frame = np.full((FRAME_H, FRAME_W), background, np.uint8)
    frame[top : top + face_px, left : left + face_px] = big
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


@dataclass
class ReframeResult:
    out: str
    faces: int  # training faces read
    written: int  # reframed faces written this run
    kept: int  # reframed faces already there (a resumed run)
    missed: int  # faces the detector did not find in their frame
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _link(src: Path, dst: Path) -> None:
    """``dst`` -> ``src`` as a symlink (a copy where the file system has none)."""
    if dst.exists() or dst.is_symlink():
        return
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copyfile(src, dst)


def reframe_dataset(
    data: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    detector: str = "short",
    progress: Callable[[int, int], None] | None = None,
) -> ReframeResult:
    """Write ``out/train/<label>/``: every face of ``data/train`` (linked) and beside it, where BlazeFace finds
    it, the same face as the runtime cuts it (``<stem>_reframed.png``, 48x48 gray); ``out/val`` links to
    ``data/val`` (or ``data/test``) so checkpoints are still chosen on real crops. ``model`` gives the framing
    (default: the shipped model's, FER2013's 1.2 box sides). Resumable: faces written or not found are not done
    again (``out/reframe.json``). Raises DataError when ``data`` is not a folder with ``train/<label>/`` and a
    val/ or test/ split, or ``out`` was made with another detector or framing (or not by this tool)."""
    from edge_fer.recognizer import EmotionRecognizer

    data, out = Path(data), Path(out)
    if not data.is_dir():
        raise DataError(f"{data}: no such folder (give a FER2013 folder with train/ and val/)")
    train = data / "train"
    labels = [label for label in LABELS if (train / label).is_dir()]
    if not labels:
        raise DataError(f"{data}: no train/<label>/ folders (a FER2013 folder with train/ and val/ is expected)")
    held_out = next((data / name for name in ("val", "test") if (data / name).is_dir()), None)
    if held_out is None:
        raise DataError(
            f"{data}: no val/ or test/ folder; training would hold out a share of OUT/train, putting a face's "
            "original and its reframed copy on both sides: split the data first"
        )
    files = [f for label in labels for f in sorted((train / label).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    rec = EmotionRecognizer(model=model, detector=detector, threads=1)
    settings = {"detector": detector, "framing": rec.framing, "align": rec.align}
    manifest = _read_manifest(out, settings)
    out.mkdir(parents=True, exist_ok=True)
    _link(held_out, out / held_out.name)  # first, so even a stopped run can be trained on
    missed: set[str] = set(manifest.get("missed", []))
    started, written, kept = time.perf_counter(), 0, 0
    for i, src in enumerate(files):
        folder = out / "train" / src.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        _link(src, folder / src.name)
        dst = folder / (src.stem + SUFFIX)
        key = f"{src.parent.name}/{src.name}"
        if dst.exists():
            kept += 1
        elif key not in missed:
            face = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
            crops, boxes = rec.crops(set_in_frame(face)) if face is not None else (None, [])
            if not boxes:
                missed.add(key)
            else:
                off_centre = [np.hypot(x + w / 2 - FRAME_W / 2, y + h / 2 - FRAME_H / 2) for x, y, w, h in boxes]
                nearest = int(np.argmin(off_centre))
                write_bytes(dst, cv2.imencode(".png", crops[nearest].reshape(48, 48))[1].tobytes())
                written += 1
        if (i + 1) % 1000 == 0:
            write_json(out / MANIFEST, {**settings, "missed": sorted(missed)})
            if progress is not None:
                progress(i + 1, len(files))
    write_json(out / MANIFEST, {**settings, "missed": sorted(missed)})
    seconds = round(time.perf_counter() - started, 1)
    return ReframeResult(str(out), len(files), written, kept, len(missed), seconds)


def _read_manifest(out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The manifest of an earlier run into ``out`` ({} for a new folder); DataError when it was made otherwise."""
    path = out / MANIFEST
    if not path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise DataError(f"{out}: not empty and not made by `edge-fer data reframe`; choose a new OUT folder")
        return {}
    manifest = json.loads(path.read_text())
    made = {k: manifest.get(k) for k in settings}
    if made != json.loads(json.dumps(settings)):
        raise DataError(
            f"{out} was made with {made}, not {settings}: a rerun would mix two framings; choose a new OUT folder"
        )
    return manifest
