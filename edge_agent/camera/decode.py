"""The one decode path for every still image that enters the agent (camera folder / file
sources, ``recognize``, ``eval``): always BGR uint8, EXIF orientation applied, size bounded.

Why one path: a 20000×20000 PNG dropped into a folder source was decoded at full size
(2.55 GB) while ``recognize`` decoded it reduced. Here the header's dimensions are read
*before* decoding: a JPEG over ``max_pixels`` is decoded reduced by libjpeg (1/2, 1/4, 1/8,
cheap), any other format over ``REDUCE_LIMIT × max_pixels`` is refused (OpenCV would decode
it whole first). A truncated JPEG — common from IP cameras' snapshot endpoints — gets its
end marker back and is decoded with a grey band (OpenCV 5 refuses it as is); other truncated
formats go through Pillow with ``LOAD_TRUNCATED_IMAGES`` set for that one call. Both are
reported in ``Decoded.warnings`` for the caller to count; nothing here raises anything but
``ImageReadError``.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_agent.imfile import opencv_path

# Above this many pixels a photo is decoded at reduced size (the detector never needs more,
# and decoding a 16 MP JPEG costs more than the whole pipeline). The limit is a 12 MP phone photo, 4032×3024 —
# what phones write by default (a 48 / 50 MP sensor bins to it) — itself decoded whole: at 12_000_000 it was just over
# and read at 2016×1512, so a far car's plate, 1–2 % of the width, lost half its pixels before the detector's deeper
# passes (which go up to the same 4032×3024) could find it: plates-dev in such photos, plate 2 % wide, 0.66 found
# (photos31 probe, 2026-12-06).
MAX_PIXELS = 4032 * 3024
# A non-JPEG is decoded whole before it can be reduced: above this multiple of the limit, refuse.
REDUCE_LIMIT = 4
# A progressive JPEG has about ten scans; libjpeg decodes each over the whole image, and one with thousands of tiny
# repeated scans costs seconds per kilobyte (a 371 KB 12 MP file: 10 s of a core; 3.7 MB: 100 s). libjpeg-turbo's
# TurboJPEG refuses more than this many (TJPARAM_SCANLIMIT, `-limitscans`).
MAX_SCANS = 500
# A file is read whole before its header is looked at: beyond this it is no camera image (a 64 × 12 MP
# JPEG, the largest decoded, is well under it), and a device (/dev/zero) never ends.
MAX_FILE_BYTES = 256 << 20
_JPEG_FACTORS = ((1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2),
                 (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))
_PIL_LOCK = threading.Lock()  # LOAD_TRUNCATED_IMAGES is a module flag: one lenient load at a time

# What Pillow may read here: raster formats cameras and phones write (and the few it alone decodes, TGA, ICO).
# Why a list: Pillow opens EPS too, and loading one runs Ghostscript on the file's PostScript — a camera folder's
# `frame.jpg` holding PostScript was handed to `gs` (twice), a sandbox with a history of escapes.
PILLOW_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "PPM", "SUN", "JPEG2000", "AVIF", "TGA", "ICO")

TRUNCATED = "truncated"
REDUCED = "reduced"


class ImageReadError(ValueError):
    """The file cannot be used as an image; ``str()`` says why."""


class ImageTooLarge(ImageReadError):
    """The header says the image is over the pixel limit; nothing was decoded."""


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray
    factor: int = 1  # the image was reduced by this on decode: multiply coordinates by it for file pixels
    warnings: tuple[str, ...] = field(default_factory=tuple)  # TRUNCATED, REDUCED
    # (width, height) in the file's own pixels, turned as ``image`` is: coordinates times ``factor`` are clipped
    # to it (a reduced side is rounded up: 4033 px → 2017, whose edge times 2 is 4034). None: ``image``'s own
    size: tuple[int, int] | None = None


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


def frame_bgr(image: object) -> object:
    """A live frame as 3-channel 8-bit BGR: grey (2-D or one channel), BGRA and 16-bit frames are
    converted; anything else (float, 2 or 5+ channels, not an array) is returned untouched for the
    camera's health check to count as corrupt. Why: a source that hands over such a frame (a
    GStreamer pipeline in GRAY8, a mono IR camera) reached OpenCV colour conversions that raise,
    and the frame loop ended on it, at every restart."""
    if not isinstance(image, np.ndarray) or image.dtype not in (np.uint8, np.uint16) or image.size == 0:
        return image
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4)):
        return to_bgr(image)
    return image


def is_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8"


def is_tiff(data: bytes) -> bool:
    """A TIFF (classic or BigTIFF, either byte order). Why it matters: ``cv2.imread`` fails an internal check
    on a TIFF whose orientation tag is 5-8 (turned a quarter, as scanners and some cameras store them) and
    logs a four-line ``[ERROR]`` on stderr before returning nothing; ``cv2.imdecode`` turns the same bytes
    upright, so a TIFF is decoded from its bytes only."""
    return data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def iso_media(data: bytes) -> bool:
    """An ISO base media file (AVIF, HEIF). Why it matters: such a photo keeps its orientation in
    ``irot`` / ``imir`` boxes, which OpenCV's decoder ignores (a portrait AVIF came out on its side,
    and no plate on it was read); Pillow turns it upright, so it decodes these first."""
    return data[4:8] == b"ftyp"


# ISO base media brands of HEIF photos coded in HEVC (an iPhone's default format): Pillow reads them only with a
# plugin this install does not have, OpenCV not at all.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")


def _format_note(data: bytes) -> str:
    """Why an image no decoder took cannot be read, when its header tells: a HEIC photo said only "not a
    readable image", as a damaged file does, and its owner could not tell to convert it."""
    if iso_media(data):
        size = int.from_bytes(data[:4], "big")
        brands = [data[8:12]] + [data[i:i + 4] for i in range(16, min(size, len(data), 64) - 3, 4)]
        if any(b in HEIF_BRANDS for b in brands):
            return "a HEIC / HEIF photo, and this install has no HEIF decoder (convert it to JPEG): "
    return ""


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header alone, or None when it cannot be told (then OpenCV decides).
    ``ImageReadError`` for a format OpenCV decodes that Pillow cannot size, when its header holds no size."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if is_jpeg(data):
        size = _jpeg_size(data)
        if size is None:  # never handed to libjpeg unsized: it may find a frame this walk did not
            raise ImageReadError("a JPEG whose frame header (SOF) cannot be found")
        return size
    own = _opencv_only_size(data)
    if own is not None:
        return own
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=PILLOW_FORMATS) as im:  # parses the header, decodes nothing
                return im.size
    except Image.DecompressionBombError:
        return (1 << 16, 1 << 16)  # over Pillow's own bomb limit: certainly over ours
    except Exception:  # noqa: BLE001 - not something Pillow knows
        return None


