"""Who looked at which personal data: one audit row per user, address and kind of view in each window.

Why: a violation's page and a visit's photos show a plate, a car and whoever stood by it; under PIPL (art. 51, 55)
and the GDPR access to personal information is to be traceable, and the audit log recorded decisions, list edits
and exports but no look. One row a request would be a row per thumbnail (the bays page shows one per bay and reloads
every 15 s; a violation's page three): the views of one user from one address within ``WINDOW_S`` are coalesced into
the window's row, which names each item seen (up to ``MAX_ITEMS``, then a new row) and how many views it counts.
The rows are the audit log's: the same table, retention (``evidence.review_days``) and page.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from edge_agent.clock import Clock
from edge_agent.evidence.violations import ViolationLog

WINDOW_S = 600.0  # one row per user, address and kind in ten minutes
MAX_ITEMS = 50  # items named in one row (an evidence id is 36 characters: under 2 KB of detail)
SWEEP_AT = 1000  # open windows kept in memory before the closed ones are dropped


@dataclass
class _Window:
    row: int
    since: float
    items: list[str] = field(default_factory=list)
    views: int = 0

    def detail(self) -> str:
        return f"{self.views} view(s): {', '.join(self.items)}"


class ViewAudit:
    """``seen`` once per view of personal data; writes or amends the window's audit row."""

    def __init__(self, log: ViolationLog, clock: Clock, window_s: float = WINDOW_S) -> None:
        self._log = log
        self._clock = clock
        self._window_s = window_s
        self._open: dict[tuple[str, str, str], _Window] = {}
        self._lock = threading.Lock()  # page requests run on a thread pool

    def seen(self, user: str, ip: str, action: str, item: str, target: str = "") -> None:
        """``user`` at ``ip`` viewed ``item`` (``#12``, an evidence id); ``target``: the row's target when it
        opens one (a violation's page: ``violation:12``)."""
        now, key = self._clock.monotonic(), (user, ip, action)
        with self._lock:
            w = self._open.get(key)
            if w is None or not 0.0 <= now - w.since < self._window_s \
                    or (item not in w.items and len(w.items) >= MAX_ITEMS):
                if len(self._open) > SWEEP_AT:
                    self._open = {k: o for k, o in self._open.items() if 0.0 <= now - o.since < self._window_s}
                w = _Window(self._log.audit(user, action, target, f"1 view(s): {item}", ip), now, [item], 1)
                self._open[key] = w
                return
            w.views += 1
            if item not in w.items:
                w.items.append(item)
            self._log.amend_audit(w.row, w.detail())
