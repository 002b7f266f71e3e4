"""Issue 10 §2: the province slot's own confidence, a second look when uncertain, and the
site's priority provinces used only then."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.province import ProvinceReader, fuse, left_part
from edge_agent.perception.recognizer import Read
from edge_agent.perception.rectify import rectify
from tests.perception.render import render_plate, render_scene


def read(*ranking):
    return Read(ranking[0][0] + "A12345", 0.9, (ranking[0][1],) + (0.9,) * 6, tuple(ranking))


def test_priority_province_never_overrules_a_confident_read():
    r = ProvinceReader(recognizer=None, priority=["湘"])
    call = r.call(None, None, read(("浙", 0.9), ("湘", 0.05)))
    assert (call.province, call.source) == ("浙", "read")


def test_priority_province_decides_an_uncertain_slot():
    r = ProvinceReader(recognizer=None, priority=["湘"])
    call = r.call(None, None, read(("浙", 0.45), ("湘", 0.40), ("新", 0.1)))
    assert (call.province, call.source, call.confidence) == ("湘", "priority", 0.40)


def test_uncertain_slot_without_a_priority_candidate_keeps_the_read():
    r = ProvinceReader(recognizer=None, priority=["渝"])
    call = r.call(None, None, read(("浙", 0.45), ("湘", 0.40)))
    assert call.province == "浙" and call.margin == pytest.approx(0.05)


def test_fuse_averages_rankings():
    ch, p = fuse((("浙", 0.5), ("湘", 0.4)), (("湘", 0.8),))[0]
    assert ch == "湘" and p == pytest.approx(0.6)


@pytest.mark.parametrize("bad", [["XX"], ["A"], ["渝", "港"]])
def test_priority_provinces_are_validated(bad):
    with pytest.raises(ValidationError, match="priority_provinces"):
        PerceptionConfig(priority_provinces=bad)


def test_priority_provinces_accepted_and_deduplicated():
    assert PerceptionConfig(priority_provinces=["渝", "渝", "川"]).priority_provinces == ["渝", "川"]


def test_province_reread_crop_reads_the_province(models_dir):
    """Real model: the left-third crop, read padded, ranks the rendered province first."""
    pipe = Pipeline.from_config(PerceptionConfig(threads=2), models_dir)
    scene, truth = render_scene(render_plate("渝A12345", "blue"), seed=2, frame=(1280, 720), plate_width=200)
    got = pipe.recognizer.read_padded([rectify(scene, left_part(truth), 72, 64)])[0]
    assert got.province_ranking[0][0] == "渝"


def test_an_over_confident_wrong_province_is_corrected_by_the_reread(models_dir):
    """Real model: the main read said 新 0.91 / 浙 0.05 (margin 0.86 — the recogniser is
    over-confident); the larger look at the left third reads 浙 and the fused ranking wins."""
    pipe = Pipeline.from_config(PerceptionConfig(threads=2), models_dir)
    scene, truth = render_scene(render_plate("浙A88888", "blue"), seed=6, frame=(1280, 720), plate_width=200)
    wrong = Read("新A88888", 0.9, (0.91,) + (0.99,) * 6, (("新", 0.91), ("浙", 0.05)))
    call = pipe.provinces.call(scene, truth, wrong)
    assert (call.province, call.source) == ("浙", "reread")
    confident = Read("新A88888", 0.9, (0.999,) + (0.99,) * 6, (("新", 0.999), ("浙", 0.0005)))
    assert pipe.provinces.call(scene, truth, confident).source == "read"  # no second look needed
