"""The installer's masks filled in (``camera/masks.py``): by the found clock's rule, on every pixel of the polygon
and only there, whatever its shape; and the share of each bay they cover."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.camera.masks import MASK_SHARE, MaskFill, covered_shares, under_masks
from edge_agent.camera.overlay import PAD, fill
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import BAYS, render


@pytest.mark.parametrize("box", [(100, 250, 400, 450), (0, 0, 300, 20), (700, 500, 960, 540)])
def test_a_box_is_filled_as_a_found_clock_is(box: tuple[int, int, int, int]) -> None:
    """One rule for both (``overlay.fill``), at the frame's edge too (drawn from the one edge it has)."""
    img = render(EMPTY)
    x0, y0, x1, y1 = box
    poly = [(x0, y0), (x1 - 1, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)]
    got = MaskFill([poly], img.shape[:2]).apply(img)
    assert np.array_equal(got, fill(img, [box])) and not np.array_equal(got, img)
    grey = img[:, :, 1].copy()  # a grey frame: the same
    assert np.array_equal(MaskFill([poly], grey.shape).apply(grey), fill(grey, [box]))


def test_text_under_a_slanted_mask_is_gone_and_the_rest_is_as_sent() -> None:
    img = render(EMPTY).copy()
    cv2.putText(img, "CAM 07", (120, 400), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (255, 255, 255), 6, cv2.LINE_AA)
    slanted = [(100, 330), (420, 300), (440, 420), (110, 440)]  # a quadrilateral, no box
    got = MaskFill([slanted, [(300, 320), (330, 320), (330, 335)]], img.shape[:2]).apply(img)  # overlapping another
    inside = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.array(slanted, np.int32)], 1)
    near = cv2.dilate(inside, np.ones((2 * PAD + 1,) * 2, np.uint8)).astype(bool)
    assert (img[inside.astype(bool)].min(axis=-1) > 240).sum() > 500  # the text's strokes, before
    assert (got[near].min(axis=-1) > 240).sum() == 0  # none left
    assert np.array_equal(got[~near], img[~near])


def test_nothing_masked_is_the_frame_itself() -> None:
    img = render(EMPTY)
    assert MaskFill([], img.shape[:2]).apply(img) is img
    assert MaskFill([[(0, 0), (960, 0), (960, 540), (0, 540)]], img.shape[:2]).apply(img).tobytes() == img.tobytes()


def test_the_share_of_each_bay_under_the_masks() -> None:
    top = [(0, 190), (960, 190), (960, 205), (0, 205)]  # a text line along both bays' far edge
    shares = covered_shares(BAYS, [top])
    assert set(shares) == {"A", "B"} and all(0 < s < MASK_SHARE for s in shares.values())
    assert under_masks(BAYS, [top]) == {}
    half = [(60, 365), (470, 365), (470, 530), (30, 530)]
    assert under_masks(BAYS, [top, half]).keys() == {"A"} and 0.5 < under_masks(BAYS, [half])["A"] < 0.56
    assert covered_shares(BAYS, [[(0, 0), (50, 0), (0, 50)]]) == {}


def test_overlapping_masks_fill_their_union() -> None:
    """Two boxes overlapping by half are one box filled (drawn together, OpenCV's fill left their overlap a hole)."""
    img = render(EMPTY)
    both = [[(100, 250), (299, 250), (299, 449), (100, 449)], [(200, 250), (399, 250), (399, 449), (200, 449)]]
    assert np.array_equal(MaskFill(both, img.shape[:2]).apply(img), fill(img, [(100, 250, 400, 450)]))
    assert covered_shares(BAYS, both) == covered_shares(BAYS, [[(100, 250), (399, 250), (399, 449), (100, 449)]])