# Formats OpenCV decodes whose header Pillow does not read (Radiance HDR, PAM, PFM), and the other Netpbm ones.
# A number is at most 10 digits (OpenCV refuses one over INT_MAX): a longer one is no size, refused, where int() of
# over 4300 digits was a ValueError out of ``decode_bytes`` — ``recognize`` on such a PPM was a traceback (review13)
_NUM = rb"(\d{1,10})(?!\d)"
_HDR_SIZE = re.compile(rb"\s*-Y\s*([-+]?\d{1,10})(?!\d)\s*\+X\s*([-+]?\d{1,10})(?!\d)")  # sscanf("-Y %d +X %d")
_NETPBM = re.compile(rb"P[1-6Ff]\s+" + _NUM + rb"\s+" + _NUM)  # PBM / PGM / PPM / PFM: width, height after the magic
_PAM_FIELD = re.compile(rb"^[ \t]*(WIDTH|HEIGHT)[ \t]+" + _NUM, re.MULTILINE | re.IGNORECASE)
_HEAD = 1 << 16  # a header is read from this much of the file at most


def _opencv_only_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a Radiance HDR, PAM, PFM or other Netpbm image from its own header; None for other
    formats. Why: Pillow cannot size the first three, and OpenCV decoded such a file whole whatever its
    header said — a 9 MB run-length-coded 12000×12000 HDR took ``recognize`` to 2.3 GB (4-byte floats per
    sample), one of 30000×30000 would ask for 11 GB. One of these whose header holds no size is refused
    (``ImageReadError``) rather than handed to a decoder that may read a size there after all."""
    if data.startswith((b"#?RADIANCE", b"#?RGBE")):
        blank = data.find(b"\n\n", 0, _HEAD)  # the size line follows the blank line that ends the header
        m = _HDR_SIZE.match(data, blank + 2) if blank >= 0 else None
        if m is None:
            raise ImageReadError("a Radiance HDR image whose header holds no size")
        return abs(int(m[2])), abs(int(m[1]))
    if data[:1] != b"P" or data[1:2] not in b"1234567Ff" or not data[2:3].isspace():
        return None
    head = re.sub(rb"#[^\r\n]*", b" ", data[:_HEAD])  # comments may stand between the numbers
    if data[1:2] == b"7":
        fields = {k.upper(): int(v) for k, v in _PAM_FIELD.findall(head.split(b"ENDHDR", 1)[0])}
        if b"WIDTH" not in fields or b"HEIGHT" not in fields:
            raise ImageReadError("a PAM image whose header holds no WIDTH and HEIGHT")
        return fields[b"WIDTH"], fields[b"HEIGHT"]
    m = _NETPBM.match(head)
    if m is None:
        raise ImageReadError("a Netpbm image whose header holds no size")
    return int(m[1]), int(m[2])


def _tiff_tile(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a tiled TIFF's tiles, from the header. Why: OpenCV (and libtiff) hold a whole tile
    however small the image: a 200-byte 100x100 TIFF declaring one 15008x15008 tile took 950 MB."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=("TIFF",)) as im:
            w, h = im.tag_v2.get(322), im.tag_v2.get(323)  # TileWidth, TileLength
    except Exception:  # noqa: BLE001 - not a TIFF Pillow reads: OpenCV decides, as for its size
        return None
    return (int(w), int(h)) if isinstance(w, int) and isinstance(h, int) else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment."""
    sof = _jpeg_sof(data)
    return sof[:2] if sof else None


