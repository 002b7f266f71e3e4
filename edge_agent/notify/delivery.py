"""One sink's delivery: a durable outbox in front of an HTTP endpoint.

Why an outbox: the group chat or backend is often unreachable (site uplink down, robot rate
limits); an event chosen for this sink is on disk before ``enqueue`` returns and leaves the
outbox only once the endpoint said yes (or into the dead letters, another file), so outages
and restarts cost delays, never messages.
Delivery is in order and one at a time: a failure (error status, robot ``errcode``, timeout,
refused connection) keeps the row at the head and backs off (doubling, capped; a ``Retry-After``
on 429 / 503 sets the wait instead, within ``backoff_s`` … ``max_backoff_s``). An answer that
refuses the event itself (``answers.py``: 400, 413, 422 …) is tried ``refused_tries`` times in
all, then the row moves to the dead letters and the next one goes at once — one bad event must
not hold the sink for good. The backoff is not reset by that move, only by a delivery: an
endpoint refusing everything drains into the dead letters slowly, not at full speed. A timeout
may hide a delivery that did arrive, so the receiver de-duplicates by ``X-Event-Id``.
Requests are paced (``pacing.py``: WeCom and DingTalk robots take 20 in any minute, their documented
limit; DingTalk answers a 21st by refusing everything for 10 minutes): a burst — a night held by
quiet hours, a backlog after an outage, many violations at once — goes out at that pace instead of
running into the robot's block.
An event older than the sink's ``max_age_s`` when its turn comes (robots: a day by default) moves
to the dead letters unsent: after an outage of days, or a robot key fixed after a week, the group
would otherwise get every alert of that time, at 20 a minute, each telling someone to go to a bay.

``pump()`` does the due work and says how long to wait; the service's thread calls it, tests
call it directly on a FakeClock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, quote_plus, urlsplit
from zoneinfo import ZoneInfo

from edge_agent.clock import Clock
from edge_agent.config.notify import SinkConfig
from edge_agent.events.outbox import Outbox, OutboxRow
from edge_agent.events.types import Event
from edge_agent.masking import mask_secrets, mask_url_credentials
from edge_agent.notify import messages
from edge_agent.notify.answers import Answer, Outcome, outcome, retry_after_s
from edge_agent.notify.dead_letters import DeadLetters
from edge_agent.notify.pacing import Pacer
from edge_agent.timesync import EARLIEST_DAY

log = logging.getLogger(__name__)

# (request, timeout) -> the answer; a transport failure raises OSError (ConnectionError, TimeoutError)
Post = Callable[[messages.Request, float], Answer]
IDLE_S = 30.0  # nothing to do: check again after this (a new event wakes the thread sooner)
UNSYNCED = ":unsynced"  # a row's topic ends so when queued while the clock was not synchronised (no name has ":")
MAX_DOUBLINGS = 40  # 2 ** n past this is far above any max_backoff_s (and 2.0 * 2 ** 1100 overflows)


@dataclass
class Counts:
    enqueued: int = 0
    delivered: int = 0
    failures: int = 0
    dead: int = 0  # moved to the dead letters since start
    expired: int = 0  # of those, too old to send (``max_age_s``)


@dataclass(frozen=True)
class Site:
    site_id: str
    device_id: str
    tz: ZoneInfo
    lang: str
    public_url: str | None


class Delivery:
    def __init__(self, sink: SinkConfig, outbox: Outbox, dead: DeadLetters, post: Post, clock: Clock, site: Site,
                 key: str | None = None, sign_secret: str | None = None, pacer: Pacer | None = None) -> None:
        """``pacer``: shared with the other sinks posting to the same robot; by default the sink's own
        (``sink.per_minute``), or none."""
        self.sink = sink
        self.outbox = outbox
        self.dead = dead
        self.post = post
        self.clock = clock
        self.site = site
        self._key = key
        self._sign = sign_secret
        self._types = frozenset(sink.events)
        self._fails = 0
        self._next_try = float("-inf")
        self._refused = (0, 0)  # (seq, refusals) of the head row
        self.pacer = pacer or (Pacer(sink.per_minute, clock.monotonic) if sink.per_minute else None)
        self.counts = Counts()
        self.last_error: str | None = None

    def wants(self, ev: Event) -> bool:
        return ev.type in self._types

    def enqueue(self, ev: Event) -> bool:
        """Keep ``ev`` for this sink if it is one of its types (on disk before returning)."""
        if not self.wants(ev):
            return False
        topic = self.sink.name if self.clock.synced() is not False else self.sink.name + UNSYNCED
        if self.outbox.put(topic, json.dumps(ev.to_dict(), ensure_ascii=False).encode(),
                           protected=True) is None:  # disk full: counted in the outbox's lost(), said in status
            self.last_error = f"event {ev.event_id} not queued: the disk is full ({self.outbox.lost()} lost)"
            return False
        self.counts.enqueued += 1
        return True

    def quiet(self) -> bool:
        q = self.sink.quiet_hours
        return q is not None and q.holds(self.clock.now().astimezone(self.site.tz))

    def pump(self, limit: int = 50) -> float:
        """Send what is due, in order; returns seconds until it is worth calling again."""
        expired = self.counts.expired
        try:
            return self._pump(limit)
        finally:  # one line per pump, not one per row: a week's backlog can expire at once
            if self.counts.expired > expired:
                log.warning("notify %s: %d event(s) older than max_age_h %g moved to the dead letters unsent (%s)",
                            self.sink.name, self.counts.expired - expired, (self.sink.max_age_s or 0) / 3600,
                            self.dead.path)

    def _expired(self, ev: Event) -> str | None:
        """Why ``ev`` is too old to send now (past the sink's ``max_age_s``), or None.

        An age the clocks cannot vouch for is no reason: a stamp or a now before ``EARLIEST_DAY``
        (a Pi without RTC before NTP), a stamp ahead of now (the clock was stepped back), and (the
        caller) an event queued while the clock said it was not synchronised — a Pi booting with
        its last saved time, days behind, until NTP steps it.
        """
        limit = self.sink.max_age_s
        if limit is None:
            return None
        try:
            stamped = datetime.fromisoformat(ev.ts)
        except (TypeError, ValueError):
            return None
        now = self.clock.now()
        if stamped.tzinfo is None or min(stamped, now).date() < EARLIEST_DAY:
            return None
        age = (now - stamped).total_seconds()
        if age > limit:  # then as the site's clock reads it, when that is less: the night the clocks go back is an
            # hour longer than the quiet hours written for it, and an alert held through '22:00'-'07:00' with
            # max_age_h 9.25 (above the 9 h, as the docs advise) was 10 h old at 07:00: dead letters, unsent
            tz = self.site.tz
            age = min(age, (now.astimezone(tz).replace(tzinfo=None)
                            - stamped.astimezone(tz).replace(tzinfo=None)).total_seconds())
        if age <= limit:
            return None
        return f"expired: {age / 3600:.1f} h old when its turn came, past max_age_h {limit / 3600:g}; not sent"

    def _pump(self, limit: int) -> float:
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
                log.error("notify %s: unreadable outbox row %d: %s", self.sink.name, row.seq, exc)
                if not self._bury(row, None, f"unreadable outbox row: {exc}", 0):
                    return self._back_off(None)
                continue
            expired = None if row.topic.endswith(UNSYNCED) else self._expired(ev)
            if expired is not None:
                if not self._bury(row, None, expired, 0, loud=False):
                    return self._back_off(None)
                self.counts.expired += 1
                continue
            slot = None
            if self.pacer is not None:
                pace, slot = self.pacer.reserve(self.sink.timeout_s)
                if slot is None:
                    return pace  # not a failure: the backoff and the error stay as they are
            try:
                result, answer = self._send(ev)
            finally:
                if slot is not None and self.pacer is not None:
                    self.pacer.done(slot)
            if result == "delivered":
                self.outbox.remove([row.seq])
                self.counts.delivered += 1
                if self._fails:
                    log.info("notify %s: delivering again after %d failed tries", self.sink.name, self._fails)
                self._fails = 0
                self.last_error = None
                continue
            if result == "refused" and answer is not None:
                seq, n = self._refused
                n = n + 1 if seq == row.seq else 1
                self._refused = (row.seq, n)
                if n >= self.sink.refused_tries and self._bury(row, answer.status, self.last_error or "", n):
                    self._fails += 1
                    self.counts.failures += 1
                    continue  # the next event goes now
            wait = retry_after_s(answer, self.clock.now()) if answer is not None else None
            return self._back_off(wait)
        return 0.0 if len(rows) == limit else IDLE_S

    def _back_off(self, asked_s: float | None) -> float:
        """Count a failure and wait: doubling from ``backoff_s`` up to ``max_backoff_s``, or what the
        endpoint asked (``Retry-After``) held within the same bounds (0 would spin, a day would stall)."""
        self._fails += 1
        self.counts.failures += 1
        k = self.sink
        delay = min(k.max_backoff_s, k.backoff_s * 2 ** min(self._fails - 1, MAX_DOUBLINGS))
        if asked_s is not None:
            delay = min(k.max_backoff_s, max(k.backoff_s, asked_s))
        self._next_try = self.clock.monotonic() + delay
        if self._fails in (1, 5) or self._fails % 50 == 0:
            log.warning("notify %s: %s (try %d), retrying in %.0f s; %d waiting", k.name,
                        self.last_error, self._fails, delay, self.outbox.depth())
        return delay

    def _bury(self, row: OutboxRow, status: int | None, reason: str, tries: int, loud: bool = True) -> bool:
        """Move ``row`` to the dead letters; False (and it stays queued) when they cannot take it."""
        at = self.clock.now().isoformat(timespec="milliseconds")
        try:
            kept = self.dead.add(self.sink.name, row.payload, status=status, reason=reason, tries=tries, at=at)
        except sqlite3.Error as exc:  # a damaged dead-letter file must not cost the event
            log.error("notify %s: dead letters %s: %s", self.sink.name, self.dead.path, exc)
            kept = False
        if not kept:
            self.last_error = f"{reason}; not moved to the dead letters (cannot write {self.dead.path.name}): kept"
            return False
        self.outbox.remove([row.seq])
        self.counts.dead += 1
        if not loud:
            return True
        log.error("notify %s: outbox row %d moved to the dead letters after %d refusal(s): %s (%d in %s)",
                  self.sink.name, row.seq, tries, reason, self.dead.count(), self.dead.path)
        return True

    def depth(self) -> int:
        return self.outbox.depth()

    def _send(self, ev: Event) -> tuple[Outcome, Answer | None]:
        req = self.request(ev)
        try:
            answer = self.post(req, self.sink.timeout_s)
        except OSError as exc:  # timeout, refused, DNS: all mean "not yet" (Post raises OSError for them)
            self.last_error = self._scrub(req, f"{type(exc).__name__}: {exc}")
            return "retry", None
        result = outcome(self.sink.kind, answer)
        if result != "delivered":
            body = " ".join(answer.text.split())[:200]
            said = f"HTTP {answer.status}: {body}" if body else f"HTTP {answer.status}"
            if 300 <= answer.status < 400:  # a moved endpoint: the operator needs the new place to fix the url
                where = " ".join((answer.location or "no Location").split())[:200]
                said += f" (redirect to {where}: not followed; if the endpoint moved, change the sink's url)"
            self.last_error = self._scrub(req, said)
        return result, answer

    def _scrub(self, req: messages.Request, text: str) -> str:
        """``last_error`` without the robot key, token or 加签 values, or a webhook's signature.

        Why: it goes to the heartbeat (MQTT, not through the log filter) and the dead letters, and an
        endpoint's answer or a transport error may quote the request URL, which carries them in its
        query, or the request's headers (``X-Edge-Signature``).
        """
        found = [self._key, self._sign, quote_plus(self._key or ""), quote_plus(self._sign or "")]
        found += [v for k, vs in parse_qs(urlsplit(req.url).query).items() if k != "timestamp" for v in vs]
        found += [v.split("=", 1)[-1] for k, v in req.headers.items() if k.lower() == "x-edge-signature"]
        found += [quote_plus(v) for v in found if v]
        return mask_url_credentials(mask_secrets(text, (v for v in found if v)))

    def request(self, ev: Event) -> messages.Request:
        s, k, wall = self.site, self.sink, self.clock.now().timestamp()
        if k.kind == "webhook":
            return messages.webhook(ev, k.endpoint, self._key, wall, s.site_id, s.device_id, s.public_url)
        if k.kind == "wecom":
            return messages.wecom(ev, k.endpoint, self._key or "", s.tz, s.lang, s.public_url, s.site_id)
        return messages.dingtalk(ev, k.endpoint, self._key or "", self._sign, wall, s.tz, s.lang, s.public_url,
                                 s.site_id)
