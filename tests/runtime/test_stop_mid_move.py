"""SIGTERM while an arm is lowering: the consumer's last word on the lock is where the arm stopped, not ``moving``.

The stop switches the motor off (``LockManager.stop``), so the arm stands where it was when the agent stopped. Before
(note48, "Delivery"), the last lock event a backend got before ``offline`` said ``moving``, for as long as the agent
stayed down: a lock in motion for hours. Now the stop says what the switches show: an end it reached, or, between
them, a ``lock_fault`` ``position_unknown`` (the state ``fault``) — what the next start finds and says too.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.sim.synthetic import BAYS, Scene, render
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import Subscriber
from tests.runtime.running_agent import Backend, RunningAgent

PREFIX, REPLIES = "edge/s1/cam1", "backend/replies"


def _config(tmp: Path, port: int, models: Path) -> Path:
    (tmp / "frames").mkdir()
    empty = render(Scene()).copy()
    rng = np.random.default_rng(7)
    for i in range(10):  # a live camera's noise: a picture repeated bit for bit is a hung camera's
        noisy = np.clip(empty.astype(np.int16) + rng.integers(-3, 4, empty.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp / "frames" / f"{i:04d}.jpg"), noisy)
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(tmp / "frames"), "fps": 5, "loop": True},
        "bays": [{"id": "A", "polygon": [list(p) for p in BAYS["A"]], "lock_id": "LA"}],
        # a slow stroke: the stop lands in the middle of it
        "locks": [
            {
                "id": "LA",
                "driver": "simulator",
                "motor_timeout_s": 30,
                "simulator": {"travel_time_s": 20, "start": "up"},
            }
        ],
        "mqtt": {"enabled": True, "brokers": [f"mqtt://127.0.0.1:{port}"]},
        "perception": {"models_dir": str(models)},
        "data_dir": str(tmp / "data"),
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.broker
def test_sigterm_mid_lowering_leaves_the_arms_stopped_position_as_the_last_lock_event(
    tmp_path: Path,
    broker,  # noqa: F811
    models_dir: Path,
) -> None:
    config = _config(tmp_path, broker.port, models_dir)
    sub = Subscriber(broker.port, [f"{PREFIX}/#", f"{REPLIES}/#"]).start()
    agent = RunningAgent(config, tmp_path / "agent.log")
    try:
        sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online", timeout=60)
        r = Backend(sub, PREFIX, REPLIES).ask("unlock", bay="A", reason="nev", operator="ops")
        assert r["ok"], r
        sub.wait_for(
            f"{PREFIX}/events",
            lambda m: m.json()["type"] == "lock_moved" and m.json()["data"]["state"] == "moving",
            timeout=20,
        )
        rc = agent.stop(20)
        sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "offline", timeout=20)
    finally:
        agent.stop(5)
        sub.stop()
    assert rc == 0, agent.log_tail()
    said = [m.json() for m in sub.on(f"{PREFIX}/events") if m.json()["type"] in ("lock_moved", "lock_fault")]
    last = said[-1]
    assert (last["type"], last["data"].get("state")) != ("lock_moved", "moving"), said
    faults = [e for e in said if e["type"] == "lock_fault"]
    assert [f["data"]["code"] for f in faults] == ["position_unknown"], said
    assert faults[0]["data"]["switches"] == "neither"
    assert last["type"] == "lock_moved" and last["data"]["state"] == "fault", said
    # nothing saved as a fault: the next start reads the switches and lowers the arm owed to the operator at once
    latches = (tmp_path / "data" / "lock-latches.json").read_text()
    assert "position_unknown" not in latches
