"""Image loading for the CLI and eval, through the camera's one decode path.

Why a module of its own: ``recognize``, ``eval`` and ``bench`` read photos by name; the
decoding rules (size limit, truncated JPEGs, EXIF orientation, odd pixel formats) live in
:mod:`edge_agent.camera.decode` so the camera sources apply exactly the same ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_agent.camera.decode import MAX_PIXELS, Decoded, ImageReadError, decode_file, decode_stdin, to_bgr

__all__ = ["MAX_PIXELS", "Decoded", "ImageReadError", "decode_file", "decode_stdin", "read_image", "read_image_scaled", "to_bgr"]


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` to BGR uint8 (EXIF orientation applied) or raise ``ImageReadError``."""
    return decode_file(path).image


def read_image_scaled(path: str | Path) -> tuple[np.ndarray, int]:
    """Like ``read_image``, with the factor a huge image was reduced by on decode (1, 2, 4, 8):
    multiply coordinates found in the returned image by it to get the file's pixels."""
    d = decode_file(path)
    return d.image, d.factor
