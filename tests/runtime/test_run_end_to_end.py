"""``edge-agent run`` as a device runs it: a camera (folder of frames), the real models, simulator
locks, the review log, and MQTT to a real mosquitto — one process, checked from the backend's side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

from edge_agent.clock import SystemClock
from edge_agent.evidence.store import EvidenceStore
from edge_agent.sim.scenario import FUEL
from edge_agent.sim.synthetic import BAYS, Scene, render
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import Subscriber


def _frames(folder: Path) -> None:
    folder.mkdir()
    empty, parked = render(Scene()), render(Scene(cars=(FUEL,)))
    for i, img in enumerate([empty] * 5 + [parked] * 25):
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), img)


def _config(tmp: Path, port: int, models: Path) -> Path:
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(tmp / "frames"), "fps": 5, "width": 960, "height": 540},
        "bays": [{"id": b, "polygon": [list(p) for p in poly], "lock_id": f"L{b}"} for b, poly in BAYS.items()],
        "timers": {"arrival_confirm_s": 1, "departure_confirm_s": 2, "fuel_grace_s": 2,
                   "unidentified_timeout_s": 5, "overstay_s": 5},
        "locks": [{"id": f"L{b}", "driver": "simulator", "simulator": {"travel_time_s": 0.5}} for b in BAYS],
        "mqtt": {"enabled": True, "brokers": [f"mqtt://127.0.0.1:{port}"]},
        "perception": {"models_dir": str(models)},
        "data_dir": str(tmp / "data"),
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


@pytest.mark.broker
def test_fuel_car_story_reaches_the_backend(tmp_path: Path, broker, models_dir: Path) -> None:  # noqa: F811
    _frames(tmp_path / "frames")
    config = _config(tmp_path, broker.port, models_dir)
    sub = Subscriber(broker.port, "edge/s1/cam1/#").start()
    try:
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        status = sub.wait_for("edge/s1/cam1/status", lambda m: m.json()["state"] == "offline")
        assert status.json()["clean"] is True
        events = [m.json() for m in sub.on("edge/s1/cam1/events")]
    finally:
        sub.stop()

    story = [e for e in events if e["bay_id"] == "B" and e["type"] in
             ("vehicle_arrived", "vehicle_identified", "violation_started")]
    assert [e["type"] for e in story] == ["vehicle_arrived", "vehicle_identified", "violation_started"]
    ident = story[1]
    assert (ident["data"]["plate"], ident["data"]["nev"], ident["data"]["type_code"]) == ("京A12345", False, "02")
    assert len({e["visit_id"] for e in story}) == 1
    assert not [e for e in events if e["bay_id"] == "A" and e["type"].startswith("vehicle")]
    # the fuel car meets a lock that must not lower for it: a warning, never a lowering for B
    assert any(e["type"] == "lock_warning" and e["bay_id"] == "B" for e in events)
    assert not [e for e in events if e["type"] == "lock_moved" and e["bay_id"] == "B"
                and e["data"].get("reason") == "nev"]
    # every event id once on stdout (the JSON lines sink) and on MQTT
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert {e["event_id"] for e in events} <= {p["event_id"] for p in printed if p.get("kind") == "event"}
    # the violation's evidence is on disk
    store = EvidenceStore(tmp_path / "data" / "evidence", SystemClock(), 30, 1 << 30)
    assert store.image_path(story[2]["evidence_id"], "frame").is_file()


def _start(config: Path) -> subprocess.Popen:
    """``run`` with its stderr to a file beside the config, never an unread pipe (a full one blocks the agent in
    logging: probe flood); ``_log`` reads it."""
    with (config.parent / "agent.log").open("ab") as err:
        return subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=err)


def _log(config: Path) -> str:
    return (config.parent / "agent.log").read_text(errors="replace")[-3000:]


@pytest.mark.broker
def test_sigterm_stops_cleanly_and_sigkill_leaves_offline(tmp_path: Path, broker, models_dir: Path) -> None:  # noqa: F811
    """SIGTERM: exit 0 within 5 s, every logged event delivered, `offline` (clean) retained.
    SIGKILL of a restarted agent: the broker's will says `offline` within 2 s."""
    import signal
    import time

    _frames(tmp_path / "frames")
    config = _config(tmp_path, broker.port, models_dir)
    data = yaml.safe_load(config.read_text())
    data["camera"]["loop"] = True  # a camera that never ends: only a signal stops the agent
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    sub = Subscriber(broker.port, "edge/s1/cam1/#").start()
    try:
        proc = _start(config)
        sub.wait_for("edge/s1/cam1/events", lambda m: m.json()["type"] == "violation_started", timeout=60)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        took = time.monotonic() - t0
        assert rc == 0, _log(config)
        assert took < 5.0
        status = sub.wait_for("edge/s1/cam1/status", lambda m: m.json()["state"] == "offline")
        assert status.json()["clean"] is True
        logged = [json.loads(x) for x in (tmp_path / "data" / "events.jsonl").read_text().splitlines()]
        logged_ids = {e["event_id"] for e in logged if e.get("kind") == "event"}
        got = {m.json()["event_id"] for m in sub.on("edge/s1/cam1/events")}
        assert logged_ids and logged_ids <= got  # 0 lost through the shutdown

        proc = _start(config)
        sub.wait_for("edge/s1/cam1/status", lambda m: m.json()["state"] == "online" and m.json()["started"]
                     != status.json()["started"], timeout=60)
        proc.kill()
        t1 = time.monotonic()
        proc.wait(10)
        sub.wait_for("edge/s1/cam1/status", lambda m: m.json()["state"] == "offline"
                     and m.json().get("clean") is not True, timeout=5)  # the will, not a clean goodbye
        assert time.monotonic() - t1 < 2.0
    finally:
        sub.stop()
    late = Subscriber(broker.port, "edge/s1/cam1/status").start()  # a backend connecting later
    try:
        assert late.wait_for("edge/s1/cam1/status").json()["state"] == "offline"  # retained
    finally:
        late.stop()


