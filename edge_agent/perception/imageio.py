"""Robust image loading for the CLI and eval: always BGR uint8, EXIF orientation applied.

Why: operators feed whatever their cameras and phones produce — grayscale, PNG with alpha,
16-bit TIFF, truncated uploads. Each becomes a 3-channel 8-bit frame or a clear
``ImageReadError``; nothing reaches the models in a shape they would crash on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Above this many pixels a photo is decoded at reduced size (the detector never needs more,
# and decoding a 16 MP JPEG costs more than the whole pipeline).
MAX_PIXELS = 12_000_000


class ImageReadError(ValueError):
    """The file cannot be used as an image; ``str()`` says why."""


def to_bgr(img: np.ndarray) -> np.ndarray:
    """Grayscale / BGRA / 16-bit / float → 3-channel uint8 BGR."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) * (255.0 if float(np.nanmax(img)) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img[:, :, :3])


def _reduced_flag(path: Path) -> tuple[int, int]:
    """IMREAD flag and scale factor that keep a huge image under MAX_PIXELS."""
    from PIL import Image  # reads the header only, no decode

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError:
        return cv2.IMREAD_REDUCED_COLOR_8, 8
    except Exception:  # not something Pillow knows: let OpenCV decide below
        return cv2.IMREAD_COLOR, 1
    for factor, flag in ((1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2),
                         (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8)):
        if w * h / factor**2 <= MAX_PIXELS:
            return flag, factor
    return cv2.IMREAD_REDUCED_COLOR_8, 8


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` to BGR uint8 (EXIF orientation applied by OpenCV) or raise ``ImageReadError``."""
    return read_image_scaled(path)[0]


def read_image_scaled(path: str | Path) -> tuple[np.ndarray, int]:
    """Like ``read_image``, with the factor a huge image was reduced by on decode (1, 2, 4, 8):
    multiply coordinates found in the returned image by it to get the file's pixels."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"no such file: {p}")
    if p.is_dir():
        raise ImageReadError(f"is a directory: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if not data:
        raise ImageReadError(f"empty file: {p}")
    flag, factor = _reduced_flag(p)
    # IMREAD_COLOR applies EXIF orientation and turns gray / BGRA / 16-bit into 8-bit BGR.
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None or img.size == 0:
        raise ImageReadError(f"not a readable image: {p}")
    if _truncated_jpeg(data):
        raise ImageReadError(f"truncated JPEG (no end marker): {p}")
    return to_bgr(img), factor


def _truncated_jpeg(data: bytes) -> bool:
    """No end-of-image marker after the main image's last scan (OpenCV would fill grey).

    Searched from the last start-of-scan so an EXIF thumbnail's end marker does not count and
    data appended after the image (motion photos) does not matter."""
    if data[:2] != b"\xff\xd8":
        return False
    sos = data.rfind(b"\xff\xda")
    return sos < 0 or data.find(b"\xff\xd9", sos) < 0
