"""A camera that resends its buffer after a reconnect, against the real ``edge-agent run`` and a real mosquitto.

Probe lock39: the camera's stream dropped for a few seconds, a car parked in bay B meanwhile, and on reconnect the
camera sent again the frames it had sent before the drop (bay B empty) for 30 s, at the live pace, before live
frames. Each resent frame was judged fresh, confident evidence of an empty bay: a remote ``lock`` raised the arm
under the car (and the policy would have at ``auto_raise_delay_s``). A picture sent again is as old as its first
arrival (``camera.source.Shown``): no raise on it, by command or by the policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_agent.sim.scenario import FUEL, Scene
from edge_agent.sim.synthetic import BAYS, H, W
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import Subscriber, wait_until
from tests.runtime.resending_camera import ResendingCamera
from tests.runtime.running_agent import Backend, RunningAgent

PREFIX, REPLIES = "edge/s1/cam1", "backend/replies"


def _config(tmp: Path, url: str, port: int, models: Path, auto_raise: bool = True) -> Path:
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": url, "fps": 5, "width": W, "height": H, "reconnect_min_s": 0.5, "reconnect_max_s": 1},
        "bays": [{"id": b, "polygon": [list(p) for p in BAYS[b]], "lock_id": f"L{b}"} for b in ("A", "B")],
        "locks": [
            {
                "id": f"L{b}",
                "driver": "simulator",
                "auto_raise_delay_s": 20,
                "policy": {"auto_raise": auto_raise},
                "simulator": {"travel_time_s": 0.5, "start": "down"},
            }
            for b in ("A", "B")
        ],
        "mqtt": {"enabled": True, "brokers": [f"mqtt://127.0.0.1:{port}"]},
        "perception": {"models_dir": str(models)},
        "data_dir": str(tmp / "data"),
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.broker
def test_frames_resent_after_a_reconnect_raise_no_arm_over_the_car_parked_meanwhile(
    tmp_path: Path,
    broker,  # noqa: F811
    models_dir: Path,
) -> None:
    cam = ResendingCamera(fps=5)
    sub = Subscriber(broker.port, [f"{PREFIX}/#", f"{REPLIES}/#"]).start()
    ask = Backend(sub, PREFIX, REPLIES).ask

    config = _config(tmp_path, cam.url, broker.port, models_dir)
    agent = RunningAgent(config, tmp_path / "agent.log")
    replies = []
    try:
        sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online", timeout=120)
        sub.wait_for(f"{PREFIX}/bays/B/state", lambda m: m.json()["state"] == "free", timeout=30)
        cam.sent_live.clear()
        wait_until(lambda: len(cam.sent_live) >= 40, timeout=30, what="8 s of live, empty frames to resend")
        cam.drop()
        cam.scene = Scene(cars=(FUEL,))  # a car parks in B while the stream is down (the arm is down)
        sub.wait_for(f"{PREFIX}/events", lambda m: m.json()["type"] == "camera_lost", timeout=20)
        cam.resend(8, times=4)  # 32 s of the frames of before the drop, then live
        while not cam.live_again.is_set():  # a backend asking for the arm all the while
            n = cam.resent
            if n:
                replies.append(ask("lock", bay="B", reason="night", operator="ops"))
            wait_until(lambda n=n: cam.resent >= n + 5 or cam.live_again.is_set(), timeout=10, what="a resent second")
        wait_until(
            lambda: any(m.json()["type"] == "vehicle_arrived" for m in sub.on(f"{PREFIX}/events")),
            timeout=30,
            what="the car seen once the frames are live",
        )
    finally:
        rc = agent.stop()
        sub.stop()
        cam.close()
    assert rc == 0, agent.log_tail()
    assert len(replies) >= 25, len(replies)  # one a second of the resend
    assert not [r for r in replies if r["ok"]], [r for r in replies if r["ok"]][:3]
    assert all(r["data"].get("code") for r in replies), replies[:3]
    assert "moving/up" not in b_moves(sub), b_moves(sub)  # neither the command nor the policy raised it


def b_moves(sub: Subscriber) -> list[str]:
    return [
        m.json()["data"]["state"] + "/" + m.json()["data"].get("direction", "")
        for m in sub.on(f"{PREFIX}/events")
        if m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "B"
    ]


@pytest.mark.broker
def test_a_buffer_resent_to_a_restarted_agent_raises_no_arm_over_the_car_parked_while_it_was_down(
    tmp_path: Path,
    broker,  # noqa: F811
    models_dir: Path,
) -> None:
    """An agent restarted (an update, a crash) while a car parked, whose camera or NVR then sends its buffer of before
    (the bay empty) to the new connection: with the resent-picture memory (``camera.source.Shown``) in memory only,
    none of those pictures was known, and 36 s of them at the live pace raised the arm under the car (probe locks40:
    the policy's raise, ``auto_raise_delay_s`` 20 s, and every ``lock`` after it "already up"). Kept on file, they
    are as old as before the start."""
    cam = ResendingCamera(fps=5)
    sub = Subscriber(broker.port, [f"{PREFIX}/#", f"{REPLIES}/#"]).start()
    ask = Backend(sub, PREFIX, REPLIES).ask
    # the run before: it sees 38 s of the empty bay (its policy raises nothing: the arm stays down for the car)
    agent = RunningAgent(_config(tmp_path, cam.url, broker.port, models_dir, auto_raise=False), tmp_path / "1.log")
    try:
        sub.wait_for(f"{PREFIX}/bays/B/state", lambda m: m.json()["state"] == "free", timeout=120)
        cam.sent_live.clear()
        wait_until(lambda: len(cam.sent_live) >= 5 * 38, timeout=60, what="38 s of live, empty frames to resend")
    finally:
        rc = agent.stop()
    assert rc == 0, agent.log_tail()
    cam.drop()
    cam.scene = Scene(cars=(FUEL,))  # a car parks in B while the agent is down (the arm is down)
    cam.resend(36)  # 36 s of the frames of before, once, then live
    said = len(sub.on(f"{PREFIX}/status"))
    agent = RunningAgent(_config(tmp_path, cam.url, broker.port, models_dir), tmp_path / "2.log")
    replies = []
    try:
        wait_until(
            lambda: any(m.json()["state"] == "online" for m in sub.on(f"{PREFIX}/status")[said:]),
            timeout=120,
            what="the restarted agent online",
        )
        while not cam.live_again.is_set():  # a backend asking for the arm all the while
            replies.append(ask("lock", bay="B", reason="night", operator="ops"))
            n = cam.resent
            wait_until(lambda n=n: cam.resent >= n + 5 or cam.live_again.is_set(), timeout=10, what="a resent second")
        wait_until(
            lambda: any(m.json()["type"] == "vehicle_arrived" for m in sub.on(f"{PREFIX}/events")),
            timeout=30,
            what="the car seen once the frames are live",
        )
    finally:
        rc = agent.stop()
        sub.stop()
        cam.close()
    assert rc == 0, agent.log_tail()
    assert not [r for r in replies if r["ok"]], [r for r in replies if r["ok"]][:3]
    assert "moving/up" not in b_moves(sub), b_moves(sub)  # neither the command nor the policy raised it
