"""The broker's SUBACK is read: a subscription it refuses (an ACL without read access to the command topics) is an
error, and the heartbeat names it. Before, the agent said "connected", looked healthy, and no command ever reached
it."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from tests.events.conftest import _need_mosquitto
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
USER, PASSWORD = "dev1", "dynsec-pass-7"


DYNSEC = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def _dynsec_broker(tmp_path: Path, allowed: list[str]) -> LocalBroker:
    """mosquitto with its dynamic-security plugin (which, unlike ``acl_file``, answers a subscription it does not
    allow with a refused SUBACK, as EMQX, HiveMQ and AWS IoT do): user ``dev1`` may publish under ``edge/`` and
    subscribe only to ``allowed``."""
    _need_mosquitto()
    plugin = next((p for p in (DYNSEC, "/usr/lib/mosquitto_dynamic_security.so") if Path(p).exists()), None)
    if plugin is None or not shutil.which("mosquitto_ctrl"):
        pytest.skip("mosquitto's dynamic-security plugin and mosquitto_ctrl are needed")
    conf = tmp_path / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(conf), USER, PASSWORD], check=True, capture_output=True)
    doc = json.loads(conf.read_text())
    doc["roles"][0]["acls"] = [{"acltype": "publishClientSend", "topic": "edge/#", "allow": True}] + [
        {"acltype": "subscribePattern", "topic": t, "allow": True} for t in allowed]
    conf.write_text(json.dumps(doc))
    b = LocalBroker(tmp_path / "broker")
    b.config = b.config_text() + f"plugin {plugin}\nplugin_opt_config_file {conf}\n"
    return b.start()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_command_subscription_the_broker_refuses_is_an_error_and_in_the_heartbeat(tmp_path, caplog, monkeypatch,
                                                                                     protocol):  # fmt: skip
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("EDGE_MQTT_PW", PASSWORD)
    broker = _dynsec_broker(tmp_path, [f"{PREFIX}/health"])  # no subscription to cmd/+
    link = build_mqtt(make_config(broker.url(), tmp_path / "data", protocol=protocol, username=USER,
                                  password_env="EDGE_MQTT_PW"), EventBus(), RecordingControl(), FakeClock(),
                      no_health)  # fmt: skip
    health = Subscriber(broker.port, f"{PREFIX}/health", username=USER, password=PASSWORD).start()
    link.start()
    try:
        wait_until(lambda: link.stats()["subscriptions_refused"], what="the refused SUBACK")
        assert link.stats()["subscriptions_refused"] == [f"{PREFIX}/cmd/+"]
        link.publish_health()
        beat = health.wait_for(f"{PREFIX}/health", lambda m: "subscriptions_refused" in m.json().get("extra", {}))
        assert beat.json()["extra"]["subscriptions_refused"] == [f"{PREFIX}/cmd/+"]
    finally:
        link.stop()
        health.stop()
        broker.stop()
    said = [r for r in caplog.records if "refused the subscription" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.ERROR]
    assert f"{PREFIX}/cmd/+" in said[0].getMessage() and "ACL" in said[0].getMessage()
    assert PASSWORD not in caplog.text
