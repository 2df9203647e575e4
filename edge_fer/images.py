"""Still images from files and http(s) URLs, in any format OpenCV or Pillow can decode.

OpenCV decodes first (JPEG, PNG, BMP, TIFF, WebP, PNM; it applies a JPEG's EXIF orientation); what it
cannot read goes to Pillow (GIF's first frame, AVIF, ICO, and whatever plugins are installed), with the
EXIF orientation applied the same way. Every failure is one :class:`SourceError` line naming the image and why.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_fer.errors import SourceError
from edge_fer.preprocessing import to_bgr

#: Seconds a URL may take to answer, and the most bytes read from it (a photo, not a video).
URL_TIMEOUT_S = 15.0
URL_MAX_BYTES = 100 * 1024 * 1024
URL_SCHEMES = ("http://", "https://")


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while probing a file or source: our SourceError says it in one line
    (kept when logging at DEBUG)."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def is_url(item: str | os.PathLike[str]) -> bool:
    """Whether ``item`` is an http(s) URL (the only kind of URL an image is fetched from)."""
    return isinstance(item, str) and item.lower().startswith(URL_SCHEMES)


def decode_image(data: bytes | np.ndarray, name: str) -> np.ndarray:
    """Decode an encoded image as BGR uint8: OpenCV, then Pillow. ``name`` is for the error message."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data, np.uint8)
    if buf.size == 0:
        raise SourceError(f"image {name}: empty file")
    with quiet_opencv():
        image = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if image is not None and image.size:
        return to_bgr(image)
    image = _decode_with_pillow(buf.tobytes())
    if image is None:
        raise SourceError(
            f"image {name}: not an image OpenCV or Pillow can decode (JPEG, PNG, BMP, TIFF, WebP, PNM, GIF, AVIF)"
        )
    return image


def _decode_with_pillow(data: bytes) -> np.ndarray | None:
    """BGR uint8 of the first frame, EXIF orientation applied; None when Pillow is absent or cannot read it."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.seek(0)
            frame = ImageOps.exif_transpose(img.convert("RGBA" if "A" in img.getbands() else "RGB"))
            rgb = np.asarray(frame)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    code = cv2.COLOR_RGBA2BGR if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR
    return cv2.cvtColor(rgb, code)


def sniff_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts like an image OpenCV or Pillow reads (its header only; decoding may still fail)."""
    try:
        if cv2.haveImageReader(os.fspath(path)):
            return True
    except cv2.error:
        pass
    try:
        from PIL import Image
    except ImportError:
        return False
    try:
        with Image.open(path):
            return True
    except Exception:  # Pillow raises many kinds for what is not an image
        return False


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file (or an http(s) URL) as BGR uint8: 16-bit, gray and 4-channel images converted, EXIF
    rotation applied. Reads through ``np.fromfile`` so non-ASCII paths work on every OS."""
    if is_url(path):
        return decode_image(fetch_url(str(path)), str(path))
    p = Path(path)
    if not p.exists():
        raise SourceError(f"image {p}: no such file")
    if p.is_dir():
        raise SourceError(f"image {p}: is a folder")
    try:
        data = np.fromfile(p, np.uint8)
    except OSError as exc:
        raise SourceError(f"image {p}: cannot be read ({exc.strerror or exc})") from None
    return decode_image(data, str(p))


def fetch_url(url: str, timeout_s: float = URL_TIMEOUT_S, max_bytes: int = URL_MAX_BYTES) -> bytes:
    """The bytes at an http(s) ``url``, or a SourceError saying why not (no answer within ``timeout_s``, an
    HTTP error, more than ``max_bytes``)."""
    request = urllib.request.Request(url, headers={"User-Agent": "edge-fer"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"image {url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SourceError(f"image {url}: cannot be fetched ({exc.reason}); check the URL and the network") from None
    except (TimeoutError, OSError) as exc:
        raise SourceError(
            f"image {url}: no answer within {timeout_s:.0f} s ({exc}); try again or download it"
        ) from None
    if len(data) > max_bytes:
        raise SourceError(f"image {url}: larger than {max_bytes // 2**20} MB; download it and give the file")
    return data


def url_name(url: str) -> str:
    """A file name for what ``url`` points at (its last path part, or ``image``)."""
    name = Path(urllib.parse.urlparse(url).path).name
    return name or "image"


def folder_files(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files of ``folder`` (not recursive) to try as images, sorted, and those left out with why
    (hidden files, sub-folders). Every other file is tried, whatever its suffix: the decoders decide."""
    files, skipped = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            skipped.append((entry, "hidden file"))
        elif entry.is_dir():
            skipped.append((entry, "a folder (folders are not searched recursively)"))
        elif entry.is_file():
            files.append(entry)
        else:
            skipped.append((entry, "not a regular file"))
    return files, skipped
