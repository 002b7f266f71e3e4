"""Per-client request rates on the page's costly paths: a token bucket per client and kind of request.

The connection bounds (``connections.py``) cap how many requests one client has in flight, not how many it sends
a second. One signed-in browser or script asking for snapshots as fast as it could (8 at a time over
keep-alive) made 89 in 8 s on the dev machine, each a JPEG in the evidence and an audit row, each taking the
camera loop's lock for a moment (for all of its encoding and writing until 2026-12-04: the loop waited 2.4 s of
those 8). Here each client (an IPv6 host by its /64, as the
login limits and the connection bounds count it) has a bucket per kind below, refilled on the injected clock;
a request that finds it empty gets **429** with ``Retry-After`` before any session row, database or camera is
touched, in the user's language for a browser or the installer's script (``refusal``: ``app.rate_refusal``). Pages and static files are not counted: they are cheap, and staff must never meet this. List edits and decisions
are counted per signed-in user (``PER_USER``).

Whose bucket (``RateLimit.who``): a request whose signed session cookie names a session (someone signed in from
this browser) draws on the address's signed-in bucket, any other on the address's anonymous one; a sign-in whose
known-device cookie checks out (``auth.KnownDevices``) on the address's bucket for that name. Before, anyone sharing the address
(one IPv4 behind a NAT, the office's /64 under SLAAC) could keep the staff at 429 without signing in: 1,100 refused
requests a second to ``/evidence/…`` and the admin's pictures were all 429, 3 login posts a second and nobody on
the /64 could sign in. Telling them apart costs no database read: the cookie's signature was checked outside.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from edge_agent.clock import Clock
from edge_agent.web.auth import SWEEP_AT, KnownDevices, RefusalLog, address_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rate:
    burst: float  # requests at once after a quiet spell
    per_s: float  # then this many a second


RATES = {
    # a snapshot, the installer's picture, a confirmed view, a bay save, the teach mode's picture (classified),
    # labelled frame, fit and "Use it": each may hold the camera loop's lock and
    # write evidence or config; an installer does a few in a row, then draws for minutes
    "camera": Rate(10, 0.5),
    # CSV exports and the statistics page: each reads the log or the day tables whole (the page and its four
    # tables' CSVs are 5 in a row)
    "export": Rate(12, 0.5),
    # evidence pictures: a violation's page shows two, the live page one per bay every 15 s
    "image": Rate(120, 20.0),
    # sign-in attempts, before the form is read (the failure limit counts the wrong passwords among them): room
    # for a whole office signing in at once behind one address; a flood past it costs no page and no audit row
    "login": Rate(50, 2.0),
    # a plate put on the allow / deny list: each rewrites overrides.yaml (fsync, rename) and the agent's lists; one
    # client wrote the file 82 times in 10 s (SD wear). A reviewer lists a few plates in a row (12 at once measured)
    "lists": Rate(20, 0.2),
    # a decision on a violation: a write of the log and its audit row each (none counted before: one client could
    # write as fast as the disk took them). A reviewer clears a backlog at a click every few seconds at most
    "decide": Rate(60, 1.0),
}
# counted per signed-in user, after the session's check (``context.per_user_rate``), not per address: reviewers behind
# one address (an office's NAT) shared the address's bucket, one listing plates kept the others at 429; and a second
# session of the same user (signing in again) shares that user's bucket. Anonymous requests there count per address.
PER_USER = ("lists", "decide")
SAY_EVERY_S = 60.0  # one log line per client and kind at most this often
# and at most this many in an hour over all clients: many addresses (an IPv6 host's /64s) each got their own line
SAY_PER_HOUR = 60


def kind_of(method: str, path: str) -> str | None:
    """Which bucket a request draws on (None: not counted)."""
    if path.startswith("/evidence/"):
        return "image"
    if path in ("/violations.csv", "/stats.csv", "/stats"):
        return "export"
    if path in ("/installer", "/camera/confirm", "/installer/teach") or (
            path.startswith("/bays/") and path.endswith("/snapshot")):
        return "camera"
    if method == "POST" and path.startswith("/installer/teach/"):  # a labelled picture stored, a fit, a reload
        return "camera"
    if path == "/login" and method == "POST":
        return "login"
    if method == "POST" and path.startswith("/violations/") and path.endswith("/list"):
        return "lists"
    if method == "POST" and path.startswith("/violations/") and path.endswith("/decide"):
        return "decide"
    return None


class TokenBuckets:
    """A bucket per (kind, client), on the injected monotonic clock (tests move time, not sleep)."""

    def __init__(self, clock: Clock, rates: dict[str, Rate] | None = None) -> None:
        self._clock = clock
        self.rates = dict(rates or RATES)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # → (tokens, at)
        self._lock = threading.Lock()
        self._sweep_at = SWEEP_AT  # buckets kept before the next sweep (``_sweep``)

    def _sweep(self, now: float) -> None:
        """Forget the full buckets (rotating addresses must not pile up); the next sweep once twice as many are
        kept as are left. Why: over SWEEP_AT partly spent ones (clients seen within a refill, e.g. 10,001 /64s or
        names forwarded by a proxy each posting once) every request rebuilt the table, all of it under the lock:
        11 ms a request (2 µs otherwise), the page's whole limiter held to about 90 requests a second."""
        self._buckets = {k: (t, at) for k, (t, at) in self._buckets.items()
                         if t + (now - at) * self.rates[k[0]].per_s < self.rates[k[0]].burst}
        self._sweep_at = max(SWEEP_AT, 2 * len(self._buckets))

    def take(self, kind: str, client: str) -> float:
        """Take one token from ``client``'s bucket (``RateLimit.who``'s key): 0.0 when there was one, else the
        seconds until there is (nothing taken)."""
        rate, now, key = self.rates[kind], self._clock.monotonic(), (kind, client)
        with self._lock:
            if len(self._buckets) > self._sweep_at:
                self._sweep(now)
            tokens, at = self._buckets.get(key, (rate.burst, now))
            tokens = min(rate.burst, tokens + max(0.0, now - at) * rate.per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate.per_s


class Limits:
    """The buckets and their log lines, shared by the middleware (per address) and ``context.per_user_rate``."""

    def __init__(self, clock: Clock, rates: dict[str, Rate] | None = None) -> None:
        self.buckets = TokenBuckets(clock, rates)
        # the signed-in users' (``PER_USER``), apart: a client behind a trusted proxy names itself in X-Forwarded-For,
        # any text, and its anonymous posts named ``user:admin`` drew on the user admin's bucket (review76)
        self.users = TokenBuckets(clock, rates)
        self._said = RefusalLog(clock, SAY_EVERY_S, SAY_PER_HOUR)  # a log line per client and kind at most this often

    def take(self, kind: str, key: str, who: str, user: bool = False) -> float:
        """``TokenBuckets.take``; a refusal logged (``who``: the address or user named, at most a line a minute).
        ``user``: ``key`` is a signed-in user's name (``users``), else the middleware's client (``RateLimit.who``)."""
        wait = (self.users if user else self.buckets).take(kind, key)
        if wait > 0 and (counts := self._said.note(who, kind)) is not None:
            count, unsaid = counts
            more = f" ({count} more refused since the last line)" if count else ""
            more += f" ({unsaid} more refusals of any client not logged: at most {SAY_PER_HOUR} lines an hour)" \
                if unsaid else ""
            log.warning("review page: %r sends %s requests faster than allowed: 429%s", who, kind, more)
        return wait


def _cookie(scope: Scope, name: str) -> str | None:
    """One cookie's value from the raw header (the known-device cookie: the session middleware reads only its own)."""
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v.strip('"')
    return None


class RateLimit:
    """ASGI middleware: ``TokenBuckets`` on the paths ``kind_of`` names; 429 with ``Retry-After`` past them."""

    def __init__(self, app: ASGIApp, clock: Clock, rates: dict[str, Rate] | None = None,
                 refusal: Callable[[Scope, str, int], ASGIApp | None] | None = None,
                 known: Callable[[str], bool] | None = None, limits: Limits | None = None) -> None:
        self.app = app
        self.refusal = refusal  # the 429 in the user's words (``app.rate_refusal``): None, or it gives None: plain text
        self.known = known  # whether a known-device cookie checks out (``KnownDevices.valid``); None: never
        self.limits = limits or Limits(clock, rates)  # the app's, shared with its per-user counts
        self.buckets = self.limits.buckets

    def who(self, scope: Scope, kind: str, client: str) -> str:
        """The bucket a request draws on: its address's (an IPv6 host by its /64), the signed-in one when its
        signed session names a session, else the anonymous one; a sign-in from a known browser the address's for
        the name its cookie names (as the failure limit counts it). A session the server has since ended still
        counts as signed in here: its cookie was issued at a login, which no one without a password gets. Not the
        known browser's /128: one copied cookie then took a fresh address of its /64 for each post, unlimited."""
        if "sid" in (scope.get("session") or {}):
            return f"{address_key(client)} signed-in"
        cookie = _cookie(scope, KnownDevices.COOKIE) or ""
        if kind == "login" and self.known is not None and self.known(cookie):
            return f"{address_key(client)} known:{cookie.rpartition(':')[0].lower()}"
        return address_key(client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = kind_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if kind in PER_USER and "sid" in (scope.get("session") or {}):
            kind = None  # counted per user once the session is checked (``context.per_user_rate``)
        if kind is None:
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "?"
        wait = self.limits.take(kind, self.who(scope, kind, client), address_key(client))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, int(wait + 0.999))
        answer = self.refusal(scope, kind, retry) if self.refusal is not None else None
        if answer is not None:
            await answer(scope, receive, send)
            return
        body = (f"too many requests ({kind}) from this address: retry in {retry} s\n"
                f"请求过于频繁，请 {retry} 秒后再试\n").encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry).encode())]})
        await send({"type": "http.response.body", "body": body})
