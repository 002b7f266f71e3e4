"""One sink's delivery: a durable outbox in front of an HTTP endpoint.

Why an outbox: the group chat or backend is often unreachable (site uplink down, robot rate
limits); an event chosen for this sink is on disk before ``enqueue`` returns and leaves the
disk only once the endpoint said yes, so outages and restarts cost delays, never messages.
Delivery is in order and one at a time: a failure (error status, robot ``errcode``, timeout,
refused connection) keeps the row at the head and backs off (doubling, capped). A timeout may
hide a delivery that did arrive, so the receiver de-duplicates by ``X-Event-Id``.

``pump()`` does the due work and says how long to wait; the service's thread calls it, tests
call it directly on a FakeClock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote_plus, urlsplit
from zoneinfo import ZoneInfo

from edge_agent.clock import Clock
from edge_agent.config.notify import SinkConfig
from edge_agent.events.outbox import Outbox
from edge_agent.events.types import Event
from edge_agent.masking import MASK, mask_url_credentials
from edge_agent.notify import messages

log = logging.getLogger(__name__)

# (request, timeout) -> (status, body); a transport failure raises OSError (ConnectionError, TimeoutError)
Post = Callable[[messages.Request, float], "tuple[int, str]"]
IDLE_S = 30.0  # nothing to do: check again after this (a new event wakes the thread sooner)


@dataclass
class Counts:
    enqueued: int = 0
    delivered: int = 0
    failures: int = 0


@dataclass(frozen=True)
class Site:
    site_id: str
    device_id: str
    tz: ZoneInfo
    lang: str
    public_url: str | None


class Delivery:
    def __init__(self, sink: SinkConfig, outbox: Outbox, post: Post, clock: Clock, site: Site,
                 key: str | None = None, sign_secret: str | None = None) -> None:
        self.sink = sink
        self.outbox = outbox
        self.post = post
        self.clock = clock
        self.site = site
        self._key = key
        self._sign = sign_secret
        self._types = frozenset(sink.events)
        self._fails = 0
        self._next_try = float("-inf")
        self.counts = Counts()
        self.last_error: str | None = None

    def wants(self, ev: Event) -> bool:
        return ev.type in self._types

    def enqueue(self, ev: Event) -> bool:
        """Keep ``ev`` for this sink if it is one of its types (on disk before returning)."""
        if not self.wants(ev):
            return False
        if self.outbox.put(self.sink.name, json.dumps(ev.to_dict(), ensure_ascii=False).encode(),
                           protected=True) is None:  # disk full: counted in the outbox's lost(), said in status
            self.last_error = f"event {ev.event_id} not queued: the disk is full ({self.outbox.lost()} lost)"
            return False
        self.counts.enqueued += 1
        return True

    def quiet(self) -> bool:
        q = self.sink.quiet_hours
        return q is not None and q.contains(self.clock.now().astimezone(self.site.tz).time())

    def pump(self, limit: int = 50) -> float:
        """Send what is due, in order; returns seconds until it is worth calling again."""
        now = self.clock.monotonic()
        if now < self._next_try:
            return self._next_try - now
        if self.quiet():
            return 60.0  # held, not dropped: sent when the quiet hours end
        rows = self.outbox.pending(limit=limit)
        for row in rows:
            try:
                ev = Event.from_dict(json.loads(row.payload))
            except (ValueError, KeyError, TypeError) as exc:  # never sendable: must not block the rows behind it
                log.error("notify %s: dropping unreadable outbox row %d: %s", self.sink.name, row.seq, exc)
                self.outbox.remove([row.seq])
                continue
            if not self._send(ev):
                self._fails += 1
                self.counts.failures += 1
                delay = min(self.sink.max_backoff_s, self.sink.backoff_s * 2 ** (self._fails - 1))
                self._next_try = self.clock.monotonic() + delay
                if self._fails in (1, 5) or self._fails % 50 == 0:
                    log.warning("notify %s: %s (try %d), retrying in %.0f s; %d waiting", self.sink.name,
                                self.last_error, self._fails, delay, self.outbox.depth())
                return delay
            self.outbox.remove([row.seq])
            self.counts.delivered += 1
            if self._fails:
                log.info("notify %s: delivering again after %d failed tries", self.sink.name, self._fails)
            self._fails = 0
            self.last_error = None
        return 0.0 if len(rows) == limit else IDLE_S

    def depth(self) -> int:
        return self.outbox.depth()

    def _send(self, ev: Event) -> bool:
        req = self.request(ev)
        try:
            status, text = self.post(req, self.sink.timeout_s)
        except OSError as exc:  # timeout, refused, DNS: all mean "not yet" (Post raises OSError for them)
            self.last_error = self._scrub(req, f"{type(exc).__name__}: {exc}")
            return False
        if messages.robot_ok(self.sink.kind, status, text):
            return True
        self.last_error = self._scrub(req, f"HTTP {status}: {text[:200]}")
        return False

    def _scrub(self, req: messages.Request, text: str) -> str:
        """``last_error`` without the robot key, token or 加签 values.

        Why: it goes to the heartbeat (MQTT, not through the log filter), and an endpoint's answer
        or a transport error may quote the request URL, which carries them in its query.
        """
        found = [self._key, self._sign, quote_plus(self._key or ""), quote_plus(self._sign or "")]
        found += [v for k, vs in parse_qs(urlsplit(req.url).query).items() if k != "timestamp" for v in vs]
        found += [quote_plus(v) for v in found if v]
        for value in sorted({v for v in found if v and len(v) >= 3}, key=len, reverse=True):
            text = text.replace(value, MASK)
        return mask_url_credentials(text)

    def request(self, ev: Event) -> messages.Request:
        s, k, wall = self.site, self.sink, self.clock.now().timestamp()
        if k.kind == "webhook":
            return messages.webhook(ev, k.endpoint, self._key, wall, s.site_id, s.device_id, s.public_url)
        if k.kind == "wecom":
            return messages.wecom(ev, k.endpoint, self._key or "", s.tz, s.lang, s.public_url, s.site_id)
        return messages.dingtalk(ev, k.endpoint, self._key or "", self._sign, wall, s.tz, s.lang, s.public_url,
                                 s.site_id)
