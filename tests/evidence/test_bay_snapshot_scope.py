"""A bay's snapshot shows the bay, as a visit's photo does (probe newuser36).

The live page's bay card shows the newer of the bay's visit photo and its snapshot, to every signed-in reviewer.
With ``evidence.photo: bay`` (the default) a visit's photo is the bay and a tenth around it, because the whole view
holds the neighbours' cars, their plates and passers-by: personal data the case does not need (PIPL's minimum scope).
A snapshot of one bay was still the whole camera frame, so one click on "take snapshot" showed reviewers what the
photos were cut to keep from them. It is cut the same way; ``photo: frame`` keeps the whole frame, and the
installer's own picture (no bay) stays whole — the bays are drawn on it."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore
from edge_agent.perception.lists import PlateLists
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import BAYS, H, W
from edge_agent.web.offline import OfflineControl


def _size(store: EvidenceStore, eid: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(store.image_path(eid).read_bytes())) as img:
        return img.size


def _bay_box(cfg, bay_id: str) -> tuple[float, float]:  # noqa: ANN001
    pts = np.asarray(next(b for b in cfg.bays if b.id == bay_id).polygon, dtype=float)
    return tuple(pts.max(axis=0) - pts.min(axis=0))  # type: ignore[return-value]


@pytest.mark.parametrize("photo", ["bay", "frame"])
def test_the_agents_bay_snapshot_is_cut_to_the_bay(pipeline, tmp_path, clock, photo):
    cfg = scene_config(str(tmp_path))
    cfg.evidence.photo = photo
    agent = Agent(
        cfg, clock=clock, source=ScriptedSource(hold(3, EMPTY) + hold(60, Scene(cars=(FUEL,))), clock), reader=pipeline
    )
    agent.start()
    try:
        run_scripted(agent.step, clock, 4, 5)
        bw, bh = _bay_box(cfg, "B")
        w, h = _size(agent.evidence, agent.snapshot("B"))
        if photo == "bay":  # the bay and its tenth each side, the caption's band above (no wider than the caption)
            assert w < W * 0.8 and bh < h < bh * 1.2 + H * 0.2, (w, h, bw, bh)
        else:
            assert (w, h) == (W, H)
        assert _size(agent.evidence, agent.snapshot(None)) == (W, H)  # the installer's picture: the whole view
    finally:
        agent.stop()


@pytest.mark.parametrize("photo", ["bay", "frame"])
def test_the_review_pages_bay_snapshot_is_cut_to_the_bay(tmp_path, photo):
    (tmp_path / "cam").mkdir()
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "cam" / "0001.jpg")
    cfg = scene_config(str(tmp_path / "data"))
    cfg.camera.source, cfg.evidence.photo = str(tmp_path / "cam"), photo
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    store = EvidenceStore(tmp_path / "data" / "evidence", clock)
    try:
        control = OfflineControl(cfg, store, PlateLists([], []), clock)
        bw, bh = _bay_box(cfg, "B")
        w, h = _size(store, control.snapshot("B"))
        if photo == "bay":  # the bay and up to a tenth each side (less where the frame ends)
            assert bw <= w <= bw * 1.2 + 2 and bh <= h <= bh * 1.2 + 2, (w, h, bw, bh)
        else:
            assert (w, h) == (W, H)
        assert _size(store, control.snapshot(None)) == (W, H)
    finally:
        store.close()


class _Narrow(ScriptedSource):
    """The camera switched to a 4:3 stream (640×480) under bays drawn on the 16:9 picture."""

    narrow = False

    def latest(self):  # noqa: ANN201
        import dataclasses

        import cv2

        f = super().latest()
        return dataclasses.replace(f, image=cv2.resize(f.image, (640, 480))) if f is not None and self.narrow else f


ON_THE_RIGHT = [[700, 200], [930, 200], [930, 530], [700, 530]]  # off a 640-wide picture


def test_a_bay_off_the_agents_picture_gives_no_whole_view_in_its_place(tmp_path, clock):
    """``around_bay`` hands back the whole frame when the bay is not on it: a bay card's snapshot on a camera that
    switched to a 4:3 stream (the bays blind until redrawn) was the whole view, every other car's plate, shown to
    every reviewer (probe review78). It is refused, nothing stored."""
    from edge_agent.control import ControlError

    cfg = scene_config(str(tmp_path), bays=[{"id": "A", "polygon": [list(p) for p in BAYS["A"]]},
                                            {"id": "B", "polygon": ON_THE_RIGHT}])
    source = _Narrow(hold(3, EMPTY) + hold(60, Scene(cars=(FUEL,))), clock)
    agent = Agent(cfg, clock=clock, source=source, reader=None)
    agent.start()
    try:
        run_scripted(agent.step, clock, 4, 5)
        source.narrow = True
        run_scripted(agent.step, clock, 1, 5)
        before = agent.evidence.total_bytes()
        with pytest.raises(ControlError, match="not in the camera's picture") as refused:
            agent.snapshot("B")
        assert refused.value.code == "bay_not_in_view" and agent.evidence.total_bytes() == before
        w, h = _size(agent.evidence, agent.snapshot("A"))  # a bay on the picture is cut to it
        assert w < 640 and h < 480 + 60, (w, h)
    finally:
        agent.stop()


def test_a_bay_off_the_review_pages_picture_gives_no_whole_view_in_its_place(tmp_path):
    """``edge-agent review`` with no ``camera.width`` / ``height``: the camera's picture is taken as it comes, and a
    bay drawn on a larger one lies off it — the bay card showed the whole view (probe review78)."""
    from edge_agent.control import ControlError

    (tmp_path / "cam").mkdir()
    Image.fromarray(np.full((360, 640, 3), 90, np.uint8)).save(tmp_path / "cam" / "0001.jpg")
    cfg = scene_config(str(tmp_path / "data"), camera={"source": str(tmp_path / "cam"), "width": None, "height": None},
                       bays=[{"id": "B", "polygon": ON_THE_RIGHT}])
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    store = EvidenceStore(tmp_path / "data" / "evidence", clock)
    try:
        control = OfflineControl(cfg, store, PlateLists([], []), clock)
        with pytest.raises(ControlError, match="not in the camera's picture") as refused:
            control.snapshot("B")
        assert refused.value.code == "bay_not_in_view" and store.total_bytes() == 0
        assert _size(store, control.snapshot(None)) == (640, 360)  # the installer's picture: whole
    finally:
        store.close()
