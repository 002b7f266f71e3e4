"""The page's certificate (``web.tls``) told to the backend over MQTT: its dates in the retained status, and a
``web_certificate`` event when it enters its last ``cert_dates.WARN_DAYS``, expires, is not valid yet, or is valid
again (a renewal served).

Why: its end date was in ``doctor`` and the log only, and backend operators watch MQTT, not each device's journal:
they learned of an expired certificate when a property manager's browser refused the page.

The notices are published on a thread of their own: a renewal or a crossing into the last days is seen as a
connection comes in, on the page's event loop, and the publish (the MQTT outbox's durable write, every notification
sink) held that loop, and every other visitor's request and handshake, meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
        self._publishing = False  # the worker is publishing ``_pending``: what is queued meanwhile goes with it
        # one thread, so the notices go out in the order they were queued; off the page's event loop (module doc)
        self._worker: ThreadPoolExecutor | None = ThreadPoolExecutor(1, thread_name_prefix="web-cert-notices")
        served.listeners.append(self._changed)

    def start(self) -> None:
        """A component of the agent (``stop`` lets the last notices out before MQTT stops)."""

    def stop(self) -> None:
        """Publish what is queued and end the worker; a notice after this is published by the thread that sees it
        (the agent is stopping: nothing is dropped)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)

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
        """Read, compare and queue under the lock; publish outside it, on the worker, in the queue's order.

        Why: a connection's check and a reload tell at the same moment (two threads). Reading the state outside the
        lock, the check could read the old certificate's ``expiring``, the reload announce the renewal, then the
        check announce its stale ``expiring`` last: the backend believed a renewed certificate about to expire.
        Publishing under the lock instead would hold it through every MQTT and push sink; publishing on the thread
        that noticed held the page's event loop through them (a connection's check)."""
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
                return  # the worker sends this too, after what was queued before
            self._publishing = True
            worker = self._worker
        if worker is not None:
            try:
                worker.submit(self._publish)
                return
            except RuntimeError:  # shut down in between (the agent stopping): published here instead
                pass
        self._publish()

    def _publish(self) -> None:
        """Everything queued, oldest first, until the queue is empty. One that fails is logged, the rest go on."""
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
            except Exception:  # noqa: BLE001 - the backend's notice is worth less than the next one
                log.exception("web.tls: telling of the served certificate failed")
