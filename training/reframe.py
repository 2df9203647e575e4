"""FER2013 faces as the runtime cuts them, to train on beside the originals.

FER2013's crops vary by about 17% in scale around the face (``benchmarks/framing.py``), while the runtime cuts
every face by one rule from BlazeFace's box, so a network that learned only FER2013's crops reads the runtime's a
little worse (the framing gap of ``benchmarks/robustness.py``). Here each training face is enlarged into a plain
gray frame, found by BlazeFace and cut exactly as :meth:`edge_fer.recognizer.EmotionRecognizer.crops` cuts it
(the model's framing, alignment on); a fine-tune on these and the originals together learns both framings
(docs/experiments.md, section 5). Faces the detector does not find are skipped and counted.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_fer.atomic import write_bytes
from edge_fer.errors import DataError
from edge_fer.labels import LABELS

#: The frame a face is set into (the robustness benchmark's): gray 640x480, the face enlarged to 240 px.
FRAME_H, FRAME_W = 480, 640
FACE_PX = 240
BACKGROUND = 128
#: Suffix of a reframed face beside its original (``00012.jpg`` -> ``00012_reframed.png``).
SUFFIX = "_reframed.png"
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
    (default: the shipped model's, FER2013's 1.2 box sides). Resumable: faces already written are kept.
    Raises DataError when ``data`` has no ``train/<label>/`` folders."""
    from edge_fer.recognizer import EmotionRecognizer

    data, out = Path(data), Path(out)
    train = data / "train"
    labels = [label for label in LABELS if (train / label).is_dir()]
    if not labels:
        raise DataError(f"{data}: no train/<label>/ folders (a FER2013 folder with train/ and val/ is expected)")
    files = [f for label in labels for f in sorted((train / label).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    rec = EmotionRecognizer(model=model, detector=detector, threads=1)
    started, written, kept, missed = time.perf_counter(), 0, 0, 0
    for i, src in enumerate(files):
        folder = out / "train" / src.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        _link(src, folder / src.name)
        dst = folder / (src.stem + SUFFIX)
        if dst.exists():
            kept += 1
        else:
            face = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
            if face is None:
                missed += 1
                continue
            frame = set_in_frame(face)
            crops, boxes = rec.crops(frame)
            if not boxes:
                missed += 1
            else:
                off_centre = [np.hypot(x + w / 2 - FRAME_W / 2, y + h / 2 - FRAME_H / 2) for x, y, w, h in boxes]
                nearest = int(np.argmin(off_centre))
                write_bytes(dst, cv2.imencode(".png", crops[nearest].reshape(48, 48))[1].tobytes())
                written += 1
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(files))
    for name in ("val", "test"):
        if (data / name).is_dir():
            _link(data / name, out / name)
            break
    return ReframeResult(str(out), len(files), written, kept, missed, round(time.perf_counter() - started, 1))
