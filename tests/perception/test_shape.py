"""Issue 10 §1: a read is a complete GA 36 plate, or an honest partial read with its gaps marked."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.detector import Detection
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.retry import widen
from edge_agent.perception.shape import PARTIAL_CONFIDENCE, agrees, plate_shape
from tests.perception.render import render_plate, render_scene


@pytest.mark.parametrize("read,complete,marked,missing", [
    ("渝A12345", True, "渝A12345", None),
    ("皖AD12345", True, "皖AD12345", None),
    ("渝A1234学", True, "渝A1234学", None),
    ("民航B9016", True, "民航B9016", None),
    ("使198476", True, "使198476", None),
    ("WJ07X0230", True, "WJ07X0230", None),
    ("A12345", False, "?A12345", "left"),      # province dropped
    ("AD12345", False, "?AD12345", "left"),    # NEV serial, province dropped (on a green plate)
    ("A1234学", False, "?A1234学", "left"),
    ("京X1234应急", True, "京X1234应急", None),  # the emergency plate: 8 characters, no NEV serial
    ("X1234应急", False, "?X1234应急", "left"),
    ("Q1234应急", False, "Q1234应急", None),  # no team code X / S nor a digit: no emergency plate
    ("12345", False, "??12345", "left"),       # province and letter dropped
    ("D1234", False, "??D1234", "left"),       # the lower row of a two-row plate alone
    ("渝A1234", False, "渝A1234?", "right"),   # last character dropped
    ("JBAB678", False, "?BAB678", None),       # a letter where the province is (津GAB678 at JPEG q15)
    ("IBMW005", False, "?BMW005", None),       # 辽BMW005 at JPEG q15
    ("DA1234学", False, "?A1234学", None),
    ("VL12345", True, "VL12345", None),        # letters lead the military shape only
    ("A123451", False, "A123451", None),       # no issuing letter after the first: no known shape
    ("渝AA2", False, "渝AA2", None),           # no known shape: partial, nothing to mark
    ("", False, "", None),
])
def test_shapes(read, complete, marked, missing):
    s = plate_shape(read)
    assert (s.complete, s.text, s.missing) == (complete, marked, missing)


def test_a_military_shape_that_is_also_an_nev_serial_is_partial():
    """Two letters + five digits whose letters are also an NEV serial (``AD00518``, ``GA13189``):
    the text cannot tell a military plate from an NEV plate that lost its province, and the
    pixels of a dark green plate say white — partial whatever the colour. A military text that
    is no NEV serial stays complete."""
    assert plate_shape("VA30093").text == "?VA30093" and not plate_shape("VA30093").complete
    assert plate_shape("AD00518").text == "?AD00518"
    assert plate_shape("VL30093").complete


def test_a_completion_must_extend_what_was_read():
    assert agrees(plate_shape("A12345"), "渝A12345")
    assert agrees(plate_shape("渝A1234"), "渝A12345")
    assert not agrees(plate_shape("A12345"), "渝B67890")
    assert not agrees(plate_shape("渝A1234"), "渝B98765")


@pytest.fixture(scope="module")
def pipeline(models_dir):
    return Pipeline.from_config(PerceptionConfig(threads=2), models_dir)


def test_corners_that_cut_the_province_off_are_retried_wider(pipeline):
    """Real models: the detector's corners start after the province (as on small plates);
    the retry widens to the left and finds the complete plate."""
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=3, frame=(1280, 720), plate_width=220)
    cut = widen(truth, left=-0.16)  # the left edge moved inside: province outside the crop
    shape = plate_shape("E12345")
    found = pipeline.completer.complete(scene, Detection(cut, (0, 0, 1, 1), 0.9), shape)
    assert found is not None and found[1][0] == "苏E12345"


@pytest.mark.parametrize("text,marked", [("A12345", "?A12345"), ("渝A1234", "渝A1234?")])
def test_a_plate_that_is_not_complete_is_reported_partial(pipeline, text, marked):
    """Nothing to complete it with (the physical plate lacks the character): a partial read,
    marked, confidence capped low, and never a list match."""
    scene, _ = render_scene(render_plate(text, "blue"), seed=5, frame=(1280, 720), plate_width=200)
    [r] = pipeline.process(scene)
    assert (r.text, r.complete) == (marked, False)
    assert r.confidence <= PARTIAL_CONFIDENCE
    assert len(r.char_confidences) == len(marked) and r.char_confidences[marked.index("?")] == 0.0
    assert r.to_json()["complete"] is False


def test_complete_reads_say_so_with_their_province_and_colour_confidence(pipeline):
    scene, _ = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    [r] = pipeline.process(scene)
    assert (r.text, r.complete, r.nev) == ("皖AD12345", True, True)
    assert 0.5 < r.province_confidence <= 1 and 0 < r.colour_confidence <= 1
    j = r.to_json()
    assert j["complete"] is True and j["province_confidence"] == round(r.province_confidence, 4)
    assert np.isfinite(j["colour_confidence"])
