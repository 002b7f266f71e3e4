"""``edge-agent consume`` on a broker whose certificate a site CA signed (deploy/mosquitto/mosquitto-tls.conf):
there was no way to give the consumer that CA, so ``--broker mqtts://…`` checked the broker against the system's
trust store only, and never connected. ``--ca`` (and ``--cert`` / ``--key`` for mutual TLS) as the agent has."""

from __future__ import annotations

import sqlite3
import ssl

import paho.mqtt.client as mqtt
import pytest

from edge_agent.cli import main
from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from tests.consumer.device import one_event, publish_as_device
from tests.events.conftest import DEVICE_PASSWORD, DEVICE_USER, tls_broker, tls_material  # noqa: F401
from tests.events.helpers import wait_until


@pytest.mark.broker
def test_a_broker_signed_by_a_site_ca_is_consumed_with_ca(tls_broker, tls_material, tmp_path):  # noqa: F811
    db = tmp_path / "c.sqlite"
    consumer = Consumer(tls_broker.url(), SqliteStore(db), group="g", client_id="c-tls", username="backend",
                        password="backend-pass", ca_file=str(tls_material.ca)).start()
    try:
        assert consumer.wait_ready(10), "the consumer did not subscribe over TLS"
        def as_device(c: mqtt.Client) -> None:
            c.tls_set(ca_certs=str(tls_material.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
            c.username_pw_set(DEVICE_USER, DEVICE_PASSWORD)

        publish_as_device(tls_broker.port, one_event(), as_device)
        wait_until(lambda: consumer.counters.written == 1, 20, "the event over TLS")
    finally:
        consumer.stop()
    assert sqlite3.connect(db).execute("SELECT event_id FROM events").fetchall() == [("e-1",)]


@pytest.mark.parametrize(("args", "said"), [
    (["--ca", "ca.crt"], "--ca need an mqtts:// --broker"),
    (["--broker", "mqtts://127.0.0.1:8883", "--cert", "c.crt"], "--cert and --key go together"),
    (["--broker", "mqtts://127.0.0.1:8883", "--ca", "missing.crt"], "--ca / --cert / --key:"),
])
def test_tls_files_that_cannot_serve_are_one_line(args, said, tmp_path, capsys):
    assert main(["consume", "--db", str(tmp_path / "c.sqlite"), *args]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err, err


def test_a_client_key_every_user_can_read_is_refused(tmp_path, capsys):
    """``--key`` at mode 644: anyone on the host could pose as this consumer at the broker and take its group's
    events. Refused before the database is opened, as the agent's ``mqtt.tls.key_file`` is."""
    key = tmp_path / "c.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    args = ["--broker", "mqtts://127.0.0.1:8883", "--cert", str(tmp_path / "c.crt"), "--key", str(key)]
    assert main(["consume", "--db", str(tmp_path / "c.sqlite"), *args]) == 2
    err = capsys.readouterr().err
    assert err == f"consume: --key: {key} is readable by every user on this device (mode 0644): the key lets " \
                  "anyone who copies it pose as its owner; chmod 640 (group: the agent's) or 600\n", err
    assert not (tmp_path / "c.sqlite").exists()
