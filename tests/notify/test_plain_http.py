"""A sink whose url is ``http://`` sent plates, and for a robot its key in the URL's query, readable by anyone on
the network path, in silence (the MQTT password over ``mqtt://`` is said at start). Said once per sink at start;
a relay on the machine itself crosses no network and is not."""

from __future__ import annotations

import logging

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.notify.service import NotifyService
from tests.notify.helpers import config


def _said(tmp_path, caplog, sinks):  # noqa: ANN001, ANN202
    svc = NotifyService(config(tmp_path, sinks), EventBus(), FakeClock(), post=lambda req, timeout: None)
    with caplog.at_level(logging.WARNING, logger="edge_agent.notify.service"):
        svc.open()
    return [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]


def test_a_robot_or_webhook_over_plain_http_past_this_machine_is_said_at_start(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("WECOM_KEY", "k-123")
    said = _said(tmp_path, caplog, [
        {"name": "group", "kind": "wecom", "url": "http://relay.plaza-7.example/cgi-bin/webhook/send",
         "secret_env": "WECOM_KEY"},
        {"name": "backend", "kind": "webhook", "url": "http://10.0.0.5:8080/hook"}])
    assert len(said) == 2, said
    assert "'group'" in said[0] and "robot's key" in said[0] and "k-123" not in said[0]
    assert "'backend'" in said[1] and "http://10.0.0.5:8080" in said[1]


def test_https_and_a_relay_on_this_machine_are_not_said(tmp_path, caplog):
    assert _said(tmp_path, caplog, [{"name": "a", "kind": "webhook", "url": "https://backend.example/hook"},
                                    {"name": "b", "kind": "webhook", "url": "http://127.0.0.1:9000/hook"},
                                    {"name": "c", "kind": "webhook", "url": "http://localhost:9000/hook"},
                                    {"name": "d", "kind": "webhook", "url": "http://[::1]:9000/hook"}]) == []
