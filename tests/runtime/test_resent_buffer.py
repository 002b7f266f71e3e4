"""A camera that resends its buffer after a reconnect, against the real ``edge-agent run`` and a real mosquitto.

Probe lock39: the camera's stream dropped for a few seconds, a car parked in bay B meanwhile, and on reconnect the
camera sent again the frames it had sent before the drop (bay B empty) for 30 s, at the live pace, before live
frames. Each resent frame was judged fresh, confident evidence of an empty bay: a remote ``lock`` raised the arm
under the car (and the policy would have at ``auto_raise_delay_s``). A picture sent again is as old as its first
arrival (``camera.source.Shown``): no raise on it, by command or by the policy.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from edge_agent.sim.scenario import FUEL, Scene
from edge_agent.sim.synthetic import BAYS, H, W
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import Subscriber, wait_until
from tests.runtime.resending_camera import ResendingCamera

PREFIX, REPLIES = "edge/s1/cam1", "backend/replies"


def _config(tmp: Path, url: str, port: int, models: Path) -> Path:
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": url, "fps": 5, "width": W, "height": H, "reconnect_min_s": 0.5, "reconnect_max_s": 1},
        "bays": [{"id": b, "polygon": [list(p) for p in BAYS[b]], "lock_id": f"L{b}"} for b in ("A", "B")],
        "locks": [
            {
                "id": f"L{b}",
                "driver": "simulator",
                "auto_raise_delay_s": 20,
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
    corr = itertools.count()

    def ask(name: str, **body) -> dict:  # noqa: ANN003
        c = f"req-{next(corr)}".encode()
        body["ts"] = datetime.now(timezone.utc).isoformat()
        sub.request(f"{PREFIX}/cmd/{name}", body, REPLIES, c)
        return sub.wait_for(REPLIES, lambda m: m.props.CorrelationData == c, timeout=20).json()

    def b_moves() -> list[str]:
        return [
            m.json()["data"]["state"] + "/" + m.json()["data"].get("direction", "")
            for m in sub.on(f"{PREFIX}/events")
            if m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "B"
        ]

    config = _config(tmp_path, cam.url, broker.port, models_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
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
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(20)
        sub.stop()
        cam.close()
    assert rc == 0, proc.stderr.read()[-3000:]
    assert len(replies) >= 25, len(replies)  # one a second of the resend
    assert not [r for r in replies if r["ok"]], [r for r in replies if r["ok"]][:3]
    assert all(r["data"].get("code") for r in replies), replies[:3]
    assert "moving/up" not in b_moves(), b_moves()  # neither the command nor the policy raised it
