"""MQTT settings (owned by the events stage)."""

from __future__ import annotations

from edge_agent.config.base import StrictModel


class MqttConfig(StrictModel):
    enabled: bool = False
    brokers: list[str] = ["mqtt://127.0.0.1:1883"]
