"""``camera.masks`` in a config without ``camera.width`` / ``height``: they are pixels of the size the agent learned
from the frames, and the installer's Save on a picture of another size scales them as it does under a configured
size. Before (probe leftovers29), with the camera switched from its 960x540 stream to a 4:3 640x480 one (the bays
blind until redrawn), the Save of the bays redrawn on the new picture failed: the masks were kept as drawn, one past
640 px ("camera.masks[0] … outside the 640x480 camera frame"), the page with no way to fix it; one inside the new
frame covered other pixels than the camera's text."""

from __future__ import annotations

import cv2
import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import BAY_A, BAY_B, render
from edge_agent.web.auth import UsersFile
from tests.locks.test_reload_sensors import NoPlates
from tests.web.conftest import PASSWORD
from tests.web.test_installer_shift import _installer

LABEL = [[700.0, 20.0], [940.0, 20.0], [940.0, 60.0], [700.0, 60.0]]  # the camera's name, top right, on 960x540


def test_a_save_at_another_size_scales_masks_drawn_on_the_learned_size(tmp_path, clock):  # noqa: ANN001
    data = scene_config(str(tmp_path / "data"), web={"enabled": True, "port": 0, "users_file": "users.txt",
                                                     "session_secret_file": "secret.key"}).model_dump(mode="json")
    data["camera"].update(width=None, height=None, masks=[LABEL])  # the size learned from the frames
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    UsersFile(tmp_path / "users.txt").set("admin", PASSWORD)
    sub = cv2.resize(render(EMPTY), (640, 480), interpolation=cv2.INTER_AREA)  # the 4:3 sub-stream
    parts = assemble(load_config(path), clock=clock,
                     source=ScriptedSource(hold(3, render(EMPTY)) + hold(600, sub), clock))
    parts.agent.reader = NoPlates()
    parts.agent.start()
    try:
        run_scripted(parts.agent.step, clock, 8, 5)
        assert parts.agent.bays_size() == (960, 540) and parts.agent.camera_moved  # learned; another shape: blind
        c, shown, _ = _installer(parts)
        kx, ky = 640 / 960, 480 / 540
        bays = [{"id": i, "polygon": [[round(x * kx, 1), round(y * ky, 1)] for x, y in poly]}  # redrawn on it
                for i, poly in (("A", BAY_A), ("B", BAY_B))]
        r = c.post("/installer", json={"bays": bays, "size": [640, 480], "picture": shown.get("picture")},
                   headers={"X-CSRF-Token": shown["csrf"]})
        assert r.status_code == 200 and r.json()["ok"], r.json()  # was 422: the mask past 640 px
        masks = [[list(p) for p in m] for m in load_config(path).camera.masks]
        assert masks == [[[466.7, 17.8], [626.7, 17.8], [626.7, 53.3], [466.7, 53.3]]]
        assert [[list(p) for p in m] for m in parts.agent.cfg.camera.masks] == masks  # the agent runs them
    finally:
        parts.agent.stop()
