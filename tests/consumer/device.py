"""A device on the broker, as the consumer tests need one: a real paho client that publishes and leaves."""

from __future__ import annotations

import json
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ARRIVED = {"event_id": "e-1", "type": "vehicle_arrived", "ts": "2026-01-01T08:00:00.000+08:00", "data": {}}


def publish_as_device(port: int, messages: list[tuple[str, bytes]],
                      configure: Callable[[mqtt.Client], None] | None = None) -> None:
    """Publish each ``(topic, payload)`` at QoS 1, waiting for each to reach the broker. ``configure``: TLS,
    credentials — whatever the broker asks of a client before it connects."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="device-sim", protocol=mqtt.MQTTv5)
    if configure is not None:
        configure(c)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for topic, payload in messages:
            c.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def one_event() -> list[tuple[str, bytes]]:
    return [("edge/s1/d1/events", json.dumps(ARRIVED).encode())]