def streams_reduced(data: bytes) -> bool:
    """A JPEG libjpeg decodes reduced in a band at a time: a sequential DCT one (SOF0, 1, 9) whose first scan
    holds every colour component. Any other keeps every DCT coefficient of the whole image in memory whatever
    the reduction (two bytes a sample): a progressive one (SOF2, 6, 10, 14: a 1.7 MB progressive 20000×15000
    file took `recognize` to 1 GB), and a sequential one whose components come in scans of their own (a 0.9 MB
    9000×9000 one took 555 MB, its interleaved twin 80 MB). A lossless one (SOF3, 7, 11, 15) has no DCT to scale:
    libjpeg decodes it whole (an 18 MB lossless 12000×12000 grey JPEG took 930 MB). So only the first kind may be
    as large as ``64 × max_pixels``."""
    components = 0
    for marker, i in _jpeg_markers(data):
        if _is_sof(marker):
            if marker not in (0xC0, 0xC1, 0xC9) or i + 8 > len(data):
                return False
            components = data[i + 7]
        elif marker == 0xDA:  # the first scan: libjpeg buffers the whole image unless it holds every component
            return components > 0 and i + 3 <= len(data) and data[i + 2] >= components
        elif marker in (0xD8, 0xD9):
            return False
    return False


def _is_sof(marker: int) -> bool:
    return 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)  # SOF0..15 but DHT, JPG, DAC