@pytest.mark.broker
def test_backend_drives_a_lock_of_a_running_agent(tmp_path: Path, broker, models_dir: Path) -> None:  # noqa: F811
    """Commands over MQTT reach the real lock through the interlock: unlock lowers it, a raise while a
    car stands in the bay is refused with a reason, maintenance holds it down; every reply correlates."""
    import itertools
    import signal
    from datetime import datetime, timezone

    _frames(tmp_path / "frames")  # 1 s empty, then a fuel car in bay B; looped (1 s gaps < departure confirm)
    config = _config(tmp_path, broker.port, models_dir)
    data = yaml.safe_load(config.read_text())
    data["camera"]["loop"] = True
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    prefix, replies = "edge/s1/cam1", "backend/replies"
    sub = Subscriber(broker.port, [f"{prefix}/#", f"{replies}/#"]).start()
    corr = itertools.count()

    def ask(name: str, **body) -> dict:  # noqa: ANN003
        c = f"req-{next(corr)}".encode()
        body["ts"] = datetime.now(timezone.utc).isoformat()
        sub.request(f"{prefix}/cmd/{name}", body, replies, c)
        return sub.wait_for(replies, lambda m: m.props.CorrelationData == c, timeout=20).json()

    proc = _start(config)
    try:
        sub.wait_for(f"{prefix}/events", lambda m: m.json()["type"] == "vehicle_identified", timeout=60)
        r = ask("unlock", bay="A", reason="tow truck", operator="ops")
        assert (r["ok"], r["command"]) == (True, "unlock"), r
        sub.wait_for(f"{prefix}/events", lambda m: m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "A"
                     and m.json()["data"]["state"] == "down", timeout=20)
        r = ask("lock", bay="B", reason="night", operator="ops")  # the fuel car stands in bay B
        assert (r["ok"], r["code"]) == (False, "refused") and r["message"], r
        refused = sub.wait_for(f"{prefix}/events", lambda m: m.json()["type"] == "lock_refused", timeout=20).json()
        assert refused["bay_id"] == "B" and refused["data"]["operator"] == "ops"
        r = ask("maintenance", bay="A", on=True, operator="ops")
        assert r["ok"], r
        r = ask("lock", bay="Z", reason="x", operator="ops")
        assert (r["ok"], r["code"]) == (False, "unknown_bay"), r
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        sub.stop()
    moved_b = [m.json() for m in sub.on(f"{prefix}/events")
               if m.json()["type"] == "lock_moved" and m.json()["bay_id"] == "B"]
    assert all(e["data"]["state"] != "up" or e["data"].get("reason", "").startswith("position read")
               for e in moved_b), moved_b  # B never rose with the car there


@pytest.mark.broker
def test_a_clean_stop_closes_every_database_and_folds_its_wal_in(tmp_path: Path, broker, models_dir: Path) -> None:  # noqa: F811
    """SIGTERM on a run with every store open (MQTT outbox, evidence index with the violation log, run ledger and
    the page's sessions, a push sink's outbox and dead letters): each connection closed, so SQLite folds the WAL
    in and removes it. Before, the evidence index's own connection and the sessions table's were never closed:
    every clean stop left evidence.db-wal (megabytes on a busy site) and -shm beside the index."""
    import signal

    _frames(tmp_path / "frames")
    config = _config(tmp_path, broker.port, models_dir)
    data = yaml.safe_load(config.read_text())
    data["camera"]["loop"] = True
    data["web"] = {"enabled": True, "port": 0}
    data["notify"] = {"sinks": [{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/never"}]}
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    sub = Subscriber(broker.port, "edge/s1/cam1/#").start()
    proc = _start(config)
    try:
        # a car's arrival: its evidence photo is indexed, the recorder and the outboxes have written
        sub.wait_for("edge/s1/cam1/events", lambda m: m.json()["type"] == "vehicle_arrived", timeout=60)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        assert rc == 0, _log(config)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.stop()
    folder = tmp_path / "data"
    dbs = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in (".db", ".sqlite")}
    assert {"evidence/evidence.db", "mqtt-outbox.sqlite", "notify-hook.sqlite", "notify-dead/hook.sqlite"} <= dbs
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name.endswith(("-wal", "-shm")))
    assert left == []
