"""The agent as a backend's integration test sees it: only the CLI and MQTT, no Python API.

``edge-agent demo --frames-out`` renders the parking-lot story to a folder (and the ``scenario.yaml``
that replays it); ``edge-agent run`` plays that folder with simulated locks, publishing to a real
mosquitto. Over MQTT the test checks a fuel car's violation, an NEV's admission (its lock lowered)
and one lock fault injected through ``sim/stall`` that the interlock turns into a FAULT and then
refuses to raise. The replay runs at twice the story's speed (camera.fps 10 over 5 fps frames, timers
halved) so the test takes about a minute; its assertions are on events, not on when they came.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.events.helpers import Subscriber, wait_until

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
PREFIX = "edge/demo-site/demo-cam"  # the demo's site and device (scenario.yaml keeps them)
_corr = itertools.count(1)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_agent", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("frames")
    proc = subprocess.run(cli("demo", "--no-broker", "--frames-out", str(out), "--events", str(out.parent / "demo.jsonl"),
                              "--data-dir", str(out.parent / "demo-data")),
                          env=env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "scenario.yaml").is_file() and (out / "frame-000001.jpg").is_file()
    told = [json.loads(line) for line in (out.parent / "demo.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(e["type"] == "violation_started" for e in told)  # --events: what the demo told, as JSON lines
    return out


def replay_config(frames: Path, tmp: Path, broker_url: str) -> Path:
    """scenario.yaml as written by the demo, pointed at the test broker, played at double speed."""
    cfg = yaml.safe_load((frames / "scenario.yaml").read_text(encoding="utf-8"))
    assert "models_dir" not in cfg.get("perception", {})  # the installed models are found on their own
    cfg["camera"]["fps"] = cfg["camera"]["fps"] * 2
    cfg["camera"]["lost_after_s"] = 30  # a slow detector run on a busy machine is not a lost camera
    cfg["timers"] = {"arrival_confirm_s": 1.5, "departure_confirm_s": 2.5, "fuel_grace_s": 6,
                     "unidentified_timeout_s": 15, "overstay_s": 15}
    for lock in cfg["locks"]:
        lock["motor_timeout_s"] = 2.0
        lock["simulator"]["travel_time_s"] = 1.0
    cfg["mqtt"] = {"enabled": True, "brokers": [broker_url], "heartbeat_s": 5}
    cfg["data_dir"] = str(tmp / "data")
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def ask(backend: Subscriber, topic: str, body: dict) -> dict:
    """Publish a command (MQTT 5 response topic + correlation data) and return its one reply."""
    corr = f"bb-{next(_corr)}".encode()
    body = {"ts": datetime.now(timezone.utc).isoformat(), **body}
    backend.request(f"{PREFIX}/{topic}", body, f"{PREFIX}/reply/blackbox", corr)
    return backend.wait_for(f"{PREFIX}/reply/blackbox", lambda m: m.props.CorrelationData == corr, 30).json()


def events(backend: Subscriber) -> list[dict]:
    return [m.json() for m in backend.on(f"{PREFIX}/events")]


def test_fuel_violation_nev_admission_and_an_injected_lock_fault(frames, broker, tmp_path):
    config = replay_config(frames, tmp_path, broker.url())
    backend = Subscriber(broker.port, [f"{PREFIX}/#"], v5=True).start()
    log = tmp_path / "agent.log"  # a file, never an unread pipe: a full one blocks the agent in logging (probe flood)
    with log.open("ab") as err:
        agent = subprocess.Popen(cli("run", "--config", str(config), "--quiet"), env=env(), cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        backend.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online", 120)

        # one fault from outside: bay B's motor stalls, then the backend asks it to lower
        stall = ask(backend, "sim/stall", {"bay": "B"})
        assert stall["ok"] and stall["command"] == "sim/stall", stall
        assert ask(backend, "cmd/unlock", {"bay": "B", "reason": "blackbox", "operator": "it"})["ok"]
        fault = wait_until(lambda: next((e for e in events(backend) if e["type"] == "lock_fault"
                                         and e["bay_id"] == "B"), None), 60, "lock_fault on bay B")
        assert fault["data"]["code"] == "motor_timeout", fault
        raise_b = ask(backend, "cmd/lock", {"bay": "B", "reason": "blackbox", "operator": "it"})
        assert not raise_b["ok"] and raise_b["code"] == "refused" and raise_b["data"]["code"] == "fault", raise_b
        # a bad sim value is refused by its schema and changes nothing
        assert ask(backend, "sim/presence", {"bay": "A", "state": "sideways"})["code"] == "schema_violation"

        agent.wait(timeout=300)  # the folder plays to its end, then run stops by itself
    finally:
        if agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=30)
        backend.stop()
    assert agent.returncode == 0, log.read_text(errors="replace")[-3000:]

    told = events(backend)

    def by_type(t: str, bay: str) -> list[dict]:
        return [e for e in told if e["type"] == t and e["bay_id"] == bay]

    nev = by_type("vehicle_identified", "A")
    assert nev and nev[0]["data"]["nev"] is True and nev[0]["data"]["plate"] == "粤BD12345", told
    lowered = [e for e in by_type("lock_moved", "A") if e["data"]["state"] == "down"]
    assert lowered and "NEV" in lowered[0]["data"]["reason"], by_type("lock_moved", "A")
    violation = by_type("violation_started", "B")
    assert violation and violation[0]["data"]["reason"] == "fuel_vehicle", told
    assert violation[0]["data"]["plate"] == "京A12345"
    assert not by_type("violation_started", "A")  # the NEV was admitted, not flagged
