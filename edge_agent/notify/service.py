"""The notify stage as an agent component: bus events → each sink's outbox → its delivery thread.

One outbox file and one thread per sink (``{data_dir}/notify-<name>.sqlite``), so a dead
DingTalk robot never delays the backend's webhook; beside it the sink's dead letters
(``{data_dir}/notify-dead/<name>.sqlite``: events its endpoint refused for good). Secrets are read at ``start`` and a
missing one stops the start with the config key named.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from edge_agent.clock import Clock
from edge_agent.config.models import AgentConfig
from edge_agent.events.outbox import Outbox
from edge_agent.notify.dead_letters import DeadLetters
from edge_agent.notify.delivery import Delivery, Post, Site
from edge_agent.notify.pacing import Pacer
from edge_agent.notify.transport import DeadlineBackend, deadline_client, httpx_post

log = logging.getLogger(__name__)
STOP_WAIT_S = 1.0  # all sinks' threads together, once their attempts are cancelled: `run`'s stop plan gives
#                   every component 1.5 s in all ("stop sinks"), and the web page and the recorder stop after this


def _say_if_plain(name: str, kind: str, url: str) -> None:
    """An ``http://`` sink past this machine sends what it sends readable by anyone on the path: plates and
    bays in every event, and a robot's key (WeCom ``key=``, DingTalk ``access_token=``) in each request's URL,
    enough to post into the group as the device. Said at start, as the MQTT password over ``mqtt://`` is;
    a plain relay on the machine itself crosses no network."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host in ("localhost", "localhost.", "ip6-localhost"):
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    what = "the robot's key and every event's plate" if kind != "webhook" else "every event's plate and bay"
    log.warning("notify: sink %r posts to %s over plain http: %s cross the network readable by anyone on the path; "
                "use https://", name, f"{parts.scheme}://{parts.netloc}", what)


