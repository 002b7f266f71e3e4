"""The consumer logs in as a user that may only read (``deploy/mosquitto/acl.example``'s ``consumer``).

The example ACL had two service users: ``backend`` (reads everything and sends commands) and ``homeassistant``.
A consumer fits only ``backend``, so the host running ``edge-agent consume`` held a password that could unlock
every lock of the fleet (``edge/+/+/cmd/unlock``): a database server broken into was every parking lock. Run on a
real mosquitto with the example ACL: the consumer stores a device's event, and a command sent with its login never
reaches the device.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from edge_agent.events.broker import LocalBroker, mosquitto_path
from tests.consumer.device import ARRIVED, publish_as_device
from tests.events.helpers import wait_until
from tests.ops.test_bridge_example import Client

ACLS = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
USERS = {"mall3-pole-7": "pw-device", "backend": "pw-backend", "consumer": "pw-consumer"}


@pytest.mark.broker
@pytest.mark.parametrize("acl", ["acl.example", "acl-shared.example"])
@pytest.mark.parametrize("group", [None, "g"])  # plain (the CLI's default) and shared: the ACL reads both alike
def test_the_consumer_user_reads_every_site_and_commands_none(tmp_path, acl, group) -> None:
    if mosquitto_path() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    pwfile = tmp_path / "passwd"
    for i, (user, pw) in enumerate(USERS.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pwfile), user, pw], check=True,
                       capture_output=True)
    broker = LocalBroker(tmp_path / "broker", password_file=pwfile, acl_file=ACLS / acl).start()
    store = SqliteStore(tmp_path / "c.sqlite")
    consumer = Consumer(broker.url(), store, group=group, client_id="c-acl", username="consumer",
                        password=USERS["consumer"]).start()
    device = Client(broker.port, "device", "mall3-pole-7", USERS["mall3-pole-7"])
    try:
        assert consumer.wait_ready(10)
        publish_as_device(broker.port, [("edge/mall3/mall3-pole-7/events", json.dumps(ARRIVED).encode())],
                          lambda c: c.username_pw_set("mall3-pole-7", USERS["mall3-pole-7"]))
        wait_until(lambda: consumer.counters.written >= 1, what="the event stored")
        device.subscribe("edge/mall3/mall3-pole-7/cmd/#")
        unlock = json.dumps({"ts": "2026-01-01T08:00:00+08:00", "bay": "A", "reason": "r", "operator": "o"})
        as_consumer = Client(broker.port, "consumer-cmd", "consumer", USERS["consumer"])
        as_consumer.publish("edge/mall3/mall3-pole-7/cmd/unlock", unlock)  # refused by the broker
        as_consumer.close()
        as_backend = Client(broker.port, "backend-cmd", "backend", USERS["backend"])
        as_backend.publish("edge/mall3/mall3-pole-7/cmd/lock", unlock)  # one client after the other: in order
        as_backend.close()
        assert device.get().topic == "edge/mall3/mall3-pole-7/cmd/lock"  # the consumer's unlock never arrived
    finally:
        device.close()
        consumer.stop()
        broker.stop()


@pytest.mark.broker
@pytest.mark.parametrize("acl", ["acl.example", "acl-shared.example"])
def test_home_assistant_reads_its_entities_topics_and_no_command_or_event(tmp_path, acl) -> None:
    """Home Assistant read ``edge/#``: every lock command and every event's plate sat on a home-automation box."""
    if mosquitto_path() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    users = {**USERS, "homeassistant": "pw-ha"}
    pwfile = tmp_path / "passwd"
    for i, (user, pw) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pwfile), user, pw], check=True,
                       capture_output=True)
    broker = LocalBroker(tmp_path / "broker", password_file=pwfile, acl_file=ACLS / acl).start()
    ha = Client(broker.port, "ha", "homeassistant", users["homeassistant"])
    root = "edge/mall3/mall3-pole-7"
    try:
        ha.subscribe("edge/#")  # mosquitto grants it and filters each message by the read lines
        as_backend = Client(broker.port, "backend-cmd", "backend", users["backend"])
        as_backend.publish(f"{root}/cmd/unlock", "{}")
        as_backend.close()
        device = Client(broker.port, "device", "mall3-pole-7", users["mall3-pole-7"])
        # one publisher after the other, each message acknowledged: the broker routes them in this order
        for sub in ("events", "status", "health", "bays/A/state"):
            device.publish(f"{root}/{sub}", "{}")
        device.close()
        assert [ha.get().topic for _ in range(3)] == [f"{root}/status", f"{root}/health", f"{root}/bays/A/state"]
    finally:
        ha.close()
        broker.stop()
