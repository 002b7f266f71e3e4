"""A broker restarting again and again (a crash loop, a flapping host) is no client id used twice (chaos39).

Three connections in a row that the broker closed within 30 s were taken for another device with this client id, and
the log said so at error level ("a cloned SD card?") over a real mosquitto stopped and started every few seconds:
the operator was sent after a clone that did not exist. A broker that was down in between (a connect refused) ends such a
run: a clone closes connections while the broker stays up."""

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


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_broker_restarted_over_and_over_is_not_called_a_client_id_clash(broker, tmp_path, caplog, how):
    caplog.set_level(logging.INFO, logger="edge_agent.events.connection")
    wire = FakeClock()  # every connection lasts under FLAP_S as the connection measures it
    cfg = make_config(broker.url(), tmp_path / "data", reconnect_min_s=1, reconnect_max_s=1)
    link = build_mqtt(cfg, EventBus(), RecordingControl(), FakeClock(), no_health)
    link.conn._monotonic = wire.monotonic
    link.start()
    try:
        for n in range(connection.FLAPS + 2):
            wait_until(lambda: link.status().connected, 30, f"connected ({n})")
            failures = link.status().failures
            getattr(broker, how)()
            seen = failures + 2  # the drop, then a connect refused while it is down
            wait_until(lambda s=seen: link.status().failures >= s, 30, "a connect refused while it is down")
            broker.start()
        wait_until(lambda: link.status().connected, 30, "connected at the end")
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert not any("client id" in m for m in said), said
    finally:
        link.stop()
