"""Bad and unusual image files: each becomes a BGR uint8 frame or a clear ImageReadError."""

from __future__ import annotations

import io
import os
import shlex
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_agent.camera.decode import ImageTooLarge, decode_bytes, header_size
from edge_agent.perception.imageio import ImageReadError, decode_file, read_image, read_image_scaled
from tests.perception.bigimage import huge_png, sequential_jpeg, tiled_tiff


def _scene(h: int = 60, w: int = 80) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (255, 0, 0)  # left half blue (BGR)
    return img


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.jpg")


def test_a_broken_link_says_so_and_names_its_target(tmp_path):
    """A link whose photo was moved said "no such file", while ``ls`` showed the name there."""
    (tmp_path / "car.jpg").symlink_to(tmp_path / "moved" / "car.jpg")
    with pytest.raises(ImageReadError, match=r"broken link \(its target .*moved/car\.jpg is missing\): .*car\.jpg"):
        read_image(tmp_path / "car.jpg")
    cv2.imwrite(str(tmp_path / "real.png"), _scene())
    (tmp_path / "ok.png").symlink_to("real.png")  # a relative link that resolves is read as its target
    assert read_image(tmp_path / "ok.png").shape == (60, 80, 3)


def test_a_name_holding_a_nul_is_an_image_read_error(tmp_path):
    """A labels file's ``file`` cell with a NUL (plates ``eval``) reached ``os.open``, whose ``ValueError`` passed
    every ``ImageReadError`` handler: a traceback."""
    with pytest.raises(ImageReadError, match="no file name holds a NUL character"):
        decode_file(tmp_path / "a\0b.jpg")


def test_postscript_under_an_image_name_never_reaches_ghostscript(tmp_path, monkeypatch):
    """Pillow opens EPS, and loading one runs Ghostscript on its PostScript: a ``frame.jpg`` holding PostScript in
    a camera folder, or handed to ``recognize``, was given to ``gs`` twice (strict, then lenient) — a sandbox with
    a history of escapes, installed with CUPS on many a Pi. Pillow reads only the camera and photo formats now."""
    from PIL import EpsImagePlugin

    ran = tmp_path / "gs-ran"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(ran))}\n[ "$1" = --version ] && exit 0\nexit 1\n')
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gs.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # looked for again, on this PATH
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n%%EndComments\nshowpage\n%%EOF\n"
    with pytest.raises(ImageReadError, match="not a readable image: frame.jpg"):
        decode_bytes(eps, "frame.jpg")
    assert not ran.exists(), ran.read_text()


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is text, not a JPEG")
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(p)


