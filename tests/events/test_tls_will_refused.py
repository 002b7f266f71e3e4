"""MQTT 3.1.1 over ``mqtts://`` to a broker that refuses the agent's last will (mosquitto ``max_qos 0``,
``retain_available false``): mosquitto closes the connection after the TLS handshake, a CONNACK having no code for
it. The line asked whether the broker requires a client certificate, and named no will (delivery35 named it on plain
``mqtt://`` only; review52)."""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import BrokerTls, LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from tests.events.conftest import DEVICE_PASSWORD, DEVICE_USER, _need_mosquitto
from tests.events.helpers import RecordingControl, make_config, wait_until

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("setting, named", [("max_qos 0", "max_qos"), ("retain_available false", "retain_available")])
def test_a_tls_broker_refusing_the_last_will_under_mqtt_311_is_named(tmp_path, tls_material, setting, named):
    _need_mosquitto()
    broker = LocalBroker(tmp_path / "broker", tls=BrokerTls(tls_material.ca, tls_material.cert, tls_material.key),
                         password_file=tls_material.passwords)
    broker.config = broker.config_text() + setting + "\n"
    broker.start()
    (tmp_path / "pw").write_text(DEVICE_PASSWORD + "\n")
    cfg = make_config(broker.url(), tmp_path / "data", username=DEVICE_USER, password_file=str(tmp_path / "pw"),
                      tls={"ca_file": str(tls_material.ca)}, protocol="3.1.1", reconnect_min_s=1)
    link = build_mqtt(cfg, EventBus(), RecordingControl(), FakeClock(), no_health)
    link.start()
    try:
        wait_until(lambda: link.status().last_error is not None, what="the first failed attempt")
        assert named in (link.status().last_error or ""), link.status().last_error
    finally:
        link.stop(flush_s=0)
        broker.stop()