class NotifyService:
    def __init__(self, cfg: AgentConfig, bus: Any, clock: Clock, post: Post | None = None) -> None:
        self.cfg = cfg
        self.bus = bus
        self.clock = clock
        self._post = post
        self._client: httpx.Client | None = None
        self._backend: DeadlineBackend | None = None
        self.deliveries: list[Delivery] = []
        self._threads: list[threading.Thread] = []
        self._wake: list[threading.Event] = []
        self._stop = threading.Event()
        self._unsubscribe: Any = None

    def open(self) -> list[Delivery]:
        """Read secrets and open the outboxes (no thread yet): ``start`` and tests use it."""
        c = self.cfg
        site = Site(c.site.site_id, c.site.device_id, ZoneInfo(c.site.timezone), c.web.language, c.web.public_url)
        if self._post is None:
            self._client, self._backend = deadline_client(self.clock.monotonic)
            self._post = httpx_post(self._client, self.clock.monotonic, backend=self._backend)
        secrets = [sink.secrets(i) for i, sink in enumerate(c.notify.sinks)]  # SecretError names the key
        for sink in c.notify.sinks:
            _say_if_plain(sink.name, sink.kind, sink.endpoint)
        pacers = self._pacers(secrets)
        for i, sink in enumerate(c.notify.sinks):
            key, sign = secrets[i]
            box = Outbox(Path(c.data_dir) / f"notify-{sink.name}.sqlite", max_rows=c.notify.max_rows)
            dead = DeadLetters(Path(c.data_dir) / "notify-dead" / f"{sink.name}.sqlite", c.notify.max_rows,
                               self.clock.monotonic)
            self.deliveries.append(Delivery(sink, box, dead, self._post, self.clock, site, key, sign,
                                            pacer=pacers.get(i)))
        types = {t for d in self.deliveries for t in d.sink.events}
        self._unsubscribe = self.bus.subscribe(self._on_event, types)
        return self.deliveries

    def _pacers(self, secrets: list[tuple[str | None, str | None]]) -> dict[int, Pacer]:
        """One ``Pacer`` per robot (kind, URL, key) for the paced sinks posting to it, at the smallest of their
        ``per_minute``: two sinks into one group (violations with quiet hours, faults at any hour) were paced
        20 a minute each, 40 together, and DingTalk blocks a robot for 10 minutes past 20."""
        targets: dict[tuple[str, str, str | None], list[int]] = {}
        for i, sink in enumerate(self.cfg.notify.sinks):
            if sink.per_minute:
                targets.setdefault((sink.kind, sink.endpoint, secrets[i][0]), []).append(i)
        out: dict[int, Pacer] = {}
        for sinks in targets.values():
            pacer = Pacer(min(self.cfg.notify.sinks[i].per_minute or 0 for i in sinks), self.clock.monotonic)
            out.update(dict.fromkeys(sinks, pacer))
        return out

    def start(self) -> None:
        self.open()
        for d in self.deliveries:
            wake = threading.Event()
            t = threading.Thread(target=self._run, args=(d, wake), name=f"notify-{d.sink.name}", daemon=True)
            self._wake.append(wake)
            self._threads.append(t)
            t.start()

    def _on_event(self, ev: Any) -> None:
        """Each sink keeps its own copy: one sink's queue failing (a damaged file) must not cost
        the sinks after it the event, as an exception out of this loop did."""
        for i, d in enumerate(self.deliveries):
            try:
                queued = d.enqueue(ev)
            except Exception as exc:  # noqa: BLE001 - see above; said in the heartbeat and the log
                d.last_error = f"event {getattr(ev, 'event_id', '?')} not queued: {type(exc).__name__}: {exc}"
                log.exception("notify %s: could not queue an event", d.sink.name)
                continue
            if queued and i < len(self._wake):
                self._wake[i].set()

    def _run(self, d: Delivery, wake: threading.Event) -> None:
        while not self._stop.is_set():
            try:
                wait = d.pump()
            except Exception:  # a bug in one sink must not end its thread for good
                log.exception("notify %s failed", d.sink.name)
                wait = 30.0
            if wait > 0:
                wake.wait(wait)
                wake.clear()

    def expire_dead(self, max_age_days: float) -> int:
        """The agent's hourly pass: no dead letter outlives the evidence (``evidence.max_age_days``), in every file of
        ``notify-dead/`` — a sink since removed from the config left its file there too. Returns how many went."""
        now, max_age_s = self.clock.now().timestamp(), max_age_days * 86400
        open_ = {d.dead.path.resolve(): d.dead for d in self.deliveries}
        n = 0
        for path in sorted((Path(self.cfg.data_dir) / "notify-dead").glob("*.sqlite")):
            try:
                n += self._expire_one(path, open_.get(path.resolve()), now, max_age_s)
            except sqlite3.Error as exc:  # one unreadable file must not keep the others' letters
                log.error("notify: dead letters %s: %s; their age not checked, retrying in an hour", path, exc)
        if n:
            log.info("notify: %d dead letter(s) older than %g days deleted (evidence.max_age_days)", n, max_age_days)
        return n

    def _expire_one(self, path: Path, dead: DeadLetters | None, now: float, max_age_s: float) -> int:
        if dead is not None:
            return dead.expire(now, max_age_s)
        other = DeadLetters(path, self.cfg.notify.max_rows)
        try:
            return other.expire(now, max_age_s)
        finally:
            other.close()

    def status(self) -> dict[str, Any]:
        """For the heartbeat: per sink, waiting rows, the last error, and the dead letters kept (with the latest)."""
        return {d.sink.name: {"waiting": d.depth(), "delivered": d.counts.delivered, "error": d.last_error,
                              "dead": d.dead.count(), "last_dead": d.dead.last}
                for d in self.deliveries}

    def stop(self) -> None:
        """Cancel what is in flight and wait for the threads ``STOP_WAIT_S`` in all, not each its ``timeout_s``.

        Why: a sink waiting on an endpoint that never answers (an uplink dropping packets) held the
        stop for its whole attempt, and the next sink's after it (5 s each at most, then its files
        were closed under it: a delivery it then made stayed queued and was sent twice). A cancelled
        attempt counts as not delivered: its row stays queued for the next start. A thread still busy
        at the end (only with a proxy, where attempts cannot be cancelled) keeps its files open.
        """
        self._stop.set()
        for w in self._wake:
            w.set()
        if self._backend is not None:
            self._backend.cancel()
        until = time.monotonic() + STOP_WAIT_S  # real threads: real seconds, whatever a test's clock does
        for t in self._threads:
            t.join(max(0.0, until - time.monotonic()))
        if self._unsubscribe:
            self._unsubscribe()
        busy = {t.name.removeprefix("notify-") for t in self._threads if t.is_alive()}
        for d in self.deliveries:
            if d.sink.name in busy:
                log.warning("notify %s: still sending at stop; its row stays queued unless this one arrives",
                            d.sink.name)
                continue
            d.outbox.close()
            d.dead.close()
        if self._client is not None and not busy:
            self._client.close()
        self.deliveries, self._threads, self._wake = [], [], []
