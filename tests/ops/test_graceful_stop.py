"""SIGTERM during a burst of events: exit 0 within 5 s, ``offline`` published, 0 events lost.

A real child process (tests/ops/stop_child.py: real config, bus, SQLite outbox, MQTT link, and the ops
signal handlers + shutdown plan) against a real mosquitto. "Lost" means neither delivered to the
backend's persistent session nor still on disk in the outbox for the next start.
"""

from __future__ import annotations

import json
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.events.helpers import Subscriber, wait_until, write_config

REPO = Path(__file__).resolve().parents[2]
PREFIX = "edge/s1/dev1"
pytestmark = pytest.mark.broker


def stop_mid_burst(cfg: Path, produced_file: Path, before_term: Callable[[], None]) -> tuple[int, dict, float]:
    """Run the child until its burst starts and ``before_term`` returns, SIGTERM it; (exit code, report, seconds)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.ops.stop_child", str(cfg), str(produced_file)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)

    def line(timeout: float = 30.0) -> str:
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"child said nothing for {timeout} s; stderr: {proc.stderr.read()[-2000:]}")
        return proc.stdout.readline().strip()

    try:
        assert line() == "burst"
        before_term()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        report = json.loads(line())
        rc = proc.wait(timeout=5)  # the limit: exit within 5 s
        return rc, report, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sel.close()


def outbox_event_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / "mqtt-outbox.sqlite") as db:
        rows = db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/events'").fetchall()
    return {json.loads(p)["event_id"] for (p,) in rows}


def test_sigterm_during_burst_loses_nothing(tmp_path, broker):
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), data)
    backend = Subscriber(broker.port, [f"{PREFIX}/events", f"{PREFIX}/status"], client_id="backend",
                         persistent=True).start()

    def mid_burst() -> None:  # the backend is receiving while the producer keeps writing to the outbox
        backend.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online")
        wait_until(lambda: len(backend.on(f"{PREFIX}/events")) >= 1000, 30, "1000 events at the backend")

    rc, report, took = stop_mid_burst(cfg, tmp_path / "produced.txt", mid_burst)
    assert rc == 0
    assert report["steps"] == {"stop frames": "ok", "locks safe": "ok", "mqtt flush + offline": "ok"}
    offline = backend.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "offline", timeout=10)
    assert offline.json()["clean"] is True

    produced = set((tmp_path / "produced.txt").read_text().split())
    assert len(produced) == report["produced"] >= 1000
    left = outbox_event_ids(data)  # what the flush could not deliver waits on disk for the next start
    delivered = wait_until(
        lambda: (got := {m.json()["event_id"] for m in backend.on(f"{PREFIX}/events")}) | left >= produced and got,
        10, "every event delivered or kept",
    )
    backend.stop()
    assert not produced - delivered - left, "events lost"
    print(f"\nSIGTERM during burst: {len(produced)} produced, {len(delivered & produced)} delivered, "
          f"{len(left)} kept in the outbox, 0 lost; exit 0 after {took:.2f} s (plan {report['stop_s']} s)")


def test_sigterm_with_broker_down_keeps_every_event_on_disk(tmp_path, broker):
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), data)
    broker.stop()  # the WAN is down: nothing can be flushed, the stop must still be quick and lossless
    rc, report, took = stop_mid_burst(cfg, tmp_path / "produced.txt", lambda: None)
    assert rc == 0 and report["steps"]["mqtt flush + offline"] == "ok"
    produced = set((tmp_path / "produced.txt").read_text().split())
    assert len(produced) == report["produced"] >= 200
    assert outbox_event_ids(data) == produced
    print(f"\nSIGTERM, broker down: {len(produced)} produced, all {len(produced)} kept in the outbox; "
          f"exit 0 after {took:.2f} s")
