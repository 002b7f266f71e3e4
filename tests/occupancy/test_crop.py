"""The one bay crop: where it looks, how big it is, what it does at the frame's edge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.bays.crop import CROP_SIZE, MARGIN, MAX_ASPECT, bay_crop, crop_box, patch_crop


def test_box_is_the_polygon_bbox_widened_by_the_margin():
    x0, y0, x1, y1 = crop_box([(100, 100), (200, 100), (200, 180), (100, 180)])
    assert (x1 - x0) == pytest.approx(100 * (1 + 2 * MARGIN))
    assert (y1 - y0) == pytest.approx(80 * (1 + 2 * MARGIN))
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((150, 140))


def test_long_bay_box_is_widened_to_the_aspect_limit_not_squared():
    x0, y0, x1, y1 = crop_box([(0, 0), (400, 0), (400, 50), (0, 50)])  # a side-on bay, 8:1
    assert (x1 - x0) / (y1 - y0) == pytest.approx(MAX_ASPECT)


def test_crop_shows_what_is_inside_the_polygon():
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[100:200, 150:250] = (0, 0, 255)  # a red block exactly in the bay
    crop = bay_crop(frame, [(150, 100), (250, 100), (250, 200), (150, 200)])
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    c = CROP_SIZE // 2
    assert tuple(crop[c, c]) == (0, 0, 255)
    assert tuple(crop[1, 1]) == (0, 0, 0)  # the margin shows the surroundings
    inner = crop[:, :, 2] > 128  # the bay fills 1 / (1 + 2 * MARGIN) of the crop each way
    assert inner.mean() == pytest.approx((1 / (1 + 2 * MARGIN)) ** 2, abs=0.04)


def test_polygon_at_the_frame_edge_repeats_the_border():
    frame = np.full((100, 100, 3), 77, np.uint8)
    crop = bay_crop(frame, [(60, 60), (120, 60), (120, 130), (60, 130)], size=32)
    assert crop.shape == (32, 32, 3) and (crop == 77).all()


def test_big_bay_is_smoothed_not_aliased():
    frame = np.zeros((1000, 1000, 3), np.uint8)
    frame[:, ::2] = 255  # one-pixel stripes: a naive 64-px sample would be all white or all black
    crop = bay_crop(frame, [(0, 0), (999, 0), (999, 999), (0, 999)])
    assert abs(float(crop[10:-10, 10:-10].mean()) - 127.5) < 10


@pytest.mark.parametrize("poly", [[(0, 0), (1, 1)], [(0, 0), (float("nan"), 1), (2, 2)]])
def test_bad_polygon_is_a_clear_error(poly):
    with pytest.raises(ValueError, match="polygon"):
        bay_crop(np.zeros((10, 10, 3), np.uint8), poly)


def test_patch_crop_resizes_and_keeps_grey_patches_working():
    patch = np.full((150, 150), 90, np.uint8)  # greyscale patch
    out = patch_crop(patch)
    assert out.shape == (CROP_SIZE, CROP_SIZE, 3) and (out == 90).all()
    tall = np.zeros((190, 60, 3), np.uint8)
    tall[:, :] = (10, 200, 10)
    assert patch_crop(tall, size=40).shape == (40, 40, 3)


def test_patch_and_frame_crops_agree_for_the_same_pixels():
    """A patch cut from a frame at the crop box gives the same crop as the frame itself."""
    rng = np.random.default_rng(3)
    noise = (rng.random((400, 600, 3)) * 255).astype(np.float32)
    frame = np.clip((cv2.GaussianBlur(noise, (0, 0), 4) - 127) * 6 + 127, 0, 255).astype(np.uint8)
    poly = [(200, 100), (330, 100), (330, 200), (200, 200)]
    x0, y0, x1, y1 = (round(v) for v in crop_box(poly))
    patch = frame[y0:y1, x0:x1]
    a, b = bay_crop(frame, poly).astype(int), patch_crop(patch).astype(int)
    assert np.abs(a - b).mean() < 3