def test_empty_file_and_directory(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty file"):
        read_image(p)
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


def test_grayscale_becomes_bgr(tmp_path):
    p = tmp_path / "g.png"
    cv2.imwrite(str(p), np.full((30, 40), 77, np.uint8))
    img = read_image(p)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8 and (img == 77).all()


def test_four_channel_and_16_bit(tmp_path):
    bgra = np.dstack([_scene(), np.full((60, 80), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    img = read_image(tmp_path / "a.png")
    assert img.shape == (60, 80, 3) and tuple(img[0, 0]) == (255, 0, 0)
    deep = _scene().astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    img = read_image(tmp_path / "d.png")
    assert img.dtype == np.uint8 and tuple(img[0, 0]) == (255, 0, 0) and tuple(img[0, -1]) == (0, 0, 0)


def test_truncated_jpeg_is_decoded_with_a_grey_band_and_a_warning(tmp_path):
    """IP cameras' snapshot endpoints cut JPEGs short: the part that arrived is used, the rest is grey."""
    img = np.zeros((240, 320, 3), np.uint8)
    img[:, :160] = (255, 0, 0)
    img[:, 160:] = (0, 0, 255)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    d = decode_file(p)
    assert d.warnings == ("truncated",) and d.image.shape == (240, 320, 3)
    assert tuple(d.image[5, 5]) > (240, 0, 0) and d.image[5, 300, 2] > 240  # the top arrived
    assert (np.abs(d.image[-1].astype(int) - 128) <= 2).all()  # the missing rows are grey
    assert read_image(p).shape == (240, 320, 3)  # the plain readers accept it too


def test_a_motion_photo_whose_video_holds_a_scan_marker_is_not_truncated():
    """A phone's motion photo is a whole JPEG with its video appended. The video's compressed bytes hold
    ``FF DA`` (a start-of-scan) about every 64 KB, and ``FF D9`` as often; the last ``FF DA`` of the file was taken
    for the image's, and when no ``FF D9`` followed it (about half such photos) the whole photo was
    ``truncated``, "the missing part is grey"."""
    img = _scene(240, 320)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    video = bytearray(np.random.default_rng(7).integers(0, 256, 200_000, np.uint8).tobytes())
    video = video.replace(b"\xff\xd9", b"\xff\x00")  # no end marker at all in this video
    video[150_000:150_002] = b"\xff\xda"
    photo = buf.tobytes() + struct.pack(">I", 24) + b"ftypmp42" + bytes(12) + bytes(video)
    d = decode_bytes(photo, "MVIMG_0001.jpg")
    assert d.warnings == () and d.image.shape == (240, 320, 3)
    cut = buf.tobytes()[: len(buf) // 2] + bytes(video)  # an image cut short stays truncated, whatever follows
    assert decode_bytes(cut, "cut.jpg").warnings == ("truncated",)


def test_truncated_png_is_decoded_partially_by_the_fallback(tmp_path):
    img = np.random.default_rng(1).integers(0, 255, (200, 120, 3), np.uint8)
    ok, buf = cv2.imencode(".png", img)
    p = tmp_path / "cut.png"
    p.write_bytes(buf.tobytes()[: int(len(buf) * 0.6)])
    d = decode_file(p)
    assert d.warnings == ("truncated",) and d.image.shape == (200, 120, 3)
    assert (d.image[:50] == img[:50]).all()  # what arrived is exact


def test_a_cut_that_leaves_no_image_is_still_a_clear_error(tmp_path):
    ok, buf = cv2.imencode(".jpg", _scene())
    p = tmp_path / "stub.jpg"
    p.write_bytes(buf.tobytes()[:40])  # inside the headers
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(p)


def test_pillow_flag_is_left_as_it_was(tmp_path):
    from PIL import ImageFile

    ok, buf = cv2.imencode(".png", _scene())
    p = tmp_path / "cut.png"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    decode_file(p)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # lenient for that one call only


def test_exif_orientation_applied(tmp_path):
    # stored 80 wide × 60 high, EXIF orientation 6 (rotate 90° clockwise to display)
    rgb = cv2.cvtColor(_scene(), cv2.COLOR_BGR2RGB)
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif, quality=95)
    img = read_image(p)
    assert img.shape[:2] == (80, 60)  # displayed portrait
    assert img[0, 30, 0] > 200 and img[-1, 30, 0] < 60  # blue half now on top


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_avif_orientation_applied(tmp_path, orientation):
    """AVIF stores the orientation in irot / imir boxes (Pillow writes them from the EXIF tag);
    OpenCV's decoder ignores them, so the photo came out turned."""
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    upright = cv2.cvtColor(_scene(), cv2.COLOR_BGR2RGB)
    stored = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "photo.avif"
    Image.fromarray(upright).transpose(stored).save(p, "AVIF", quality=95, exif=exif.tobytes())
    for d in (decode_file(p), decode_bytes(p.read_bytes(), "photo.avif")):
        assert d.image.shape == (60, 80, 3)
        assert d.image[30, 10, 0] > 200 and d.image[30, 70, 0] < 60  # blue half on the left again


def test_huge_image_is_decoded_reduced(tmp_path):
    p = tmp_path / "huge.jpg"
    cv2.imwrite(str(p), np.full((3000, 5000, 3), 120, np.uint8))  # 15 MP
    img, factor = read_image_scaled(p)
    assert factor == 2 and img.shape[:2] == (1500, 2500)


def test_huge_png_is_refused_from_its_header_without_decoding(tmp_path):
    p = huge_png(tmp_path / "huge.png", 20000, 20000)  # 400 MP: 1.2 GB once decoded to BGR
    with pytest.raises(ImageReadError, match=r"too large: 20000x20000"):
        read_image(p)


def test_moderately_large_png_is_reduced_and_said_so(tmp_path):
    p = tmp_path / "big.png"
    cv2.imwrite(str(p), np.full((1000, 1200, 3), 90, np.uint8))
    d = decode_file(p, max_pixels=400_000)  # 1.2 MP: within 4× the limit → decoded, reduced by 2
    assert d.factor == 2 and d.image.shape[:2] == (500, 600) and d.warnings == ("reduced",)


def _encoded(ext: str, h: int, w: int) -> bytes:
    img = np.full((h, w, 3), 90, np.uint8)
    img = img.astype(np.float32) / 255 if ext in (".hdr", ".pfm") else img
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("where, extra", [("sof", b"\x00\x00"), ("sof", b"\xff\x00"), ("sof", b"\xff\xff"),
                                          ("soi", b"\xff\xd0"), ("soi", b"\xff\x01")])
def test_a_jpeg_whose_markers_libjpeg_finds_past_stray_bytes_is_still_sized(where, extra):
    """libjpeg skips bytes before a marker (with a warning), fill bytes, a stuffed FF 00, and reads RSTn / TEM
    with no length; the header walk gave up there (or read a length that is not one), left the size untold, and
    the image was decoded whole: a 1.3 MB 9000x9000 JPEG with two zero bytes before its SOF took 540 MB, where
    the same file without them is decoded at 1/4. A 30000x30000 one would have been 2.7 GB."""
    data = _encoded(".jpg", 100, 140)
    at = data.find(b"\xff\xc0") if where == "sof" else 2
    odd = data[:at] + extra + data[at:]
    d = decode_bytes(odd, "x", max_pixels=3_000)  # 14 000 px: a JPEG is decoded at 1/4, as without the bytes
    assert d.factor == 4 and d.image.shape[:2] == (25, 35)


def test_a_jpeg_with_no_frame_header_is_refused_unsized():
    data = _encoded(".jpg", 100, 140)
    sof = data.find(b"\xff\xc0")
    with pytest.raises(ImageReadError, match=r"frame header \(SOF\) cannot be found.*: x$"):
        decode_bytes(data[:sof] + b"\xff\xda" + data[sof:], "x")  # a scan before any frame


def test_a_tiff_tile_over_the_limit_is_refused_however_small_the_image():
    """OpenCV and libtiff hold a whole tile in memory, and the TIFF rules let a tile stand past the image's edge:
    a 200-byte 100x100 TIFF declaring one 15008x15008 tile took 950 MB. A tile over the limit of formats decoded
    whole is refused from the header; an ordinary tiled TIFF still decodes."""
    ok = decode_bytes(tiled_tiff(100, 100, 112), "ok.tif")
    assert ok.image.shape == (100, 100, 3) and int(ok.image[50, 50, 0]) == 90 and ok.warnings == ()
    with pytest.raises(ImageTooLarge, match=r"TIFF tile is 304x304 = 0 MP \(limit 0 MP\), each tile is decoded"):
        decode_bytes(tiled_tiff(100, 100, 304), "big.tif", max_pixels=20_000)


@pytest.mark.parametrize("ext", [".hdr", ".pam", ".pfm", ".ppm"])
def test_formats_pillow_cannot_size_are_sized_from_their_own_header(ext):
    """Radiance HDR, PAM and PFM (OpenCV decodes them, Pillow cannot read their header) were decoded whole
    whatever their size: a 9 MB run-length-coded 12000x12000 HDR took `recognize` to 2.3 GB, and a camera folder
    reads any content under a .jpg name. Now the pixel limit applies to them as to every format."""
    data = _encoded(ext, 100, 140)  # 14 000 px
    assert decode_bytes(data, "x", max_pixels=20_000).image.shape == (100, 140, 3)
    d = decode_bytes(data, "x", max_pixels=5_000)  # within 4× the limit: decoded, reduced by 2
    assert d.factor == 2 and d.image.shape[:2] == (50, 70) and d.warnings == ("reduced",)
    with pytest.raises(ImageTooLarge, match=r"too large: 140x100"):  # over 4×: refused from the header
        decode_bytes(data, "x", max_pixels=3_000)


@pytest.mark.parametrize("header", [
    b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 7000 +X 9000\n",
    b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n-Y7000+X 9000\n",  # sscanf takes it without the spaces
    b"P7\n# a comment\nwidth 9000\nHEIGHT 7000\nDEPTH 3\nMAXVAL 255\nENDHDR\n",
    b"PF\n9000 7000\n-1.0\n",
    b"P6\n# made by hand\n9000 # wide\n7000\n255\n",
])
def test_a_huge_size_in_such_a_header_is_refused_without_decoding(header):
    with pytest.raises(ImageTooLarge, match=r"too large: 9000x7000 = 63 MP"):
        decode_bytes(header + bytes(64), "bomb")


@pytest.mark.parametrize("header", [b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\nsize\n",
                                    b"P7\nDEPTH 3\nENDHDR\n", b"P6\nwide high\n"])
def test_such_a_header_without_a_size_is_a_clear_error(header):
    with pytest.raises(ImageReadError, match=r"holds no (size|WIDTH).*: bomb$"):
        decode_bytes(header + bytes(64), "bomb")


@pytest.mark.parametrize("name, shape, max_pixels", [("odd.jpg", (721, 1283, 3), 12_000_000),
                                                     ("reduced.jpg", (1001, 1203, 3), 400_000),
                                                     ("reduced.png", (1001, 1203, 3), 400_000)])
def test_a_file_decodes_as_its_bytes_do(tmp_path, name, shape, max_pixels):
    """decode_file reads the file with cv2.imread (no extra copy of the frame on its way to Python);
    the result is the one decoding the bytes gives, pixel for pixel, reduced or not."""
    rng = np.random.default_rng(3)
    p = tmp_path / name
    cv2.imwrite(str(p), cv2.GaussianBlur(rng.integers(0, 255, shape, np.uint8), (9, 9), 0))
    from_file = decode_file(p, max_pixels=max_pixels)
    from_bytes = decode_bytes(p.read_bytes(), name, max_pixels=max_pixels)
    assert from_file.factor == from_bytes.factor and from_file.warnings == from_bytes.warnings
    assert from_file.image.shape == from_bytes.image.shape and np.array_equal(from_file.image, from_bytes.image)


def test_a_file_replaced_after_its_header_was_checked_is_not_trusted(tmp_path):
    """The pixel limit is judged on the bytes read; if the file on disk decodes to other dimensions
    (replaced since), those checked bytes are what is decoded."""
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    cv2.imwrite(str(small), _scene())
    cv2.imwrite(str(big), np.full((400, 500, 3), 7, np.uint8))
    d = decode_bytes(small.read_bytes(), "small.png", path=big)
    assert d.image.shape == (60, 80, 3) and d.image[0, 0, 0] == 255


@pytest.mark.parametrize("major,compatible", [(b"heic", b"mif1heic"), (b"mif1", b"mif1heic"), (b"heix", b"mif1")])
def test_a_heic_photo_says_it_is_one_no_decoder_here(tmp_path, major, compatible):
    """An iPhone's default format: no decoder here reads it, and it said only "not a readable image", as a
    damaged file does. It names the format and what to do; a broken file still says only that."""
    ftyp = b"ftyp" + major + b"\0\0\0\0" + compatible
    p = tmp_path / "IMG_0001.HEIC"
    p.write_bytes(len(ftyp + b"\0\0\0\0").to_bytes(4, "big") + ftyp + b"\0\0\0\x08mdat" + bytes(200))
    with pytest.raises(ImageReadError, match=r"not a readable image: a HEIC / HEIF photo, and this install has no "
                                             r"HEIF decoder \(convert it to JPEG\): .*IMG_0001.HEIC"):
        read_image(p)
    broken = tmp_path / "broken.avif"
    broken.write_bytes(b"\0\0\0\x14ftypavif\0\0\0\0mif1" + bytes(200))
    with pytest.raises(ImageReadError) as exc:
        read_image(broken)
    assert str(exc.value) == f"not a readable image: {broken}"


def _sized_jpeg(progressive: bool, width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims ``width`` × ``height`` (the size check reads only the header)."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, "JPEG", progressive=progressive)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _lossless_jpeg(width: int, height: int) -> bytes:
    """A grey lossless JPEG (SOF3, predictor 1) whose every sample is a one-bit "no change": 8 pixels a byte."""
    dht = b"\xff\xc4" + struct.pack(">H", 20) + b"\x00" + bytes([1] + [0] * 15) + b"\x00"
    sof = b"\xff\xc3" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + dht + sof + sos + bytes((width * height + 7) // 8) + b"\xff\xd9"


def test_a_lossless_jpeg_is_reduced_only_as_far_as_other_formats():
    """A lossless JPEG has no DCT for libjpeg to scale: it is decoded whole, then resized, as a PNG is (an 18 MB
    12000x12000 one took 930 MB; one of 768 MP, under the sequential JPEG limit, about 5 GB). Over 4× the limit
    it is refused from its header; within it, decoded and reduced."""
    data = _lossless_jpeg(200, 100)
    assert decode_bytes(data, "l.jpg").image.shape == (100, 200, 3)
    d = decode_bytes(data, "l.jpg", max_pixels=6_000)
    assert d.factor == 2 and d.image.shape[:2] == (50, 100) and int(d.image[10, 10, 0]) == 128
    with pytest.raises(ImageTooLarge, match=r"200x100 = 0 MP \(limit 0 MP for a progressive, lossless or multi-scan JPEG\)"):
        decode_bytes(data, "l.jpg", max_pixels=1_000)


def test_a_jpeg_with_a_scan_per_component_is_reduced_only_as_far_as_other_formats():
    """libjpeg keeps every coefficient of a sequential JPEG whose components come in scans of their own, as of a
    progressive one: a 0.9 MB 9000x9000 one took 555 MB decoded at 1/4 (its interleaved twin 80 MB), and one of
    768 MP, under the sequential limit, would have taken about 4.6 GB."""
    d = decode_bytes(sequential_jpeg(140, 100, interleaved=True), "i.jpg", max_pixels=3_000)
    assert d.factor == 4 and d.image.shape[:2] == (25, 35) and int(d.image[5, 5, 0]) == 128
    separate = sequential_jpeg(140, 100, interleaved=False)
    assert decode_bytes(separate, "n.jpg").image.shape == (100, 140, 3)
    with pytest.raises(ImageTooLarge, match=r"140x100 = 0 MP \(limit 0 MP for a progressive, lossless or multi-scan"):
        decode_bytes(separate, "n.jpg", max_pixels=3_000)


def test_a_progressive_jpeg_is_reduced_only_as_far_as_other_formats():
    """libjpeg decodes a sequential JPEG reduced a band at a time, but keeps every coefficient of a progressive
    one (two bytes a sample, whatever the reduction): a 1.7 MB progressive 20000×15000 file took ``recognize``
    to 1 GB (a 768 MP one, under the JPEG limit, to about 2.3 GB: a Pi's whole memory, in a camera folder too).
    Over 49 MP it is refused from its header, as a PNG is; a sequential one that size is still decoded reduced."""
    from edge_agent.camera.decode import ImageTooLarge, _plan

    with pytest.raises(ImageTooLarge, match=r"20000x15000 = 300 MP \(limit 49 MP for a progressive, lossless or multi-scan JPEG\)"):
        decode_bytes(_sized_jpeg(True, 20000, 15000), "p.jpg")
    assert _plan(_sized_jpeg(False, 20000, 15000), (20000, 15000), "b.jpg", 12_000_000) == (
        cv2.IMREAD_REDUCED_COLOR_8, 8)
    assert _plan(_sized_jpeg(True, 8000, 6000), (8000, 6000), "p.jpg", 12_000_000) == (cv2.IMREAD_REDUCED_COLOR_2, 2)


@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 7, 8])
def test_a_turned_tiff_is_read_upright_without_an_opencv_error(tmp_path, capfd, orientation):
    """``cv2.imread`` fails an internal check on a TIFF whose orientation tag turns it a quarter (5-8) and
    prints a four-line ``[ERROR]`` on stderr — on every such frame of a folder source, and above
    ``recognize``'s own lines — before the bytes were decoded right as a fallback."""
    from tests.perception.render import render_plate

    upright = render_plate("苏E12345D", "small_nev", scale=0.25)  # a green NEV plate: its colour must survive
    stored = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "scan.tif"
    Image.fromarray(cv2.cvtColor(upright, cv2.COLOR_BGR2RGB)).transpose(stored).save(p, exif=exif)
    capfd.readouterr()
    d = decode_file(p)
    assert d.image.shape == upright.shape
    assert np.array_equal(d.image, upright)  # lossless: the viewer's picture, pixel for pixel
    assert "ERROR" not in capfd.readouterr().err


@pytest.mark.parametrize("filler", [b"\xff\x00", b"\xff"])
def test_the_header_walk_past_megabytes_of_stuffed_or_fill_bytes_takes_no_seconds(filler):
    """The marker walk stepped through stuffed FF 00 pairs and fill FFs one Python iteration at a time: 32 MB of
    them before the SOF took 3.4 s (a file of the 256 MiB a camera folder's frame may be, half a minute of the
    reader's time). The regex engine finds the next marker: milliseconds. A bound far above that, far below 3 s."""
    import time

    data = _encoded(".jpg", 100, 140)
    at = data.find(b"\xff\xc0")
    odd = data[:at] + filler * ((32 << 20) // len(filler)) + data[at:]
    start = time.process_time()
    assert header_size(odd) == (140, 100)
    assert time.process_time() - start < 1.0


@pytest.mark.parametrize("head", [b"P6 %s 10\n255\n", b"P7\nWIDTH %s\nHEIGHT 2\nDEPTH 3\nMAXVAL 255\nENDHDR\n",
                                  b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %s +X 10\n"])
def test_a_header_number_of_thousands_of_digits_is_refused_not_a_traceback(head):
    """int() of over 4300 digits is Python's ValueError: a PPM, PAM or HDR header whose width had 5000 digits went
    out of ``decode_bytes`` as that, not as the ImageReadError its callers handle (``recognize``: a traceback)."""
    with pytest.raises(ImageReadError, match=r"holds no (size|WIDTH)"):
        decode_bytes(head % (b"9" * 5000) + bytes(30), "x")


def test_a_12_mp_phone_photo_is_decoded_whole_and_a_larger_one_reduced():
    """4032×3024 is what phones write by default; at a limit of 12_000_000 it was 12.2 MP, just over, and decoded
    at half size — a far car's plate lost half its pixels before the detector saw it. One more row: reduced."""
    flat = np.full((3024, 4032, 3), 90, np.uint8)
    ok, phone = cv2.imencode(".jpg", flat, [cv2.IMWRITE_JPEG_QUALITY, 50])
    d = decode_bytes(phone.tobytes(), "phone.jpg")
    assert d.image.shape == (3024, 4032, 3) and d.factor == 1 and d.warnings == ()
    ok, over = cv2.imencode(".jpg", np.full((3032, 4032, 3), 90, np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 50])
    assert decode_bytes(over.tobytes(), "over.jpg").factor == 2


@pytest.mark.parametrize("orientation, width, height", [(1, 201, 101), (6, 201, 101), (8, 99, 201), (6, 203, 201)])
def test_a_reduced_image_knows_the_files_own_size_turned_as_decoded(orientation, width, height):
    """Coordinates found in an image decoded at 1/``factor`` are multiplied back; libjpeg rounds each reduced side
    up (201 px at 1/8 is 26, whose edge times 8 is 208), so they are clipped to the file's own size, turned as
    the image is (EXIF 6 and 8 swap the sides). Near-square, the sides reduce alike: the smaller bounds both."""
    im = Image.fromarray(np.full((height, width, 3), 90, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    d = decode_bytes(buf.getvalue(), "r.jpg", max_pixels=1_000)
    assert d.factor == 8
    turned = (height, width) if orientation in (6, 8) else (width, height)
    assert d.image.shape[:2] == (-(-turned[1] // 8), -(-turned[0] // 8))
    assert d.size == (turned if -(-width // 8) != -(-height // 8) else (201, 201))
    assert decode_bytes(buf.getvalue(), "r.jpg").size == turned  # decoded whole: the image's own size
