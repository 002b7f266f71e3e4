"""deploy/mosquitto/mosquitto-tls.conf + acl.example, run for real: agents work, devices stay in their lane."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.broker import LocalBroker, free_port
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import BayState, Event
from tests.events.conftest import DEVICE_PASSWORD, DEVICE_USER
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until
from tests.rootuser import root_beside

pytestmark = pytest.mark.broker


@pytest.fixture
def site_broker(repo, tmp_path, tls_material):
    conf = (repo / "deploy/mosquitto/mosquitto-tls.conf").read_text()
    b = LocalBroker(tmp_path / "site")  # its port held from here to the start: no other worker is handed it
    port = b.port
    for old, new in {
        "listener 8883": f"listener {port} 127.0.0.1",
        "/etc/mosquitto/certs/ca.crt": str(tls_material.ca),
        "/etc/mosquitto/certs/broker.crt": str(tls_material.cert),
        "/etc/mosquitto/certs/broker.key": str(tls_material.key),
        "/etc/mosquitto/passwd": str(tls_material.passwords),
        "/etc/mosquitto/acl": str(repo / "deploy/mosquitto/acl.example"),
        "/var/lib/mosquitto/": f"{tmp_path}/",
        "log_dest syslog": "log_dest stderr\nuser root",
    }.items():
        assert old in conf, old
        conf = conf.replace(old, new)
    b.config = conf
    b.start()
    yield b
    b.stop()


def test_example_broker_config_and_acl(site_broker, tls_material, tmp_path, monkeypatch):
    monkeypatch.setenv("DEV_PW", DEVICE_PASSWORD)
    tls = {"ca_file": str(tls_material.ca)}
    backend = Subscriber(site_broker.port, ["edge/#", "homeassistant/#"], ca=tls_material.ca, username="backend",
                         password="backend-pass").start()  # fmt: skip
    ha = Subscriber(site_broker.port, ["homeassistant/#", "edge/+/+/status"], ca=tls_material.ca,
                    username="homeassistant", password="ha-pass").start()  # fmt: skip
    clock, bus, control = FakeClock(), EventBus(), RecordingControl()
    cfg = make_config(site_broker.url("mqtts"), tmp_path / "d", username=DEVICE_USER, password_env="DEV_PW", tls=tls,
                      home_assistant={"enabled": True})  # fmt: skip
    link = build_mqtt(cfg, bus, control, clock, no_health)
    link.start()
    try:
        backend.wait_for("edge/s1/dev1/status")
        bus.publish(Event.make("vehicle_arrived", clock, bay_id="B1"))
        bus.publish_state(BayState("B1", "occupied", iso(clock.now())))
        backend.wait_for("edge/s1/dev1/events")
        backend.wait_for("edge/s1/dev1/bays/B1/state")
        backend.wait_for("edge/s1/dev1/health")
        ha.wait_for("homeassistant/sensor/dev1/B1_state/config")
        ha.wait_for("edge/s1/dev1/status")
        assert not backend.on("homeassistant/sensor/dev1/B1_state/config")  # the backend has no business there
        # a command from the backend reaches the device; the reply comes back under {prefix}/reply/
        body = {"ts": iso(clock.now()), "bay": "B2", "status": "idle"}
        backend.request("edge/s1/dev1/cmd/charger-status", body, "edge/s1/dev1/reply/backend-7", b"k1")
        assert backend.wait_for("edge/s1/dev1/reply/backend-7").json()["ok"] is True
        assert control.calls == [("charger_status", "B2", "idle")]
        wait_until(lambda: link.outbox_depth() == 0, what="PUBACKs")

        # the device may not command itself, nor write where another device lives
        rogue = Subscriber(site_broker.port, "edge/#", ca=tls_material.ca, username=DEVICE_USER,
                           password=DEVICE_PASSWORD, client_id="rogue").start()  # fmt: skip
        try:
            rogue.c.publish("edge/s1/dev1/cmd/unlock", json.dumps({**body, "reason": "x", "operator": "o"}), qos=1)
            rogue.c.publish("edge/s1/dev2/events", b"{}", qos=1).wait_for_publish(5)
            rogue.c.publish("edge/s1/dev1/events", b'{"marker": 1}', qos=1).wait_for_publish(5)
            backend.wait_for("edge/s1/dev1/events", lambda m: b"marker" in m.payload)  # allowed one arrived …
            assert not backend.on("edge/s1/dev2/events")  # … the forbidden ones did not
            assert not [m for m in backend.all() if m.topic == "edge/s1/dev1/cmd/unlock"]
            # a device reads nothing but its own command topics (not even its own or others' events)
            assert not [m for m in rogue.all() if not m.topic.startswith("edge/s1/dev1/cmd/")]
        finally:
            rogue.stop()
        assert control.calls == [("charger_status", "B2", "idle")]
    finally:
        link.stop()
        backend.stop()
        ha.stop()


def test_the_documented_file_modes_let_mosquitto_2_start_as_its_own_user(repo, tls_material):
    """mosquitto 2 drops root before it reads the password file, the ACL and the key: a key left root-only 0600 (as
    openssl writes it) stopped the site broker ("Permission denied"). The config's header says how to give them
    the broker's group; applied as written (paths swapped), the broker starts as the user ``mosquitto``."""
    user = root_beside("mosquitto", "mosquitto drops to its own user only when started as root")
    text = (repo / "deploy/mosquitto/mosquitto-tls.conf").read_text()
    root = Path(tempfile.mkdtemp(prefix="edge-mosquitto-"))
    try:
        root.chmod(0o755)
        files = {"/etc/mosquitto/certs/ca.crt": "ca.crt", "/etc/mosquitto/certs/broker.crt": "broker.crt",
                 "/etc/mosquitto/certs/broker.key": "broker.key", "/etc/mosquitto/passwd": "passwd",
                 "/etc/mosquitto/acl": "acl"}
        for src, name in zip((tls_material.ca, tls_material.cert, tls_material.key, tls_material.passwords,
                              repo / "deploy/mosquitto/acl.example"), files.values()):
            shutil.copyfile(src, root / name)
        (root / "broker.key").chmod(0o600)  # as openssl writes a key
        store = root / "store"
        store.mkdir()
        os.chown(store, user.pw_uid, user.pw_gid)
        port = free_port()
        conf = text.replace("listener 8883", f"listener {port} 127.0.0.1").replace(
            "/var/lib/mosquitto/", f"{store}/").replace("log_dest syslog", "log_dest stderr")
        for path, name in files.items():
            conf = conf.replace(path, str(root / name))
        (root / "mosquitto.conf").write_text(conf)

        trust = ssl.create_default_context(cafile=str(tls_material.ca))
        trust.check_hostname = False  # the broker's own certificate, whatever name it was made for

        def starts() -> tuple[bool, str]:
            proc = subprocess.Popen(["mosquitto", "-c", str(root / "mosquitto.conf")], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and proc.poll() is None:
                    try:  # started = a TLS handshake with its certificate: a port that merely accepts is not
                        # (mosquitto listens before it reads the key it then refuses, and under CI's load the
                        # retry landed in between)
                        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw, \
                                trust.wrap_socket(raw, server_hostname="localhost"):
                            return True, ""
                    except OSError:
                        time.sleep(0.1)
                return False, proc.stdout.read() if proc.poll() is not None else "no listener"
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(5)

        ok, said = starts()
        assert not ok and "Permission denied" in said  # the defect the header now prevents
        steps = [ln[len("#   "):] for ln in text.splitlines() if ln.startswith(("#   chown ", "#   chmod "))]
        assert len(steps) == 2
        for step in steps:
            for path, name in files.items():
                step = step.replace(path, str(root / name))
            subprocess.run(shlex.split(step), check=True)
        ok, said = starts()
        assert ok, said
        assert all((root / n).stat().st_mode & 0o007 == 0 for n in ("passwd", "acl", "broker.key"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_example_broker_keeps_acknowledged_events_through_its_own_crash(site_broker, tls_material, tmp_path,
                                                                             monkeypatch):
    """The agent deletes a row at PUBACK: from then on the broker alone holds the event for a backend that is away.
    mosquitto writes its persistence file only at ``autosave_interval`` (and at a clean stop), so with the example's
    former ``autosave_interval 60`` (seconds) a broker SIGKILLed or cut from power lost every event of its last minute
    — measured: 300 of 300, the backend's session restored without them. ``autosave_on_changes`` saves per change."""
    monkeypatch.setenv("DEV_PW", DEVICE_PASSWORD)
    login = {"ca": tls_material.ca, "username": "backend", "password": "backend-pass"}
    Subscriber(site_broker.port, "edge/+/+/events", client_id="backend-1", persistent=True, **login).start().stop()
    clock, bus = FakeClock(), EventBus()
    cfg = make_config(site_broker.url("mqtts"), tmp_path / "d", username=DEVICE_USER, password_env="DEV_PW",
                      tls={"ca_file": str(tls_material.ca)})  # fmt: skip
    link = build_mqtt(cfg, bus, RecordingControl(), clock, no_health)
    link.start()
    try:
        events = [Event.make("vehicle_arrived", clock, bay_id="B1") for _ in range(50)]
        for e in events:
            bus.publish(e)
        wait_until(lambda: link.outbox_depth() == 0, what="every event acknowledged, so deleted on the device")
    finally:
        link.stop()
    site_broker.kill()
    site_broker.start()
    backend = Subscriber(site_broker.port, "edge/+/+/events", client_id="backend-1", persistent=True, **login).start()
    try:
        want = {e.event_id for e in events}
        got = lambda: {m.json()["event_id"] for m in backend.on("edge/s1/dev1/events")} & want  # noqa: E731
        wait_until(lambda: got() == want, 10, f"the {len(want)} events queued before the crash")
    finally:
        backend.stop()
