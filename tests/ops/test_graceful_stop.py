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

import pytest

from tests.events.helpers import Subscriber, wait_until, write_config

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.broker


def _line(proc: subprocess.Popen, sel: selectors.BaseSelector, timeout: float = 30.0) -> str:
    if not sel.select(timeout):
        proc.kill()
        pytest.fail(f"child said nothing for {timeout} s")
    return proc.stdout.readline().strip()


def test_sigterm_during_burst_loses_nothing(tmp_path, broker):

    data = tmp_path / "data"
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), data)
    prefix = "edge/s1/dev1"
    backend = Subscriber(broker.port, [f"{prefix}/events", f"{prefix}/status"], client_id="backend",
                         persistent=True).start()
    produced_file = tmp_path / "produced.txt"
    proc = subprocess.Popen([sys.executable, "-m", "tests.ops.stop_child", str(cfg), str(produced_file)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        assert _line(proc, sel) == "burst"
        wait_until(lambda: backend.wait_for(f"{prefix}/status", lambda m: m.json()["state"] == "online"), 10,
                   "online status")
        # Mid-burst: the backend is receiving while the producer keeps writing to the outbox.
        wait_until(lambda: len(backend.on(f"{prefix}/events")) >= 1000, 30, "1000 events at the backend")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        report = json.loads(_line(proc, sel))
        rc = proc.wait(timeout=5)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sel.close()
    assert rc == 0, proc.stderr.read()[-3000:]
    assert report["steps"] == {"stop frames": "ok", "locks safe": "ok", "mqtt flush + offline": "ok"}

    offline = backend.wait_for(f"{prefix}/status", lambda m: m.json()["state"] == "offline", timeout=10)
    assert offline.json()["clean"] is True

    produced = produced_file.read_text().split()
    assert len(produced) == report["produced"] >= 1000
    # Whatever the flush did not deliver within the stop budget is still on disk for the next start.
    with sqlite3.connect(data / "mqtt-outbox.sqlite") as db:
        left = {json.loads(p)["event_id"] for (p,) in db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/events'")}
    delivered = wait_until(
        lambda: (got := {m.json()["event_id"] for m in backend.on(f"{prefix}/events")}) | left >= set(produced) and got,
        10, "every event delivered or kept",
    )
    backend.stop()
    lost = set(produced) - delivered - left
    assert not lost, f"{len(lost)} of {len(produced)} events lost"
    print(f"\nSIGTERM during burst: {len(produced)} produced, {len(delivered & set(produced))} delivered, "
          f"{len(left)} kept in the outbox, 0 lost; exit 0 after {took:.2f} s (plan {report['stop_s']} s)")


def test_sigterm_with_broker_down_keeps_every_event_on_disk(tmp_path, broker):
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), data)
    produced_file = tmp_path / "produced.txt"
    broker.stop()  # the WAN is down: nothing can be flushed, the stop must still be quick and lossless
    proc = subprocess.Popen([sys.executable, "-m", "tests.ops.stop_child", str(cfg), str(produced_file)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        assert _line(proc, sel) == "burst"
        proc.send_signal(signal.SIGTERM)
        report = json.loads(_line(proc, sel))
        rc = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sel.close()
    assert rc == 0 and report["steps"]["mqtt flush + offline"] == "ok"
    produced = set(produced_file.read_text().split())
    with sqlite3.connect(data / "mqtt-outbox.sqlite") as db:
        kept = {json.loads(p)["event_id"] for (p,) in db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/events'")}
    assert len(produced) == report["produced"] >= 200 and kept == produced
