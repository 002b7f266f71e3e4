"""``edge-agent review``'s installer picture is the frame as the running agent's bays see it.

Why: review mode opened the camera and stored its raw frame. Under a 4K camera with bays drawn on
960x540, the installer page showed the bays in the picture's top-left corner and one Save (nothing
moved) wrote ``camera.width`` 3840 under the old polygons; under a camera hung on its side
(``camera.rotate: 90``) the page showed the bays over the unturned picture and every save was refused."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore
from edge_agent.perception.lists import PlateLists
from edge_agent.sim.scenario import scene_config
from edge_agent.web.offline import OfflineControl


def _camera_picture(path, size: tuple[int, int]) -> None:
    """A grey frame with a white block in its top-left corner (where the camera's first pixels are)."""
    img = np.full((size[1], size[0], 3), 90, np.uint8)
    img[: size[1] // 4, : size[0] // 4] = 255
    Image.fromarray(img).save(path, quality=95)


@pytest.mark.parametrize(("camera", "settings", "stored", "white"), [
    ((3840, 2160), {"width": 960, "height": 540}, (960, 540), (5, 5)),  # scaled to the bays' size
    # rotate 90 (clockwise) puts the camera's top-left corner at the top right
    ((960, 540), {"width": 540, "height": 960, "rotate": 90}, (540, 960), (534, 5)),
    ((640, 480), {"width": 960, "height": 540}, (640, 480), (5, 5)),  # another aspect ratio: as it is (redraw)
])
def test_review_snapshot_is_turned_and_scaled_as_the_agent_sees_it(tmp_path, camera, settings, stored, white):
    (tmp_path / "cam").mkdir()
    _camera_picture(tmp_path / "cam" / "0001.jpg", camera)
    cfg = scene_config(str(tmp_path / "data"))
    cfg.camera.source = str(tmp_path / "cam")
    for key, value in settings.items():
        setattr(cfg.camera, key, value)
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    store = EvidenceStore(tmp_path / "data" / "evidence", clock)
    try:
        eid = OfflineControl(cfg, store, PlateLists([], []), clock).snapshot(None)
        with Image.open(io.BytesIO(store.image_path(eid).read_bytes())) as img:
            assert img.size == stored
            grey = np.asarray(img.convert("L"))
            assert grey[white[1], white[0]] > 200 and grey[stored[1] - 5, 5] < 120
    finally:
        store.close()


@pytest.mark.parametrize(("lang", "said", "not_said"), [
    ("zh", "摄像头没有送来画面", "no frame from the camera"), ("en", "no frame from the camera", "摄像头没有送来画面")])
@pytest.mark.parametrize("path", ["/installer", "/installer/teach"])
def test_a_camera_that_sends_no_picture_is_said_in_the_page_s_language(site, tmp_path, lang, said, not_said, path):
    """``edge-agent review`` on a camera that sends nothing (or an agent with no frame yet): the Chinese installer
    and teach pages said "无法获取摄像头画面: no frame from the camera (camera.source; …)" (probe newuser40)."""
    import yaml

    from tests.web.test_api import logged_in, token

    raw = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    raw["camera"]["source"] = str(tmp_path / "empty")  # a camera folder that holds no frame
    (tmp_path / "empty").mkdir()
    site.config_path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    c = logged_in(site)
    ctx = c.app.state.ctx
    ctx.control = OfflineControl(ctx.cfg, ctx.store, PlateLists([], []), site.clock)  # as `review` runs it
    if lang == "en":
        c.post("/lang", data={"lang": "en", "next": "/violations", "csrf": token(c, "/violations")})
    page = c.get(path).text
    assert said in page and not_said not in page
    assert "edge-agent doctor" in page  # the way on, in both