def _jpeg_sof(data: bytes) -> tuple[int, int, int] | None:
    """The first start-of-frame segment's (width, height, marker), or None when a scan, SOI or the end comes
    first (libjpeg refuses such a file)."""
    for marker, i in _jpeg_markers(data):
        if _is_sof(marker):
            if i + 7 > len(data):
                return None
            h, w = struct.unpack(">HH", data[i + 3:i + 7])
            return w, h, marker
        if marker in (0xDA, 0xD8, 0xD9):
            return None
    return None


# a marker as libjpeg's next_marker finds it: the last of any fill 0xFFs, followed by neither a stuffed zero nor
# RSTn / TEM (markers without a length, skipped as the bytes between)
_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")


def _jpeg_markers(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset of its segment after the marker) of each marker after SOI, found as libjpeg finds them
    (``next_marker``): bytes before a 0xFF are skipped, so are fill 0xFFs and a stuffed FF 00 (also inside a scan's
    data, which is how the next scan is found), and RSTn / TEM carry no length. Why: a walk that gave up at the
    first stray byte (two zero bytes before the SOF of a 9000x9000 JPEG) left the size untold, and the image was
    decoded whole, where libjpeg skips the bytes with a warning and reads the frame."""
    i, n = 2, len(data)
    while True:
        # found by the regex engine, not byte by byte here: 8 MB of FF 00 (or of fill FFs) before the SOF held a
        # camera folder's frame 0.9 s, a file of the 256 MiB allowed half a minute (review13)
        m = _MARKER.search(data, i)
        if m is None:
            return
        marker, i = data[m.start() + 1], m.start() + 2
        yield marker, i
        if marker in (0xD8, 0xD9) or i + 2 > n:
            return
        (length,) = struct.unpack(">H", data[i:i + 2])
        i += length


def jpeg_scans(data: bytes, stop: int) -> int:
    """How many scans the main image has, counted up to ``stop`` (found as libjpeg finds them)."""
    scans = 0
    for marker, _i in _jpeg_markers(data):
        if marker == 0xDA:
            scans += 1
            if scans >= stop:
                break
    return scans


def truncated_jpeg(data: bytes) -> bool:
    """The main image ends before its end-of-image marker, found by walking its markers as libjpeg does: an EXIF
    thumbnail's end marker lies inside its segment, and data appended after the image does not count. Why the
    walk: a phone's motion photo appends its video, whose bytes hold ``FF DA`` about every 64 KB; the last one in
    the file was taken for the image's last scan, and about half such photos, with no ``FF D9`` after it, were
    ``truncated``."""
    return is_jpeg(data) and all(marker != 0xD9 for marker, _i in _jpeg_markers(data))


def _plan(data: bytes, size: tuple[int, int] | None, name: str, max_pixels: int) -> tuple[int, int]:
    """(IMREAD flag, reduction factor) for ``data`` of header ``size``, or ImageReadError when it is too large."""
    if size is None:
        return cv2.IMREAD_COLOR, 1
    w, h = size
    pixels = w * h
    if pixels <= max_pixels:
        return cv2.IMREAD_COLOR, 1
    if streams_reduced(data):
        for factor, flag in _JPEG_FACTORS[1:]:
            if pixels / factor**2 <= max_pixels:
                return flag, factor
    elif pixels <= max_pixels * REDUCE_LIMIT:
        for factor, flag in _JPEG_FACTORS[1:]:  # OpenCV decodes whole, then resizes
            if pixels / factor**2 <= max_pixels:
                return flag, factor
    raise ImageTooLarge(f"image too large: {w}x{h} = {pixels / 1e6:.0f} MP (limit "
                         f"{max_pixels * (64 if streams_reduced(data) else REDUCE_LIMIT) / 1e6:.0f} MP"
                         f"{'' if streams_reduced(data) or not is_jpeg(data) else ' for a progressive, lossless or multi-scan JPEG'}): {name}")


def decode_bytes(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS,
                 path: Path | None = None) -> Decoded:
    """Decode an encoded image to BGR uint8 within ``max_pixels``, or raise ``ImageReadError``.
    ``path``: the file ``data`` was read from (``decode_file``), decoded from there when it can be."""
    if not data:
        raise ImageReadError(f"empty file: {name}")
    try:
        size = header_size(data)
    except ImageReadError as exc:
        raise ImageReadError(f"not a readable image ({exc}): {name}") from None
    flag, factor = _plan(data, size, name, max_pixels)
    if is_jpeg(data) and (scans := jpeg_scans(data, MAX_SCANS + 1)) > MAX_SCANS:
        raise ImageReadError(f"a JPEG of over {scans - 1} scans (at most {MAX_SCANS}; a photo has about ten, "
                             f"and each is decoded over the whole image): {name}")
    tile = _tiff_tile(data) if is_tiff(data) else None
    if tile and tile[0] * tile[1] > max_pixels * REDUCE_LIMIT:
        raise ImageTooLarge(f"image too large: its TIFF tile is {tile[0]}x{tile[1]} = {tile[0] * tile[1] / 1e6:.0f} MP "
                            f"(limit {max_pixels * REDUCE_LIMIT / 1e6:.0f} MP), each tile is decoded whole: {name}")
    notes: list[str] = [REDUCED] if factor > 1 else []
    cut = truncated_jpeg(data)
    if cut:
        notes.append(TRUNCATED)
        data = data + b"\xff\xd9"  # libjpeg then fills the missing rows grey instead of failing
    # IMREAD_COLOR applies EXIF orientation and turns gray / BGRA / 16-bit into 8-bit BGR.
    img = _pillow_load(data, factor) if iso_media(data) else None
    if img is None and path is not None and not cut and not is_tiff(data):
        img = _read_direct(path, flag, size, factor)
    if img is None:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None or img.size == 0:
        img, partial = _pillow_decode(data, factor)
        if img is None:
            raise ImageReadError(f"not a readable image: {_format_note(data)}{name}")
        if partial and TRUNCATED not in notes:
            notes.append(TRUNCATED)
    return Decoded(to_bgr(img), factor, tuple(notes), _file_size(size, img.shape, factor))


def _file_size(size: tuple[int, int] | None, shape: tuple[int, ...], factor: int) -> tuple[int, int]:
    """(width, height) of an image decoded to ``shape`` at 1/``factor`` from a file whose header said ``size``,
    turned as decoded (EXIF 5-8 swap the sides). A near-square image whose sides reduce alike could be either
    way: then the smaller side bounds both, never a pixel past the file. A header that fits neither way
    bounds nothing: the decoded image's own size times ``factor``."""
    h, w = shape[:2]
    if size is None or factor == 1:
        return w * factor, h * factor
    fw, fh = size

    def fits(reduced: int, side: int) -> bool:  # libjpeg rounds a reduced side up, OpenCV's resize down
        return reduced in (-(-side // factor), side // factor)

    upright, turned = fits(w, fw) and fits(h, fh), fits(w, fh) and fits(h, fw)
    if upright and turned:
        return min(w * factor, fw, fh), min(h * factor, fw, fh)
    if upright or turned:
        return (fw, fh) if upright else (fh, fw)
    return w * factor, h * factor


def _read_direct(path: Path, flag: int, size: tuple[int, int] | None, factor: int) -> np.ndarray | None:
    """``cv2.imread`` into an array the Python binding allocates, or None.

    Why: ``imdecode``'s result is copied once more on its way to Python, so every frame of a
    folder source cost two frame-sized fresh buffers (1 350 page faults and 6.1 ms for a
    1280×720 JPEG; 676 and 3.7 ms this way). The header was checked from the bytes already
    read; a file that decodes to other dimensions (replaced since) is not trusted: None, and
    the checked bytes are decoded instead."""
    name = opencv_path(path)
    if size is None or name is None:  # a name that is not UTF-8 crashes OpenCV: decode the bytes
        return None
    try:
        img = cv2.imread(name, None, flag)
    except cv2.error:
        return None
    if img is None or img.size == 0:
        return None
    w, h = size  # reduced: libjpeg rounds the size up, OpenCV's resize of other formats down
    shapes = {(-(-h // factor), -(-w // factor)), (h // factor, w // factor)}
    shapes |= {(b, a) for a, b in shapes}  # EXIF turned it a quarter
    return img if img.shape[:2] in shapes else None


def _pillow_decode(data: bytes, factor: int) -> tuple[np.ndarray | None, bool]:
    """Last resort for what OpenCV refuses (a truncated PNG, WebP…): Pillow strict, then lenient
    for this one call. Returns (image or None, whether only a partial image could be read)."""
    from PIL import ImageFile

    img = _pillow_load(data, factor)
    if img is not None:
        return img, False
    with _PIL_LOCK:
        old = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return _pillow_load(data, factor), True
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = old


def _pillow_load(data: bytes, factor: int) -> np.ndarray | None:
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=PILLOW_FORMATS) as im:
                im.load()
                rgb = ImageOps.exif_transpose(im).convert("RGB")
    except Exception:  # noqa: BLE001 - not an image (or not enough of one)
        return None
    if factor > 1:
        rgb = rgb.reduce(factor)
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def decode_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Read and decode ``path`` (see ``decode_bytes``); a missing or unreadable file is an ``ImageReadError``.

    Opened once and read to at most ``MAX_FILE_BYTES``: ``recognize /dev/zero`` (or a huge file dropped
    in a camera folder) was read whole and grew to 23 GB before the kernel killed it."""
    if isinstance(path, str) and not path:  # Path("") is the current folder: "is a directory: ." named no file given
        raise ImageReadError("no such file: '' (an empty name)")
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY)
    except FileNotFoundError:
        if p.is_symlink():  # "no such file" beside ``ls`` showing it sent its owner hunting for a typo
            raise ImageReadError(f"broken link (its target {os.readlink(p)} is missing): {p}") from None
        raise ImageReadError(f"no such file: {p}") from None
    except IsADirectoryError:
        raise ImageReadError(f"is a directory: {p}") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read {p}: {exc.strerror or exc}") from exc
    except ValueError:  # a NUL in the name (a labels file's cell): was a traceback past every ImageReadError handler
        raise ImageReadError(f"no file name holds a NUL character: {str(p)!r}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageReadError(f"is a directory: {p}")
        regular = stat.S_ISREG(st.st_mode)
        data = _read_upto(fd, MAX_FILE_BYTES) if not regular or st.st_size <= MAX_FILE_BYTES else None
    except OSError as exc:
        raise ImageReadError(f"cannot read {p}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if data is None:
        raise ImageTooLarge(f"file larger than {MAX_FILE_BYTES >> 20} MiB: not a camera image: {p}")
    # Only a regular file is opened again by name: a FIFO or a device gave its bytes once.
    return decode_bytes(data, str(p), max_pixels, path=p if regular else None)


def decode_stdin(max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode the image on standard input (``recognize -``), read to at most ``MAX_FILE_BYTES``.
    Why: ``curl …/snapshot.jpg | edge-agent recognize -`` said "no such file: -"; the usual spelling of
    standard input was taken for a file name (``/dev/stdin`` worked, on Linux only)."""
    try:
        data = _read_upto(sys.stdin.fileno(), MAX_FILE_BYTES)
    except (OSError, ValueError) as exc:  # stdin closed (``<&-``) or not a file
        raise ImageReadError(f"cannot read standard input: {getattr(exc, 'strerror', None) or exc}") from exc
    if data is None:
        raise ImageTooLarge(f"standard input longer than {MAX_FILE_BYTES >> 20} MiB: not a camera image")
    return decode_bytes(data, "standard input", max_pixels)


def _read_upto(fd: int, limit: int) -> bytes | None:
    """All of ``fd`` when it ends within ``limit`` bytes, else None (a FIFO or a device hands them over in
    pieces; a file that grows while read is caught here too)."""
    parts: list[bytes] = []
    got = 0
    while got <= limit:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        got += len(chunk)
    return None
