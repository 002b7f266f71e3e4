"""Bad and unusual image files: each becomes a BGR uint8 frame or a clear ImageReadError."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_agent.perception.imageio import ImageReadError, read_image, read_image_scaled


def _scene(h: int = 60, w: int = 80) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (255, 0, 0)  # left half blue (BGR)
    return img


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.jpg")


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


def test_truncated_jpeg(tmp_path):
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8))
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(p)


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


def test_huge_image_is_decoded_reduced(tmp_path):
    p = tmp_path / "huge.jpg"
    cv2.imwrite(str(p), np.full((3000, 5000, 3), 120, np.uint8))  # 15 MP
    img, factor = read_image_scaled(p)
    assert factor == 2 and img.shape[:2] == (1500, 2500)
