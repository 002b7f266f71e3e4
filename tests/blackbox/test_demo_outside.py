"""``edge-agent demo --broker``: the demo publishes to a backend's own broker (TLS + login), from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.events.conftest import DEVICE_PASSWORD, DEVICE_USER
from tests.events.helpers import Subscriber

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
PREFIX = "edge/demo-site/demo-cam"


def _demo(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "demo", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO), **env})


def test_demo_publishes_to_an_outside_tls_broker_with_a_login(tls_broker, tls_material, tmp_path, models_dir):
    backend = Subscriber(tls_broker.port, f"{PREFIX}/#", ca=tls_material.ca, username="backend",
                         password="backend-pass").start()
    try:
        proc = _demo("--broker", tls_broker.url(), "--ca", str(tls_material.ca), "--username", DEVICE_USER,
                     "--password-env", "BB_DEMO_PW", "--events", str(tmp_path / "told.jsonl"),
                     "--data-dir", str(tmp_path / "data"), BB_DEMO_PW=DEVICE_PASSWORD)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "still wait in the outbox" in proc.stdout and "0 event(s)" in proc.stdout, proc.stdout[-1500:]
        header = proc.stdout.splitlines()[0]  # the story's first line names where the events go
        assert f"MQTT → {tls_broker.url()}" in header and "no broker" not in header, header
    finally:
        backend.stop()
    told = [json.loads(line) for line in (tmp_path / "told.jsonl").read_text(encoding="utf-8").splitlines()]
    published = [m.json() for m in backend.on(f"{PREFIX}/events")]
    assert {e["event_id"] for e in told} == {e["event_id"] for e in published}  # all it told reached the broker
    assert {"vehicle_identified", "violation_started"} <= {e["type"] for e in told}
    assert backend.on(f"{PREFIX}/status")[0].json()["state"] == "online"


def test_login_options_without_a_broker_are_a_usage_error(tmp_path):
    proc = _demo("--username", "x", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "need --broker" in proc.stderr


def test_tls_options_on_a_plain_url_name_the_key(tmp_path, tls_material):
    proc = _demo("--broker", "mqtt://127.0.0.1:1", "--ca", str(tls_material.ca), "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "mqtt.tls" in proc.stderr, proc.stderr[-1000:]


@pytest.mark.parametrize("option", ["--events", "--frames-out"])
def test_an_output_that_cannot_be_written_is_one_line_before_the_scenario(tmp_path, option):
    """A path under a file was a traceback once the scenario had started; now exit 2 naming the option."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = _demo("--no-broker", option, str(blocker / "out"), "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 2, proc.stderr[-1000:]
    assert proc.stderr.startswith(f"demo: cannot write {option} {blocker}/out: ") and "Traceback" not in proc.stderr
