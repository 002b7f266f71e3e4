"""Real, valid, huge images that cost almost nothing to make: a PNG (grey rows compress ~1000:1) and a
JPEG (each 8×8 block two bits: "no change", "end of block").

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


def sequential_jpeg(width: int, height: int, interleaved: bool = True) -> bytes:
    """A mid-grey 3-component baseline JPEG of ``width``×``height``, its components in one scan or in a scan
    each (each block: DC "no change" and end-of-block, one bit each)."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    dht = b"".join(b"\xff\xc4" + struct.pack(">H", 20) + cls + bytes([1] + [0] * 15) + b"\x00"
                   for cls in (b"\x00", b"\x10"))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    blocks = -(-width // 8) * -(-height // 8)
    scans = [(1, 2, 3)] if interleaved else [(1,), (2,), (3,)]
    body = b"".join(b"\xff\xda" + struct.pack(">HB", 6 + 2 * len(c), len(c)) + b"".join(bytes([k, 0]) for k in c)
                    + b"\x00\x3f\x00" + bytes(-(-blocks * 2 * len(c) // 8)) for c in scans)
    return b"\xff\xd8" + dqt + dht + sof + body + b"\xff\xd9"


def tiled_tiff(width: int, height: int, tile: int, level: int = 90) -> bytes:
    """An uncompressed 8-bit grey TIFF of ``width``×``height`` stored as one ``tile``×``tile`` tile (the TIFF
    rule: a tile may stand out past the image's edge, as padding)."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (277, 3, 1),
            (322, 4, tile), (323, 4, tile), (324, 4, 8 + 2 + 12 * 10 + 4), (325, 4, tile * tile)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", v, 0) if kind == 3 else struct.pack("<I", v))
        for tag, kind, v in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes([level]) * (tile * tile)
