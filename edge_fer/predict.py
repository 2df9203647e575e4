"""Emotions of the faces in still images: the library side of ``edge-fer predict``.

Images named explicitly must be readable (a bad one is an error); images found in a folder that cannot
be decoded are skipped with a warning, so one corrupt file does not stop a batch. Annotated copies are
refused where they exist (unless ``force``), checked before any work, and written atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from edge_fer.atomic import check_output, write_bytes
from edge_fer.drawing import draw_faces
from edge_fer.errors import EdgeFerError, SourceError
from edge_fer.recognizer import EmotionRecognizer, Face
from edge_fer.sources import collect_images, load_image

log = logging.getLogger(__name__)

#: Suffixes an annotated copy keeps; anything else (TIFF, PNM, ...) is written as PNG.
_WRITE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class ImageResult:
    """One image's faces, and where its annotated copy went (if asked for)."""

    image: Path
    faces: list[Face] = field(default_factory=list)
    width: int = 0
    height: int = 0
    annotated: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``predict --json`` (one object per image)."""
        return {"image": str(self.image), "faces": [f.to_dict() for f in self.faces]}


def annotated_paths(images: list[Path], folder: Path) -> list[Path]:
    """Where each image's annotated copy goes in ``folder``: its own name (PNG for suffixes that OpenCV may
    not write), with ``-2``, ``-3`` ... for names that repeat."""
    seen: dict[str, int] = {}
    out = []
    for img in images:
        suffix = img.suffix.lower() if img.suffix.lower() in _WRITE_SUFFIXES else ".png"
        name = f"{img.stem}{suffix}"
        n = seen.get(name, 0) + 1
        seen[name] = n
        out.append(folder / (name if n == 1 else f"{img.stem}-{n}{suffix}"))
    return out


def predict_images(
    recognizer: EmotionRecognizer,
    inputs: Iterable[str | os.PathLike[str]],
    save_annotated: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Iterator[ImageResult]:
    """Yield every image's faces; with ``save_annotated``, also write an annotated copy into that folder."""
    yield from predict_image_items(recognizer, collect_images(inputs), save_annotated, force)


def predict_image_items(
    recognizer: EmotionRecognizer,
    items: list[tuple[Path, bool]],
    save_annotated: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Iterator[ImageResult]:
    """:func:`predict_images` over image paths already collected, each with whether it was named explicitly
    (a bad explicit image is an error, a bad one found in a folder is skipped with a warning)."""
    targets: list[Path | None] = [None] * len(items)
    if save_annotated is not None:
        folder = Path(save_annotated)
        if folder.exists() and not folder.is_dir():
            raise EdgeFerError(f"--save-annotated {folder}: is a file, not a folder")
        targets = list(annotated_paths([p for p, _ in items], folder))
        for target in targets:
            check_output(target, force)
    for (path, explicit), target in zip(items, targets):
        try:
            image = load_image(path)
        except SourceError as exc:
            if explicit:
                raise
            log.warning("skipped %s", exc)
            continue
        faces = recognizer.detect(image)
        result = ImageResult(path, faces, image.shape[1], image.shape[0])
        if target is not None:
            draw_faces(image, faces)
            ok, data = cv2.imencode(target.suffix, image)
            if not ok:
                raise EdgeFerError(f"{target}: OpenCV could not encode the annotated image")
            result.annotated = write_bytes(target, data.tobytes())
        yield result
