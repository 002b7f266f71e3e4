"""The agent's stop order (``runtime.assemble``): every part that publishes events stops before the push sinks that
carry them. Before, ``NotifyService`` was added after the page's ``CertificateNotices`` and so stopped before it
(components stop newest first): a ``web_certificate`` notice its worker published at the stop reached MQTT (the
link stops last) but not the push sinks — no webhook, no robot message, nothing queued for the next start."""

from __future__ import annotations

import json
import sqlite3

from edge_agent.cert_dates import WARN_DAYS
from edge_agent.clock import FakeClock
from edge_agent.notify.service import NotifyService
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config
from edge_agent.web.cert_notices import CertificateNotices
from tests.notify.receiver import Receiver
from tests.web.test_cert_expiry import openssl_dates
from tests.web.test_tls import make_cert


class EventLines:
    """A sink as ``run``'s events.jsonl is: it hears the bus from its start to its stop."""

    def __init__(self) -> None:
        self.events: list = []
        self._bus = None
        self._off = None

    def on(self, bus):  # noqa: ANN001, ANN201
        self._bus = bus
        return self

    def start(self) -> None:
        self._off = self._bus.subscribe(self.events.append)

    def stop(self) -> None:
        self._off()


def test_a_certificate_notice_at_the_stop_reaches_the_push_sinks(tmp_path, models_dir, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k" * 32)
    cert, key = make_cert(tmp_path / "tls", days=60)
    not_after = openssl_dates(cert)[1]
    receiver = Receiver().start()
    try:
        clock = FakeClock()  # the certificate has weeks left
        cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                           web={"enabled": True, "host": "127.0.0.1", "port": 0,
                                "users_file": str(tmp_path / "users.txt"),
                                "session_secret_file": str(tmp_path / "web.key"),
                                "tls": {"cert_file": str(cert), "key_file": str(key)}},
                           notify={"sinks": [{"name": "backend", "kind": "webhook", "url": receiver.url,
                                              "secret_env": "HOOK_KEY", "events": ["web_certificate"]}]})
        logged = EventLines()
        parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(60, EMPTY), clock),
                         sinks=lambda a: [logged.on(a.bus)])
        kinds = [type(c) for c in parts.agent.components]
        assert kinds.index(NotifyService) < kinds.index(CertificateNotices)  # stopped after it
        assert kinds.index(EventLines) < kinds.index(CertificateNotices)  # the caller's sink (run: events.jsonl) too
        notices = next(c for c in parts.agent.components if isinstance(c, CertificateNotices))
        stop = notices.stop

        def stop_as_a_notice_comes() -> None:
            """The certificate crosses into its last days as the agent stops: the notice is on the worker."""
            clock.advance((not_after - clock.now()).total_seconds() - WARN_DAYS * 86400 + 30)
            parts.web.tls.reload()  # the minute's look
            stop()

        notices.stop = stop_as_a_notice_comes  # type: ignore[method-assign]
        parts.agent.start()
        parts.agent.stop()
        sent = [json.loads(r.body)["event"] for r in receiver.unique.values()]
        with sqlite3.connect(tmp_path / "data" / "notify-backend.sqlite") as db:  # not sent yet: kept for the next start
            queued = [json.loads(p)["event"] for (p,) in db.execute("SELECT payload FROM outbox")]
        got = [(e["type"], e["data"]["state"]) for e in sent + queued]
        assert got == [("web_certificate", "expiring")], got
        assert [(e.type, e.data["state"]) for e in logged.events] == [("web_certificate", "expiring")]
    finally:
        receiver.stop()
