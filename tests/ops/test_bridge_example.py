"""deploy/mosquitto/bridge.conf run for real: a site mosquitto bridged to a "central" one, both on loopback.

The site broker runs with passwords and helper M's per-device ACL (deploy/mosquitto/acl.example), as in the
field. The bridge example is used line for line except what cannot exist here: the central addresses become a closed
port followed by the central test broker (so failover to the second address is exercised too), the TLS
files and the password are dropped (the central test broker is plain and anonymous), and the restart
back-off is shortened so the test does not wait on it.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.events.broker import LocalBroker, free_port, mosquitto_path
from edge_agent.events.topics import Topics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
EXAMPLE = DEPLOY / "bridge.conf"
DEVICE, DEVICE_PW = "pole-7", "pole-7-pw"
DROP = ("bridge_cafile", "bridge_certfile", "bridge_keyfile", "remote_username", "remote_password")

pytestmark = [pytest.mark.broker, pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto not installed")]


@dataclass
class SiteBroker(LocalBroker):
    """LocalBroker plus the bridge section."""

    bridge: str = ""

    def config_text(self) -> str:
        return super().config_text() + self.bridge


def bridge_section(central_port: int) -> str:
    out = []
    for line in EXAMPLE.read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key in DROP:
            continue
        if key == "address":
            line = f"address 127.0.0.1:{free_port()} 127.0.0.1:{central_port}"
        elif key == "restart_timeout":
            line = "restart_timeout 1"
        out.append(line)
    return "\n".join(out) + "\n"


class Client:
    """A paho MQTT 5 client whose received messages land in a queue."""

    def __init__(self, port: int, name: str, username: str | None = None, password: str | None = None) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}",
                             protocol=mqtt.MQTTv5)
        self.c.on_message = lambda c, u, msg: self.messages.put(msg)
        if username:
            self.c.username_pw_set(username, password)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def subscribe(self, topic: str) -> None:
        done: queue.Queue = queue.Queue()
        self.c.on_subscribe = lambda *a: done.put(True)
        self.c.subscribe(topic, qos=1)
        done.get(timeout=10)

    def publish(self, topic: str, payload: str, **kw) -> None:
        self.c.publish(topic, payload, qos=1, **kw).wait_for_publish(10)

    def get(self, timeout: float = 15.0) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no message within {timeout} s")

    def quiet(self, timeout: float = 1.0) -> bool:
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            return True
        pytest.fail(f"unexpected message on {msg.topic}")

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def bridged(tmp_path):
    if shutil.which("mosquitto_passwd") is None or not (DEPLOY / "acl.example").is_file():
        pytest.skip("needs mosquitto_passwd and deploy/mosquitto/acl.example")
    (tmp_path / "site").mkdir()
    pwfile = tmp_path / "site" / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), DEVICE, DEVICE_PW], check=True, capture_output=True)
    central = LocalBroker(tmp_path / "central").start()
    site = SiteBroker(tmp_path / "site", password_file=pwfile, acl_file=DEPLOY / "acl.example",
                      bridge=bridge_section(central.port)).start()
    clients: list[Client] = []

    def client(broker: LocalBroker, name: str) -> Client:
        creds = (DEVICE, DEVICE_PW) if broker is site else (None, None)
        clients.append(Client(broker.port, name, *creds))
        return clients[-1]

    # Wait for the bridge (it first tries the closed main address, then fails over to the central broker).
    probe = client(central, "probe")
    probe.subscribe("edge/site-a/_bridge/state")
    while probe.get(timeout=30).payload != b"1":
        pass
    yield central, site, client
    for c in clients:
        c.close()
    site.stop()
    central.stop()


def test_telemetry_goes_out_commands_come_in_nothing_loops(bridged):
    central, site, client = bridged
    backend = client(central, "backend")
    backend.subscribe("edge/site-a/#")
    device = client(site, "pole-7")
    device.subscribe("edge/site-a/pole-7/cmd/#")

    # every topic the agent publishes on (the topic table itself, so a new one must cross the bridge too)
    t = Topics("edge/site-a/pole-7")
    published = [t.events, t.status, t.state("A1"), t.health, t.stats_daily, t.reply, t.reply + "/42"]
    for topic in published:
        device.publish(topic, topic)
        msg = backend.get()
        while msg.topic == "edge/site-a/_bridge/state":
            msg = backend.get()
        assert (msg.topic, msg.payload.decode()) == (topic, topic)

    # A command from the backend reaches the device with its MQTT 5 reply properties intact...
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "edge/site-a/pole-7/reply/backend-1"
    props.CorrelationData = b"corr-7"
    backend.publish("edge/site-a/pole-7/cmd/lock", '{"bay": "A1"}', properties=props)
    cmd = device.get()
    assert cmd.topic == "edge/site-a/pole-7/cmd/lock"
    assert cmd.properties.ResponseTopic == "edge/site-a/pole-7/reply/backend-1"
    assert cmd.properties.CorrelationData == b"corr-7"
    # ...and is not echoed back out: the backend sees its own publish once, a loop would show it twice.
    assert backend.get().topic == "edge/site-a/pole-7/cmd/lock"
    assert backend.quiet()
    # A device cannot inject commands (the ACL drops it) and nothing on cmd/ is bridged out.
    device.publish("edge/site-a/pole-7/cmd/unlock", "{}")
    assert device.quiet() and backend.quiet()


def test_shared_subscription_splits_events_between_backend_consumers(bridged):
    central, site, client = bridged
    a, b = client(central, "consumer-a"), client(central, "consumer-b")
    for c in (a, b):
        c.subscribe("$share/backend/edge/+/+/events")
    device = client(site, "pole-7")
    sent = [f"e{i}" for i in range(20)]
    for payload in sent:
        device.publish("edge/site-a/pole-7/events", payload)
    got: list[tuple[str, str]] = []
    while len(got) < len(sent):
        for name, c in (("a", a), ("b", b)):
            try:
                got.append((name, c.messages.get(timeout=0.5).payload.decode()))
            except queue.Empty:
                pass
        assert len(got) <= len(sent)
    assert sorted(p for _, p in got) == sorted(sent)  # each event exactly once across the group
    assert {n for n, _ in got} == {"a", "b"}  # and both consumers took a share
