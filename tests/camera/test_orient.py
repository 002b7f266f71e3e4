"""``camera.rotate`` / ``flip``: the frame turned as documented, and points mapped back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.camera.orient import FLIPS, ROTATIONS, Orientation, all_orientations

H, W = 5, 7


def _indexed() -> np.ndarray:
    """A frame whose pixel at (x, y) holds (x, y, 0): where each pixel came from stays readable."""
    ys, xs = np.mgrid[0:H, 0:W]
    return np.stack([xs, ys, np.zeros_like(xs)], axis=2).astype(np.uint8)


def test_rotate_is_clockwise_and_flip_comes_after_it():
    img = _indexed()
    turned = Orientation(90).apply(img)
    assert turned.shape[:2] == (W, H)
    assert tuple(turned[0, -1, :2]) == (0, 0)  # the camera's top-left is the top-right after a clockwise quarter
    assert tuple(Orientation(180).apply(img)[0, 0, :2]) == (W - 1, H - 1)
    assert tuple(Orientation(0, "horizontal").apply(img)[0, 0, :2]) == (W - 1, 0)
    assert tuple(Orientation(0, "vertical").apply(img)[0, 0, :2]) == (0, H - 1)
    assert tuple(Orientation(90, "horizontal").apply(img)[0, 0, :2]) == (0, 0)  # rotate, then mirror


@pytest.mark.parametrize("rotate", ROTATIONS)
@pytest.mark.parametrize("flip", FLIPS)
def test_points_of_the_turned_frame_map_back_to_the_pixel_they_came_from(rotate, flip):
    o = Orientation(rotate, flip)
    up = o.apply(_indexed())
    h, w = up.shape[:2]
    assert (w, h) == o.upright_size((W, H))
    uy, ux = np.mgrid[0:h, 0:w]
    back = o.to_camera(np.stack([ux.ravel(), uy.ravel()], axis=1), (w, h))
    assert np.array_equal(back.astype(int), up.reshape(-1, 3)[:, :2].astype(int))


def test_the_default_does_nothing_and_costs_no_copy():
    img = _indexed()
    assert Orientation().identity and Orientation().apply(img) is img


def test_a_view_has_one_key_however_it_is_spelt():
    assert Orientation(180, "horizontal").key == Orientation(0, "vertical").key
    assert Orientation(180, "vertical").key == Orientation(0, "horizontal").key
    keys = {o.key for o in all_orientations()}
    assert len(keys) == len(all_orientations()) == 8 and None in keys


@pytest.mark.parametrize("rotate, flip", [(45, "none"), (-90, "none"), (0, "both")])
def test_an_orientation_outside_the_settings_is_refused(rotate, flip):
    with pytest.raises(ValueError):
        Orientation(rotate, flip)
