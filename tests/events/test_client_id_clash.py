"""Two devices with one client id (a cloned SD card, a copied config) on a real mosquitto: each connection of one
closes the other's, about once a second for as long as both run. The log says the likely cause once, not a
"connected" and a "connection lost" line per second."""

from __future__ import annotations

import logging

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events import connection
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from tests.events.helpers import RecordingControl, make_config, wait_until

pytestmark = pytest.mark.broker


def test_a_client_id_used_twice_is_said_once_and_its_end_too(broker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="edge_agent.events.connection")
    wire = FakeClock()  # how long each connection lasted, as the connection measures it
    links = []
    for name in ("card-a", "card-b"):
        cfg = make_config(broker.url(), tmp_path / name, client_id="cloned-card", reconnect_min_s=1,
                          reconnect_max_s=2)
        link = build_mqtt(cfg, EventBus(), RecordingControl(), FakeClock(), no_health)
        link.conn._monotonic = wire.monotonic
        links.append(link)
    for link in links:
        link.start()
    try:
        wait_until(lambda: min(link.conn._flaps for link in links) >= 3 * connection.FLAPS, 120,
                   "several connections closed by the other card")
        said = [r for r in caplog.records if r.name == "edge_agent.events.connection" and r.levelno >= logging.INFO]
        # per card: its first connects and drops, then the cause once (was a pair of lines at every reconnect)
        assert len(said) <= 2 * (2 * connection.FLAPS + 1), [r.getMessage() for r in said]
        causes = [r.getMessage() for r in said if r.levelno == logging.ERROR]
        assert len(causes) == 2 and all("another client probably connects with this client id 'cloned-card'" in c
                                        for c in causes), causes
        assert not any("failed to receive on socket" in r.getMessage() for r in caplog.records
                       if r.levelno >= logging.INFO)  # paho's own line at each drop, demoted
        assert "closes each connection" in (links[0].status().last_error or links[1].status().last_error or "")

        links[1].stop()  # the clone is unplugged: the card left keeps its connection
        wait_until(lambda: links[0].status().connected, 30, "card A connected on its own")
        wire.advance(connection.FLAP_S)
        wait_until(lambda: "the broker keeps the connection again" in caplog.text, 10, "the end of it said")
    finally:
        for link in links:
            link.stop()
