"""The page's certificate and key as it serves them (``web.tls``), re-read when their files are renewed.

Why: the pair was read once, at start. A certificate renewed every 60–90 days (certbot, a site CA) went on being
served stale until someone restarted the agent, and a browser refused the page the day the old one expired. Now
the files are looked at (``stat``) at most every ``CHECK_EVERY_S`` as connections come, and at every config
reload (SIGHUP): a changed pair passes the checks of a config load (``WebTlsConfig``) and is served to the next
connections; open ones keep theirs. A pair those checks refuse (a key of another certificate, half copied; a key
every user may read) is one error line, once per state of the files, and the served pair stays.

A certificate served that expires within ``cert_dates.WARN_DAYS``, has expired, or is not valid yet is one warning
at the start, at each renewed pair served, and as a served one crosses into those states: an operator learned it
only when browsers refused the page.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from pydantic import ValidationError

from edge_agent.cert_dates import expiry_problem, state_of, validity
from edge_agent.config.web import WebTlsConfig, server_context

logger = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0  # a renewal is served within a minute; two stat calls a minute cost nothing

Signature = tuple[tuple[int, ...] | None, ...]


def _signature(*paths: str) -> Signature:
    """What tells a rewritten or replaced file (certbot swaps links to new files; ``cp`` writes over), or one whose
    mode was put right (ctime: a ``chmod 600`` after a refused ``o+r`` key)."""
    out: list[tuple[int, ...] | None] = []
    for path in paths:
        try:
            st = os.stat(path)  # through links: /etc/letsencrypt/live/… points into archive/
        except OSError:
            out.append(None)
        else:
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


class ServedCertificate:
    """``context()`` for each new connection; ``reload()`` at a config reload. Thread-safe: the page's loop
    asks, the reload's thread reloads."""

    def __init__(self, cert_file: str, key_file: str, clock: Callable[[], float] = time.monotonic,
                 check_every_s: float = CHECK_EVERY_S, now: Callable[[], datetime] | None = None) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._clock, self._every = clock, check_every_s
        self._now = now or (lambda: datetime.now(timezone.utc))  # the wall clock: the certificate's dates
        self._lock = threading.Lock()
        self._seen = _signature(cert_file, key_file)  # before the read: a change during it is read again
        self._context = server_context(cert_file, key_file)  # checked by the config load already
        self._refused: Signature | None = None
        self._checked = clock()
        self._dates: tuple[datetime, datetime] | None = None
        self._said: str | None = None  # the expiry state last warned of: "warn", "fail" or None
        self._state: str | None = None  # cert_dates.state_of the served certificate, as last looked at
        self._changed = False  # a pair served or its state changed since the listeners were last told
        self.listeners: list[Callable[[], None]] = []  # told after that, outside the lock (cert_notices)
        self.served_file = cert_file  # the file the served certificate was read from (cert_file may name another)
        self._served_new()

    def context(self) -> ssl.SSLContext:
        """The context a new connection's handshake uses: the files' newest good pair."""
        if self._clock() - self._checked >= self._every:
            self.reload()
        return self._context

    def dates(self) -> tuple[datetime, datetime] | None:
        """The served certificate's notBefore and notAfter (None: unreadable here, though OpenSSL serves it)."""
        return self._dates

    def state(self) -> str | None:
        """The served certificate's ``cert_dates.state_of`` on the injected wall clock (None: dates unknown)."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[tuple[datetime, datetime] | None, str | None]:
        """``dates()`` and ``state()`` of one served certificate: read apart, a renewal between the two paired the
        old certificate's dates with the new one's state."""
        dates = self._dates
        return dates, None if dates is None else state_of(*dates, self._now())

    def reload(self) -> bool:
        """Serve the pair the files hold now, if they changed and pass the load's checks; True when a new pair
        is served. A refused one is logged once (until the files change again) and the served pair stays.
        Also the look that sees the served certificate cross into its last days or expire (every minute)."""
        served = self._reload()
        with self._lock:
            changed, self._changed = self._changed, False
        if changed:
            for tell in list(self.listeners):
                try:
                    tell()
                except Exception:  # noqa: BLE001 - the backend's notice is worth less than the page's certificate
                    logger.exception("web.tls: telling of the served certificate failed")
        return served

    def _reload(self) -> bool:
        with self._lock:
            self._checked = self._clock()
            now = _signature(self.cert_file, self.key_file)
            if now in (self._seen, self._refused):
                self._warn_expiry()  # the served certificate's end came near (or passed) while it ran
                return False
            try:
                WebTlsConfig.model_validate({"cert_file": self.cert_file, "key_file": self.key_file})
                context = server_context(self.cert_file, self.key_file)
            except ValidationError as exc:
                problems = [f"web.tls{''.join(f'.{p}' for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                            for e in exc.errors()]
            except (OSError, ValueError, ssl.SSLError) as exc:  # changed again between the check and the read
                problems = [f"web.tls: {exc}"]
            else:
                self._context, self._seen, self._refused = context, now, None
                logger.info("web.tls: serving the certificate now in %s to new connections", self.cert_file)
                self._served_new()
                return True
            self._refused = now
            self._warn_expiry()
            logger.error("web.tls: the changed certificate or key is not served, the page keeps the one it has: %s",
                         "; ".join(problems))
            return False

    def switch(self, cert_file: str, key_file: str) -> bool:
        """Serve the pair at other paths (a reload that changed ``web.tls.cert_file`` / ``key_file``), under a
        renewal's checks; True when it is served. A refused pair is one error and the served one stays; the new
        paths are the ones watched from now, so their pair is served once it passes."""
        with self._lock:
            self.cert_file, self.key_file = cert_file, key_file
            self._seen = self._refused = None  # whatever the files hold: read them
        return self.reload()

    def _served_new(self) -> None:
        """A pair just served (the start, a renewal): its dates, and a warning if browsers refuse it now or soon."""
        self.served_file = self.cert_file
        self._changed = True
        try:
            self._dates = validity(self.cert_file)
        except (OSError, ValueError) as exc:  # served fine by OpenSSL: only its dates are unreadable here
            self._dates = None
            logger.warning("web.tls: the served certificate's dates could not be read: %s", exc)
        self._said = None
        self._warn_expiry()

    def _warn_expiry(self) -> None:
        """One warning per state of the served certificate (under ``WARN_DAYS`` left, then expired): said at the
        start and at a renewal, and when an agent running for weeks on one certificate crosses into a state (the
        check comes with the minute's look at the files)."""
        if self._dates is None:
            return
        state = state_of(*self._dates, self._now())
        if state != self._state:
            self._state, self._changed = state, True
        problem = expiry_problem(*self._dates, self._now())
        kind = problem[0] if problem else None
        if problem is not None and kind != self._said:
            logger.warning("web.tls: the certificate in %s %s", self.served_file, problem[1])
        self._said = kind


def fixed(context: ssl.SSLContext) -> Callable[[], ssl.SSLContext]:
    """A context that is never re-read (tests, a context built by hand)."""
    return lambda: context
