"""The review page's certificate (``web.tls``) told to the backend over MQTT, on a real mosquitto: its dates in the
retained status, and a ``web_certificate`` event as it enters its last 14 days and as it expires, on the injected
clock. Before, the end date was in ``doctor`` and the log only: backend operators learned of it when a property
manager's browser refused the page."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
import yaml

from edge_agent.cert_dates import WARN_DAYS
from edge_agent.clock import FakeClock, iso
from edge_agent.config.load import load_config
from edge_agent.events.schemas import first_error
from edge_agent.events.types import EventType
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold
from tests.events.helpers import Subscriber, config_dict
from tests.web.test_cert_expiry import openssl_dates
from tests.web.test_tls import make_cert, pinned

pytestmark = pytest.mark.broker

STATUS, EVENTS = "edge/s1/dev1/status", "edge/s1/dev1/events"


def _config(broker, tmp_path, cert, key):
    """An agent's config with the page on ``web.tls`` (cert, key)."""
    data = config_dict(broker.url(), tmp_path / "data")
    data["web"] = {"enabled": True, "host": "127.0.0.1", "port": 0, "users_file": str(tmp_path / "users.txt"),
                   "session_secret_file": str(tmp_path / "web.key"),
                   "tls": {"cert_file": str(cert), "key_file": str(key)}}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_status_carries_the_certificates_dates_and_events_mark_its_last_days_and_its_end(broker, tmp_path):
    cert, key = make_cert(tmp_path / "tls", days=60)
    not_before, not_after = openssl_dates(cert)
    path = _config(broker, tmp_path, cert, key)
    clock = FakeClock()  # 2026-01-01: the certificate has months left
    agent = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock)).agent
    sub = Subscriber(broker.port, "edge/#").start()
    agent.start()
    try:
        first = sub.wait_for(STATUS, lambda m: m.json()["state"] == "online").json()
        assert first["web_certificate"] == {"not_before": iso(not_before), "not_after": iso(not_after),
                                            "state": "valid"}
        assert first_error("status.json", first) is None
        agent.step()

        clock.advance((not_after - clock.now()).total_seconds() - WARN_DAYS * 86400 + 30)  # into its last 14 days
        agent.step()  # the minute's look (the page itself had no visitor)
        ev = sub.wait_for(EVENTS, lambda m: m.json()["type"] == "web_certificate").json()
        assert ev["data"] == {"state": "expiring", "previous": "valid", "cert_file": str(cert),
                              "not_before": iso(not_before), "not_after": iso(not_after),
                              "days_left": 14.0}
        assert first_error("event.json", ev) is None
        assert sub.wait_for(STATUS, lambda m: m.json().get("web_certificate", {}).get("state") == "expiring")
        agent.step()
        clock.advance(61)
        agent.step()  # still expiring: no second event

        clock.advance((WARN_DAYS + 1) * 86400)  # a day past its end
        agent.step()
        gone = sub.wait_for(EVENTS, lambda m: m.json()["data"].get("state") == "expired").json()
        assert gone["data"]["previous"] == "expiring" and gone["data"]["days_left"] == -1.0
        status = sub.wait_for(STATUS, lambda m: m.json().get("web_certificate", {}).get("state") == "expired").json()
        assert first_error("status.json", status) is None
        assert [m.json()["data"]["state"] for m in sub.on(EVENTS) if m.json()["type"] == "web_certificate"] == \
            ["expiring", "expired"]
    finally:
        agent.stop()
        sub.stop()


def test_an_agent_started_on_a_certificate_in_its_last_days_says_so_at_start(broker, tmp_path):
    cert, key = make_cert(tmp_path / "tls", days=60)
    _, not_after = openssl_dates(cert)
    path = _config(broker, tmp_path, cert, key)
    clock = FakeClock(start=not_after - timedelta(days=3))
    agent = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock)).agent
    sub = Subscriber(broker.port, "edge/#").start()
    agent.start()
    try:
        ev = sub.wait_for(EVENTS, lambda m: m.json()["type"] == "web_certificate").json()
        assert ev["data"]["state"] == "expiring" and ev["data"]["previous"] is None
        assert ev["data"]["days_left"] == 3.0
        status = sub.wait_for(STATUS, lambda m: m.json()["state"] == "online").json()
        assert status["web_certificate"]["state"] == "expiring"
    finally:
        agent.stop()
        sub.stop()


def test_a_notice_a_connection_brings_is_published_off_the_pages_event_loop(broker, tmp_path):
    """The certificate enters its last days while the page runs, and a visitor's connection is what notices it (the
    minute's look at the files comes with a handshake). The ``web_certificate`` event was published on the thread
    that noticed: the page's event loop, held through the MQTT outbox's durable write and every notification sink,
    with every other visitor's handshake and request waiting. It is published on the notices' own thread now: here a
    sink that does not return until told to, and the page answers a new connection meanwhile; the event reaches the
    broker once the sink lets go, and a stop publishes what is still queued."""
    cert, key = make_cert(tmp_path / "tls", days=60)
    _, not_after = openssl_dates(cert)
    path = _config(broker, tmp_path, cert, key)
    clock = FakeClock()
    parts = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock))
    agent = parts.agent
    reached, let_go, publishers = threading.Event(), threading.Event(), []

    def slow_sink(event) -> None:  # noqa: ANN001 - a push sink's call to a far server, an outbox on a slow card
        publishers.append(threading.current_thread().name)
        reached.set()
        let_go.wait(30)

    agent.bus.subscribe(slow_sink, {EventType.WEB_CERTIFICATE})
    sub = Subscriber(broker.port, "edge/#").start()
    agent.start()
    try:
        assert sub.wait_for(STATUS, lambda m: m.json()["state"] == "online")
        # into its last 14 days, past the minute: no loop turn here, the next connection looks at the files
        clock.advance((not_after - clock.now()).total_seconds() - WARN_DAYS * 86400 + 30)
        with httpx.Client(base_url=parts.web.url, verify=pinned(cert), timeout=10) as visitor:
            assert visitor.get("/login").status_code == 200  # before: the handshake waited on the sink, timed out
        assert reached.wait(10) and publishers == ["web-cert-notices_0"]  # before: ["web"], the page's loop
        with httpx.Client(base_url=parts.web.url, verify=pinned(cert), timeout=10) as other:
            assert other.get("/login").status_code == 200  # a new handshake while the sink still holds the notice
        let_go.set()
        ev = sub.wait_for(EVENTS, lambda m: m.json()["type"] == "web_certificate").json()
        assert ev["data"]["state"] == "expiring" and ev["data"]["previous"] == "valid"
        assert sub.wait_for(STATUS, lambda m: m.json().get("web_certificate", {}).get("state") == "expiring")
    finally:
        let_go.set()
        agent.stop()
        sub.stop()

