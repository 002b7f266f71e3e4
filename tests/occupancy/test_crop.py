"""The one bay crop: the polygon rectified onto a square, the same way up whatever the corner order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.bays.crop import CROP_SIZE, bay_crop, bay_quad, patch_crop

SQUARE = [(150, 100), (250, 100), (250, 200), (150, 200)]


def _smooth_frame(h=400, w=600, seed=3):
    rng = np.random.default_rng(seed)
    noise = (rng.random((h, w, 3)) * 255).astype(np.float32)
    return np.clip((cv2.GaussianBlur(noise, (0, 0), 4) - 127) * 6 + 127, 0, 255).astype(np.uint8)


def test_crop_is_exactly_the_polygon():
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[100:200, 150:250] = (0, 0, 255)  # a red block filling the bay, black around it
    crop = bay_crop(frame, SQUARE)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    assert (crop[1:-1, 1:-1, 2] > 200).all() and (crop[1:-1, 1:-1, :2] < 30).all()


def test_rotated_bay_is_rectified_without_its_neighbours():
    frame = np.full((400, 400, 3), 255, np.uint8)  # white all round: a neighbour's car, a kerb...
    rect = ((200.0, 200.0), (160.0, 80.0), 35.0)
    corners = cv2.boxPoints(rect)
    cv2.fillPoly(frame, [np.round(corners).astype(np.int32)], (40, 40, 40))
    crop = bay_crop(frame, [tuple(p) for p in corners])
    assert crop[3:-3, 3:-3].max() < 60  # nothing of the white surroundings inside
    box = bay_crop(frame, [(120, 120), (280, 120), (280, 280), (120, 280)])  # an axis-aligned cut would show it
    assert box.max() > 200


def test_corner_order_does_not_matter():
    frame = _smooth_frame()
    poly = [(200, 120), (330, 100), (340, 210), (190, 200)]
    want = bay_crop(frame, poly)
    for variant in (poly[1:] + poly[:1], poly[2:] + poly[:2], poly[::-1], poly[::-1][1:] + poly[::-1][:1]):
        assert np.array_equal(bay_crop(frame, variant), want)
    assert tuple(bay_quad(poly)[0]) == (200, 120)  # starts top-left, clockwise on screen
    assert tuple(bay_quad(poly)[1]) == (330, 100)


def test_other_polygons_use_their_min_area_rectangle():
    frame = _smooth_frame()
    octagon = [(150 + 50 + 50 * np.cos(a), 100 + 50 + 50 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 8, False)]
    assert bay_crop(frame, octagon).shape == (CROP_SIZE, CROP_SIZE, 3)
    assert bay_crop(frame, [(150, 100), (250, 100), (200, 200)]).shape == (CROP_SIZE, CROP_SIZE, 3)


def test_points_on_a_side_do_not_turn_the_crop():
    """An installer's extra click in the middle of an edge (or a dataset's contour with a point on a side) is
    the same bay: cropped by its four corners, not by a rotated rectangle around all five points."""
    frame = _smooth_frame()
    poly = [(200, 120), (330, 100), (340, 210), (190, 200)]
    on_side = [poly[0], (265.2, 109.8), *poly[1:]]  # 0.1 px off the top side
    assert np.array_equal(bay_crop(frame, on_side), bay_crop(frame, poly))
    pentagon = [poly[0], (265, 80), *poly[1:]]  # a real fifth corner, 25 px out: the min-area rectangle
    expected = cv2.boxPoints(cv2.minAreaRect(np.array(pentagon, np.float32)))
    assert {tuple(np.round(p, 1)) for p in bay_quad(pentagon)} == {tuple(np.round(p, 1)) for p in expected}


def test_polygon_off_the_frame_edge_repeats_the_border():
    frame = np.full((100, 100, 3), 77, np.uint8)
    crop = bay_crop(frame, [(60, 60), (120, 60), (120, 130), (60, 130)], size=32)
    assert crop.shape == (32, 32, 3) and (crop == 77).all()


def test_big_bay_is_smoothed_not_aliased():
    frame = np.zeros((1000, 1000, 3), np.uint8)
    frame[:, ::2] = 255  # one-pixel stripes: a naive 64-px sample would be all white or all black
    crop = bay_crop(frame, [(0, 0), (1000, 0), (1000, 1000), (0, 1000)])
    assert abs(float(crop[10:-10, 10:-10].mean()) - 127.5) < 10


@pytest.mark.parametrize("poly", [[(0, 0), (1, 1)], [(0, 0), (float("nan"), 1), (2, 2)], [],
                                  [(0, 0), (10, 0), (20, 0), (30, 0)]])
def test_bad_polygon_is_a_clear_error(poly):
    with pytest.raises(ValueError, match="polygon"):
        bay_crop(np.zeros((10, 10, 3), np.uint8), poly)


def test_patch_crop_resizes_and_keeps_grey_patches_working():
    patch = np.full((150, 150), 90, np.uint8)  # greyscale patch
    out = patch_crop(patch)
    assert out.shape == (CROP_SIZE, CROP_SIZE, 3) and (out == 90).all()
    assert patch_crop(np.zeros((190, 60, 3), np.uint8), size=40).shape == (40, 40, 3)


def test_patch_and_frame_crops_agree_for_the_same_pixels():
    """A patch cut from a frame along the bay gives the same crop as the frame itself."""
    frame = _smooth_frame()
    poly = [(200, 100), (330, 100), (330, 200), (200, 200)]
    a = bay_crop(frame, poly).astype(int)
    b = patch_crop(frame[100:200, 200:330]).astype(int)
    assert np.abs(a - b).mean() < 1.5
