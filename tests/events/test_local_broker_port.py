"""The test broker's port is its own from pick to start: before, ``free_port()`` closed the socket it picked the port
with, so a second xdist worker (or anything else) could take the port before mosquitto bound it; mosquitto then
exited on "Address already in use" and the start's readiness check connected to the other listener and said the
broker was up (probe chaos43)."""

from __future__ import annotations

import socket

import pytest

from edge_agent.events.broker import BrokerError, LocalBroker, mosquitto_path
from tests.events.helpers import Subscriber, wait_until

pytestmark = pytest.mark.broker


def _listen_on(port: int) -> socket.socket:
    """Another process's listener on ``port``, as mosquitto binds one (SO_REUSEADDR)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_a_port_taken_between_pick_and_start_gives_a_broker_on_another_port(tmp_path):
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    broker = LocalBroker(tmp_path / "broker")
    picked = broker.port
    other = _listen_on(picked)  # another worker's broker got there first
    try:
        broker.start()
        try:
            assert broker.running, "mosquitto exited on the taken port and the start said it was up"
            assert broker.port != picked
            sub = Subscriber(broker.port, "t/#").start()  # a real MQTT session with our mosquitto
            sub.stop()
            broker.stop()
            broker.start()  # a restart keeps the port it came up on (clients hold it)
            wait_until(lambda: broker.running, what="restarted")
        finally:
            broker.stop()
    finally:
        other.close()


def test_a_picked_port_is_held_until_the_broker_is_gone(tmp_path):
    """Nothing else is handed the picked port by the kernel while the broker object lives, stopped or not."""
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    broker = LocalBroker(tmp_path / "broker")
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", broker.port))  # a plain bind (free_port's, most servers') is refused
    broker.start()
    broker.stop()
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", broker.port))


def test_a_whole_config_on_a_taken_port_is_refused_not_counted_up_on_the_other_listener(tmp_path):
    """A whole ``mosquitto.conf`` (the deploy tests') names its port: before, another listener on it answered the
    start's connection and the start said up while mosquitto had exited on "Address already in use" (its log was
    not read for such a config), or the port was picked again under a config that still named the old one. Our
    process's own listening socket counts it up; a taken port is refused, naming it (probe review107)."""
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    broker = LocalBroker(tmp_path / "broker")
    picked = broker.port
    broker.config = broker.config_text()  # a whole config naming the port
    other = _listen_on(picked)
    try:
        with pytest.raises(BrokerError, match=f"port {picked} "):
            broker.start()
        assert not broker.running
    finally:
        broker.stop()
        other.close()
