"""A JPEG of thousands of tiny repeated scans: libjpeg decodes every scan over the whole image (warning about the
"inconsistent progression" and going on), so a 371 KB file of a flat 12 MP picture held a core 10 s, in the
camera's reader for a folder source, in ``recognize`` and ``eval``. Refused from its markers, before decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from edge_agent.camera.decode import MAX_SCANS, ImageReadError, decode_bytes, jpeg_scans
from edge_agent.camera.source import default_opener


def _progressive(w: int = 800, h: int = 600) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(out, "JPEG", quality=90, progressive=True)
    return out.getvalue()


def _with_scans(data: bytes, extra: int) -> bytes:
    """``data`` with its smallest scan repeated ``extra`` times before the end marker."""
    starts = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"]
    ends = starts[1:] + [data.rindex(b"\xff\xd9")]
    small = min((data[a:b] for a, b in zip(starts, ends)), key=len)
    return data[:ends[-1]] + small * extra + data[ends[-1]:]


def test_a_photo_of_ordinary_scans_is_decoded():
    plain = _progressive()
    assert 2 <= jpeg_scans(plain, MAX_SCANS + 1) <= 12
    assert decode_bytes(plain).image.shape == (600, 800, 3)
    assert decode_bytes(_with_scans(plain, MAX_SCANS - 20)).image.shape == (600, 800, 3)  # odd, not a bomb


def test_a_jpeg_of_thousands_of_scans_is_refused_before_decoding():
    bomb = _with_scans(_progressive(), 5000)
    with pytest.raises(ImageReadError, match="scans"):
        decode_bytes(bomb, "bomb.jpg")


def test_a_folder_source_skips_it_and_goes_on(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    (d / "000.jpg").write_bytes(_with_scans(_progressive(), 5000))
    (d / "001.jpg").write_bytes(_progressive())
    cap = default_opener(str(d), loop=False)()
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    assert [f is None for f in frames] == [True, False]
