"""The page's certificate (``web.tls``) told to the backend over MQTT: its dates in the retained status, and a
``web_certificate`` event when it enters its last ``cert_dates.WARN_DAYS``, expires, is not valid yet, or is valid
again (a renewal served).

Why: its end date was in ``doctor`` and the log only, and backend operators watch MQTT, not each device's journal:
they learned of an expired certificate when a property manager's browser refused the page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from edge_agent.clock import Clock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.web.certs import ServedCertificate

log = logging.getLogger(__name__)


class CertificateNotices:
    """Listens to a ``ServedCertificate``: ``status()`` for the retained status document, one event per change of
    its state (the first one only when it is not ``valid``), ``on_status`` hooks to publish the status again."""

    def __init__(self, served: ServedCertificate, bus: EventBus, clock: Clock) -> None:
        self.served, self.bus, self.clock = served, bus, clock
        self.on_status: list[Callable[[], None]] = []  # the MQTT link's status, published again
        self._told: str | None = None  # the state last announced
        self._started = False
        self._lock = threading.Lock()
        served.listeners.append(self._changed)

    def started(self) -> None:
        """At the agent's start, with MQTT and the notification sinks listening: a certificate already in its last
        days (or expired) is announced, as the log warns of it at every start."""
        self._started = True
        self._changed()

    def status(self) -> dict[str, Any]:
        """``web_certificate`` for the retained status: the served certificate's dates and state."""
        dates, state = self.served.dates(), self.served.state()
        if dates is None or state is None:
            return {}
        return {"web_certificate": {"not_before": iso(dates[0]), "not_after": iso(dates[1]), "state": state}}

    def _changed(self) -> None:
        if not self._started:
            return
        dates, state = self.served.dates(), self.served.state()
        with self._lock:
            previous, self._told = self._told, state
        if dates is not None and state is not None and state != previous and (previous, state) != (None, "valid"):
            left = (dates[1] - self.clock.now()).total_seconds() / 86400
            self.bus.publish(Event.make(EventType.WEB_CERTIFICATE, self.clock, data={
                "state": state, "previous": previous, "cert_file": self.served.served_file,
                "not_before": iso(dates[0]), "not_after": iso(dates[1]), "days_left": round(left, 1)}))
        for publish in list(self.on_status):
            publish()
