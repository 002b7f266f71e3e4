"""A real, valid, huge PNG that costs almost nothing to make (grey rows compress ~1000:1).

Why by hand: ``cv2.imwrite`` would need the whole 20000×20000 image in memory first, the very
cost the tests check the agent never pays.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path, width: int, height: int, level: int = 100) -> Path:
    """An 8-bit greyscale PNG of ``width``×``height`` pixels, all ``level``."""
    z = zlib.compressobj(9)
    row = b"\x00" + bytes([level]) * width  # filter type 0 + the row
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path
