"""Who looked at which personal data: one audit row per user, address and kind of view in each window.

Why: a violation's page and a visit's photos show a plate, a car and whoever stood by it; under PIPL (art. 51, 55)
and the GDPR access to personal information is to be traceable, and the audit log recorded decisions, list edits
and exports but no look. One row a request would be a row per thumbnail (the bays page shows one per bay and reloads
every 15 s; a violation's page three): the views of one user from one address within ``WINDOW_S`` are coalesced into
the window's row, which names each item seen (up to ``MAX_ITEMS``, then a new row) and how many views it counts.
The rows are the audit log's: the same table, retention (``evidence.review_days``) and page.

Coalesced in memory: the row is written as its window opens (before the first item is shown), then its count and
items at most every ``FLUSH_S`` (``flush_due``, each minute from the agent's loop), as its window ends and at stop.
An UPDATE a view was a write to the SD card a request: a wall display of the live bays (2 bays, every 15 s) made
480 an hour; now 66. A crash loses at most the last ``FLUSH_S`` of an open row's count and items, never the row
(who, from where, when, first item).

Fail closed: a look is shown only once its audit is written. A write that fails (read-only or full disk, a locked
database) raises ``AuditUnavailable`` (the page answers 503) until a write succeeds again; logged once, not a request.
The page's actions (a decision, a list edit, a save, a snapshot, a login) write their rows through ``action``: the
same refusal, and the row is written before the action (or with it: a decision), so nothing is done without it.

Each write waits at most ``WRITE_WAIT_S`` for a database another connection holds locked, not the connection's 10 s:
the log's connection and its lock are the recorder's too, which writes every bus event on the camera loop (and the
loop runs ``flush_due`` each minute). A page write waiting 10 s held the loop's next event as long, and every page
request queued behind it 10 s more; a person waited 10 s for the 503.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from edge_agent.clock import Clock
from edge_agent.evidence.violations import ViolationLog
from edge_agent.sqlite_damage import is_no_space

log = logging.getLogger(__name__)

WINDOW_S = 600.0  # one row per user, address and kind in ten minutes
MAX_ITEMS = 50  # items named in one row (an evidence id is 36 characters: under 2 KB of detail)
FLUSH_S = 60.0  # an open row's count and items written at most this often: what a crash may lose
SWEEP_AT = 1000  # open windows kept in memory before the ended ones are written and dropped
# a page's audit write waits this long for another connection's write lock: the recorder's and the store's own
# writes (an event, a photo's row, an unname batch) take milliseconds; a lock held longer (a backup, `evidence forget`,
# another program) is refused with Retry-After instead of holding the camera loop's event recording 10 s
WRITE_WAIT_S = 1.0
_T = TypeVar("_T")


class AuditUnavailable(Exception):
    """The audit log cannot be written: the personal data asked for is not shown (HTTP 503)."""


@dataclass
class _Window:
    row: int
    since: float
    items: list[str] = field(default_factory=list)
    views: int = 0
    written: int = 0  # views the row on disk counts
    written_at: float = 0.0
    # item → fetches already counted by the page that shows it (``seen(…, fetched_next=True)``): not counted again
    prepaid: dict[str, int] = field(default_factory=dict)

    def detail(self, views: int | None = None, items: list[str] | None = None) -> str:
        return f"{self.views if views is None else views} view(s): {', '.join(self.items if items is None else items)}"


class ViewAudit:
    """``seen`` once per view of personal data; opens the window's audit row, or counts the view in it."""

    def __init__(self, log: ViolationLog, clock: Clock, window_s: float = WINDOW_S, flush_s: float = FLUSH_S,
                 wait_s: float = WRITE_WAIT_S) -> None:
        self._log = log
        self.wait_s = wait_s
        self._clock = clock
        self._window_s = window_s
        self._flush_s = flush_s
        self._open: dict[tuple[str, str, str], _Window] = {}
        self._lock = threading.Lock()  # page requests run on a thread pool
        self.failing: str | None = None  # why the last write failed, until one succeeds

    def seen(self, user: str, ip: str, action: str, item: str, target: str = "", fetched_next: bool = False) -> None:
        """``user`` at ``ip`` viewed ``item`` (``#12``, an evidence id); ``target``: the row's target when it
        opens one (a violation's page: ``violation:12``). ``fetched_next``: a page that shows ``item`` (the
        installer's picture) counts the look before it is fetched, so that fetch, the next ``seen`` of ``item`` in
        this window, is not counted again (each installer visit counted its picture twice). Raises
        ``AuditUnavailable``: do not show it."""
        now, key = self._clock.monotonic(), (user, ip, action)
        with self._lock:
            w = self._open.get(key)
            if w is not None and self._current(w, now) and w.prepaid.get(item):
                w.prepaid[item] -= 1  # the page's count stands for this fetch
                if self.failing is not None:
                    self._write(w, now)  # shown only once the row says so
                return
            self._count(w, key, now, user, ip, action, item, target)
            if fetched_next:
                w = self._open[key]
                w.prepaid[item] = w.prepaid.get(item, 0) + 1

    def _count(self, w: _Window | None, key: tuple[str, str, str], now: float, user: str, ip: str, action: str,
               item: str, target: str) -> None:
        """One view of ``item``: a new row (and window) or one more in ``w``'s. Holding the lock."""
        if w is None or not self._current(w, now) or (item not in w.items and len(w.items) >= MAX_ITEMS):
            if w is not None:
                self._write(w, now)  # the ended row's last views first
            if len(self._open) > SWEEP_AT:
                self._sweep(now)
            row = self.guard(lambda: self._log.audit(user, action, target, f"1 view(s): {item}", ip, self.wait_s))
            self._open[key] = _Window(row, now, [item], 1, 1, now)
            return
        items = w.items if item in w.items else [*w.items, item]
        if self.failing is not None or now - w.written_at >= self._flush_s:
            # due, or the log failed lately: this view is shown only once the row says so
            self.guard(lambda: self._log.amend_audit(w.row, w.detail(w.views + 1, items), self.wait_s))
            w.written, w.written_at = w.views + 1, now
        w.views, w.items = w.views + 1, items

    def flush_due(self) -> None:
        """Write the rows with views not yet written ``FLUSH_S`` after their last write or past their window;
        drop the ended ones. Housekeeping (each minute): a failure is logged once and retried, never raised."""
        now = self._clock.monotonic()
        with self._lock:
            try:
                for w in self._open.values():
                    if now - w.written_at >= self._flush_s or not self._current(w, now):
                        self._write(w, now)
                self._open = {k: w for k, w in self._open.items() if self._current(w, now)}
            except AuditUnavailable:
                pass

    def flush(self) -> None:
        """Every row brought up to date (at stop; before the audit page is read). Logged once, not raised."""
        now = self._clock.monotonic()
        with self._lock:
            try:
                for w in self._open.values():
                    self._write(w, now)
            except AuditUnavailable:
                pass

    def _current(self, w: _Window, now: float) -> bool:
        return 0.0 <= now - w.since < self._window_s

    def _sweep(self, now: float) -> None:
        for w in self._open.values():
            if not self._current(w, now):
                self._write(w, now)
        self._open = {k: w for k, w in self._open.items() if self._current(w, now)}

    def _write(self, w: _Window, now: float) -> None:
        if w.written != w.views:
            self.guard(lambda: self._log.amend_audit(w.row, w.detail(), self.wait_s))
            w.written, w.written_at = w.views, now

    def action(self, user: str, ip: str, action: str, target: str = "", detail: str = "") -> int:
        """The audit row of an action, written before it is done (nothing is done without it); its id, for
        ``outcome``. Raises ``AuditUnavailable``: do not do it. A full disk raises SQLite's own error (the page's
        507: "may not have been saved")."""
        return self.guard(lambda: self._log.audit(user, action, target, detail, ip, self.wait_s), disk_full=True)

    def outcome(self, row: int, detail: str) -> None:
        """What came of the action ``row`` recorded (an evidence id, the agent's answer). The action is done: a
        failure here is logged (once) and not raised, the row says it was asked for."""
        try:
            self.guard(lambda: self._log.amend_audit(row, detail, self.wait_s))
        except AuditUnavailable:
            pass

    def guard(self, write: Callable[[], _T], disk_full: bool = False) -> _T:
        """Run one audit write; a failure is ``AuditUnavailable``, logged at the first and when writes work again.
        ``disk_full``: a full disk raises SQLite's error as it is (an action's 507 page)."""
        try:
            result = write()
        except (sqlite3.Error, OSError) as exc:
            if disk_full and isinstance(exc, sqlite3.Error) and is_no_space(exc):
                raise
            if self.failing is None:
                log.error("the audit log cannot be written (%s): photos, violations, the violation list and the "
                          "page's actions are refused (HTTP 503) until it can; the live bays and locks go on", exc)
            self.failing = str(exc)
            raise AuditUnavailable(str(exc)) from None
        if self.failing is not None:
            log.warning("the audit log is written again (it failed: %s): photos, violations and actions are back",
                        self.failing)
            self.failing = None
        return result
