"""``FrameSize``: which frame sizes the bays' polygons fit, and what is kept on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_agent.camera.frame_size import FILE, FrameSize

BAYS = [["A", [[10, 10], [100, 10], [100, 100], [10, 100]]]]


def frame(w: int, h: int) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


@pytest.mark.parametrize("w, h, fits, out", [
    (1920, 1080, True, (1920, 1080)),  # the bays' own size: the frame itself
    (1280, 720, True, (1920, 1080)),  # a sub-stream of the same view: scaled up
    (3840, 2160, True, (1920, 1080)),  # a 4K main stream: scaled down
    (1920, 1088, True, (1920, 1080)),  # an encoder that pads to 16 rows
    (1440, 1080, False, (1440, 1080)),  # 4:3: nothing fits, left as it is
    (704, 576, False, (704, 576)),  # PAL D1
])
def test_a_configured_size_scales_the_same_view_and_refuses_another_aspect(w, h, fits, out):
    fit = FrameSize((1920, 1080), BAYS).fit(frame(w, h))
    assert fit.fits is fits and fit.size == (w, h)
    assert (fit.image.shape[1], fit.image.shape[0]) == out


def test_the_first_size_is_learned_and_kept_for_these_bays_only(tmp_path):
    first = FrameSize(None, BAYS, None, tmp_path)
    assert first.learned and first.fit(frame(800, 600)).fits
    assert FrameSize(None, BAYS, None, tmp_path).fit(frame(1280, 720)).fits is False  # after a restart
    assert FrameSize(None, BAYS, "rotated", tmp_path).fit(frame(1280, 720)).fits  # another view: learned anew
    moved = [["A", [[11, 10], [100, 10], [100, 100], [10, 100]]]]
    redrawn = FrameSize(None, moved, None, tmp_path)
    assert redrawn.fit(frame(1280, 720)).fits and redrawn.expected == (1280, 720)
    assert json.loads((tmp_path / FILE).read_text())["size"] == [1280, 720]
    assert FrameSize((640, 480), BAYS, None, tmp_path).expected == (640, 480)  # the config wins


@pytest.mark.parametrize("text", ["", "{", '{"key": 1}', '{"size": [0, 5]}', '["x"]', '{"size": "ab"}'])
def test_an_unreadable_store_is_learned_again(tmp_path, text):
    (tmp_path / FILE).write_text(text)
    fs = FrameSize(None, BAYS, None, tmp_path)
    assert fs.expected is None and fs.fit(frame(640, 480)).fits and fs.expected == (640, 480)


def test_a_store_that_cannot_be_written_still_holds_the_size_for_this_run(tmp_path, caplog):
    (tmp_path / "blocked").write_text("a file where the folder should be")
    fs = FrameSize(None, BAYS, None, tmp_path / "blocked" / "camera")
    assert fs.fit(frame(640, 480)).fits and not fs.fit(frame(640, 360)).fits
    assert "camera frame size not saved" in caplog.text


def test_a_learned_size_belongs_to_the_bays_in_any_order_and_one_saved_in_the_old_order_is_kept(tmp_path):
    """As the reference picture (``registration.reference_key``): bays merely listed in another order are the same
    bays, and a size saved under the key written before 2026-12-04 (the config's order) is still read, re-keyed."""
    from edge_agent.camera.registration import reference_key

    bays = [["B", [[200, 10], [300, 10], [300, 100]]], *BAYS]  # out of id order
    FrameSize(None, bays, None, tmp_path).adopt((640, 480))
    assert FrameSize(None, list(reversed(bays)), None, tmp_path).expected == (640, 480)
    (tmp_path / FILE).write_text(json.dumps({"key": reference_key(None, bays, config_order=True), "size": [640, 480]}))
    assert FrameSize(None, bays, None, tmp_path).expected == (640, 480)
    assert json.loads((tmp_path / FILE).read_text())["key"] == reference_key(None, bays)
