"""Issue 10 §2: the province slot's own confidence, a second look when uncertain, and the
site's priority provinces used only then."""

from __future__ import annotations

import cv2
import numpy as np
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


class _NoLeftLook:
    """The real recogniser whose larger look at the left third reads no province — as on plates-dev's 粤 plates
    at JPEG quality 30 (粤BK33E3, 粤BW44R6), where the main read then said 鄂 complete. Counts whole-plate reads."""

    def __init__(self, real) -> None:
        self.real = real
        self.reads = 0

    def read(self, crops):
        self.reads += 1
        return self.real.read(crops)

    def read_padded(self, crops):
        return [("", 0.0, ())] * len(crops)


def _jpeg(img, quality):
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def test_a_close_province_call_takes_a_deblocked_look(models_dir):
    """Real model: a re-compressed photo's close call (鄂 0.43 over 粤 0.18, the measured ranking of a JPEG q30
    粤BK33E3) with no province from the larger look is decided with the plate read again from the smoothed
    frame; without that look the first read's 鄂 stood."""
    pipe = Pipeline.from_config(PerceptionConfig(threads=2), models_dir)
    scene, truth = render_scene(render_plate("粤BK33E3", "blue"), seed=3, frame=(960, 540), plate_width=100)
    rec = _NoLeftLook(pipe.recognizer)
    close = Read("鄂BK33E3", 0.8, (0.43,) + (0.95,) * 6, (("鄂", 0.43), ("粤", 0.18), ("皖", 0.02)))
    call = ProvinceReader(rec).call(_jpeg(scene, 30), truth, close)
    assert (call.province, call.source, rec.reads) == ("粤", "reread", 1)


def test_the_deblocked_look_is_only_for_a_close_call(models_dir):
    """A margin of 0.3 or more after the first read (and the larger look) is no close call: no third read."""
    pipe = Pipeline.from_config(PerceptionConfig(threads=2), models_dir)
    scene, truth = render_scene(render_plate("粤BK33E3", "blue"), seed=3, frame=(960, 540), plate_width=100)
    rec = _NoLeftLook(pipe.recognizer)
    fair = Read("鄂BK33E3", 0.8, (0.6,) + (0.95,) * 6, (("鄂", 0.6), ("粤", 0.25)))
    call = ProvinceReader(rec).call(_jpeg(scene, 30), truth, fair)
    assert (call.province, call.source, rec.reads) == ("鄂", "read", 0)


def test_the_deblocked_crop_is_the_plate_smoothed_under_a_pixel():
    """The third look's crop is the plate's own crop with 8×8 block edges softened: a one-pixel step at every
    8th column is mostly gone, a stroke-wide bar keeps most of its contrast."""
    frame = np.full((200, 400, 3), 100, np.uint8)
    frame[:, 8::8] = 160  # block edges: one-pixel steps
    frame[80:120, 200:206] = 250  # a stroke, 6 px wide
    corners = np.float32([[150, 80], [318, 80], [318, 128], [150, 128]])  # 168×48: no resampling
    raw = rectify(frame, corners).astype(float)
    smooth = ProvinceReader(None)._deblocked(frame, corners).astype(float)
    edge, flat = raw[5, 2] - raw[5, 1], smooth[5, 2] - smooth[5, 1]  # column 2 of the crop is frame column 152
    assert raw[5, 2, 0] == 160 and flat[0] < 0.5 * edge[0]
    assert smooth[20, 53, 0] > 100 + 0.8 * 150  # the stroke's middle (frame column 203)
