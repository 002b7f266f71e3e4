"""The outside probe, replayed against the real ``edge-agent run`` and a real mosquitto.

The probe's config had a bay polygon of NaN points: ``check-config`` said ok, the bay's mask held no
pixel, it read "free" for ever, and a remote MQTT ``lock`` replied ``ok: true, "raising"`` while the
simulated arm rose under the parked car. NaN is now refused at the config (tests/config/test_finite.py);
here the same blindness comes from a valid config: a bay that lies outside the camera's frame (no
camera size configured, so nothing can check it before frames arrive). The agent must refuse with a
reason code, and the arm must stay down; a bay the camera does see still rises on command.

Bay B lies in the frame, but sun glare burns it out in every frame (the rest of the view is fine, so the camera is
healthy): the classifier reads such a crop as an empty bay, so the evidence must say the bay cannot be seen.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.sim.synthetic import BAYS, Scene, render
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import Subscriber, wait_until
from tests.runtime.running_agent import Backend, RunningAgent

PREFIX, REPLIES = "edge/s1/cam1", "backend/replies"


def _config(tmp: Path, port: int, models: Path) -> Path:
    (tmp / "frames").mkdir()
    empty = render(Scene()).copy()  # the rendered stills are cached read-only
    cv2.fillPoly(empty, [np.array(BAYS["B"], np.int32)], (255, 255, 255))  # glare over bay B
    rng = np.random.default_rng(7)
    for i in range(10):  # a live camera's sensor noise: a picture repeated bit for bit is a hung camera's (stale)
        noisy = np.clip(empty.astype(np.int16) + rng.integers(-3, 4, empty.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp / "frames" / f"{i:04d}.jpg"), noisy)
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(tmp / "frames"), "fps": 5, "loop": True},  # no width / height
        "bays": [{"id": "A", "polygon": [list(p) for p in BAYS["A"]], "lock_id": "LA"},
                 {"id": "B", "polygon": [list(p) for p in BAYS["B"]], "lock_id": "LB"},
                 {"id": "OUT", "polygon": [[2000, 100], [2400, 100], [2400, 400], [2000, 400]], "lock_id": "LO"}],
        "locks": [{"id": lk, "driver": "simulator", "simulator": {"travel_time_s": 0.5, "start": "down"}}
                  for lk in ("LA", "LB", "LO")],
        "mqtt": {"enabled": True, "brokers": [f"mqtt://127.0.0.1:{port}"]},
        "perception": {"models_dir": str(models)},
        "data_dir": str(tmp / "data"),
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.broker
def test_remote_lock_on_a_bay_the_camera_cannot_see_is_refused(tmp_path: Path, broker, models_dir: Path) -> None:  # noqa: F811
    config = _config(tmp_path, broker.port, models_dir)
    sub = Subscriber(broker.port, [f"{PREFIX}/#", f"{REPLIES}/#"]).start()
    ask = Backend(sub, PREFIX, REPLIES).ask
    agent = RunningAgent(config, tmp_path / "agent.log")
    try:
        sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online", timeout=60)
        # bay A: once it is seen free, confidently, for auto_raise_delay_s (30 s, as every raise), a remote lock
        # raises it (the rule is not "never"); the policy's own raise falls due then too ("already …")
        first = ask("lock", bay="A", reason="night", operator="ops")
        # (OUT and B before A is watched free: past auto_raise_delay_s the policy says its own held raise of OUT)
        # bay OUT: the state says "free", but the camera sees no pixel of it
        state = sub.wait_for(f"{PREFIX}/bays/OUT/state", lambda m: m.json()["state"] == "free").json()
        r = ask("lock", bay="OUT", reason="night", operator="ops")
        assert (r["ok"], r["code"], r["data"].get("code")) == (False, "refused", "mask_empty"), r
        refused = sub.wait_for(f"{PREFIX}/events", lambda m: m.json()["type"] == "lock_refused"
                               and m.json()["bay_id"] == "OUT").json()
        assert refused["data"]["code"] == "mask_empty" and refused["data"]["operator"] == "ops"
        assert state["lock"] == "down"
        # bay B: in the frame, but the camera shows nothing of it
        r = ask("lock", bay="B", reason="night", operator="ops")
        assert (r["ok"], r["code"]) == (False, "refused") and r["data"].get("code") in ("bay_flat", "bay_clipped"), r
        asked = [time.monotonic()]

        def raised() -> dict | None:  # a backend retrying once a second, not 50 times (30 s of them: ~1500 asks)
            if time.monotonic() - asked[0] < 1.0:
                return None
            asked[0] = time.monotonic()
            r = ask("lock", bay="A", reason="night", operator="ops")
            return r if r["ok"] else None

        ra = wait_until(raised, timeout=30 + 30, what="bay A to be seen free for the delay and raised")
        assert ra["message"] in ("raising", "already raising", "already up"), ra
        sub.wait_for(f"{PREFIX}/events", lambda m: m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "A"
                     and m.json()["data"]["state"] == "up", timeout=20)
        assert first["ok"] or first["data"].get("code") in ("occupancy_stale", "occupancy_unsure", "bay_unknown"), first
    finally:
        rc = agent.stop(15)
        sub.stop()
    assert rc == 0, agent.log_tail()
    moved_out = [m.json()["data"]["state"] for m in sub.on(f"{PREFIX}/events")
                 if m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "OUT"]
    assert moved_out == ["down"], moved_out  # read from the switches at start-up; never moving, never up
    moved_b = [m.json()["data"]["state"] for m in sub.on(f"{PREFIX}/events")
               if m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "B"]
    assert moved_b == ["down"], moved_b
