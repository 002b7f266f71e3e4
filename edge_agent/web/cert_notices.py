"""The page's certificate (``web.tls``) told to the backend over MQTT: its dates in the retained status, and a
``web_certificate`` event when it enters its last ``cert_dates.WARN_DAYS``, expires, is not valid yet, or is valid
again (a renewal served).

Why: its end date was in ``doctor`` and the log only, and backend operators watch MQTT, not each device's journal:
they learned of an expired certificate when a property manager's browser refused the page.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
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
        self._pending: deque[Event | None] = deque()  # announced under the lock, published outside it in order
        self._publishing = False  # a thread is publishing ``_pending``: the others leave theirs to it
        served.listeners.append(self._changed)

    def started(self) -> None:
        """At the agent's start, with MQTT and the notification sinks listening: a certificate already in its last
        days (or expired) is announced, as the log warns of it at every start."""
        self._started = True
        self._changed()

    def status(self) -> dict[str, Any]:
        """``web_certificate`` for the retained status: the served certificate's dates and state."""
        dates, state = self.served.snapshot()
        if dates is None or state is None:
            return {}
        return {"web_certificate": {"not_before": iso(dates[0]), "not_after": iso(dates[1]), "state": state}}

    def _changed(self) -> None:
        """Read, compare and queue under the lock; publish outside it, one thread at a time, in the queue's order.

        Why: a connection's check and a reload tell at the same moment (two threads). Reading the state outside the
        lock, the check could read the old certificate's ``expiring``, the reload announce the renewal, then the
        check announce its stale ``expiring`` last: the backend believed a renewed certificate about to expire.
        Publishing under the lock instead would hold it through every MQTT and push sink."""
        if not self._started:
            return
        with self._lock:
            dates, state = self.served.snapshot()
            previous, self._told = self._told, state
            if dates is not None and state is not None and state != previous and (previous, state) != (None, "valid"):
                left = (dates[1] - self.clock.now()).total_seconds() / 86400
                self._pending.append(Event.make(EventType.WEB_CERTIFICATE, self.clock, data={
                    "state": state, "previous": previous, "cert_file": self.served.served_file,
                    "not_before": iso(dates[0]), "not_after": iso(dates[1]), "days_left": round(left, 1)}))
            self._pending.append(None)  # the status published again (it reads the state when it is sent)
            if self._publishing:
                return  # the thread publishing now sends this too, after what it queued before
            self._publishing = True
        while True:
            with self._lock:
                if not self._pending:
                    self._publishing = False
                    return
                item = self._pending.popleft()
            try:
                if item is not None:
                    self.bus.publish(item)
                else:
                    for publish in list(self.on_status):
                        publish()
            except BaseException:  # the served certificate logs it; the rest waits for the next notice
                with self._lock:
                    self._publishing = False
                raise
