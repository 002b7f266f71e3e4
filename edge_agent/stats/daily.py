"""Yesterday's figures, retained at ``{prefix}/stats/daily``: a backend or a dashboard that connects
in the morning finds the last complete local day without asking.

Computed from the stored events like the page (so a restart changes nothing), published through the
MQTT link's durable outbox, once per local day after midnight and once at start. ``check()`` does the
work on the injected clock; the component's thread only calls it every minute.

Held back while "yesterday" cannot be trusted: a Pi without RTC boots at 1970 or at its last saved
time, and a summary for that day would replace the real one on the broker. So nothing is published
while the clock says it is not synchronised, for a day before ``timesync.EARLIEST_DAY`` (a clock never
set), or for a day before the first event recorded for the bays (the agent was not there). The next
minute asks again: once NTP has set the clock the right day goes out — the retained topic holds one
day, so the latest complete day is the only one to catch up.

The wait for NTP is bounded (``UNSYNCED_HOLD_S`` of the agent's run): NTP sets a clock within a minute
of reaching a server, so a device still unsynchronised an hour later has none (a site LAN without
internet; a battery-backed RTC, which the kernel never counts as synchronised) and its clock is the
only one there is. Its summaries then go out, saying ``clock_synced: false`` — never for a day before
``EARLIEST_DAY``: a clock that was never set stays held.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge_agent.clock import Clock, iso
from edge_agent.stats.source import first_event_day, query
from edge_agent.timesync import EARLIEST_DAY

log = logging.getLogger(__name__)

UNSYNCED_HOLD_S = 3600.0  # monotonic seconds of the agent's run to wait for NTP before trusting the clock as it is


def summary(db_path: str | Path, bays: list[str], day: date, tz: ZoneInfo, now: float, device: str,
            ts: str, clock_synced: bool | None = None) -> dict[str, Any]:
    s = query(db_path, bays, day, day, tz, now)
    totals = s.per_day()[0] if s.rows else {"violations": 0, "violation_s": 0.0, "occupied_s": 0.0,
                                            "fuel_on_bay_s": 0.0, "visits": 0}
    return {"ts": ts, "device": device, "day": day.isoformat(), "tz": str(tz), "clock_synced": clock_synced,
            "bays": [r.to_dict() for r in s.rows],
            "totals": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in totals.items()}}


class DailyStats:
    """Agent component: ``DailyStats(link, db_path, bay_ids, tz, clock, device)``."""

    def __init__(self, link: Any, db_path: str | Path, bays: list[str], tz: ZoneInfo, clock: Clock,
                 device: str) -> None:
        self.link, self.db_path, self.bays, self.tz, self.clock, self.device = link, db_path, bays, tz, clock, device
        self.published: date | None = None
        self.held: tuple[date, str] | None = None  # the day held back and why (logged once per change)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = clock.monotonic()  # the NTP wait is counted from here (UNSYNCED_HOLD_S)

    def check(self) -> date | None:
        """Publish the last complete day if not done yet; returns the day published now, else None."""
        now = self.clock.now()
        yesterday = now.astimezone(self.tz).date() - timedelta(days=1)
        if self.published == yesterday:
            return None
        why = self.not_yet(yesterday)
        if why is not None:
            if self.held != (yesterday, why):
                log.info("daily statistics for %s held back: %s", yesterday, why)
            self.held = (yesterday, why)
            return None
        self.held = None
        doc = summary(self.db_path, self.bays, yesterday, self.tz, now.timestamp(), self.device, iso(now),
                      self.clock.synced())
        self.link.publish_retained(self.link.topics.stats_daily, doc)
        self.published = yesterday
        return yesterday

    def not_yet(self, day: date) -> str | None:
        """Why ``day`` must not be published now (None: it may)."""
        if self.clock.synced() is False and self.clock.monotonic() - self._started < UNSYNCED_HOLD_S:
            return "the clock is not synchronised (NTP) yet"
        if day < EARLIEST_DAY:
            return f"the clock reads before {EARLIEST_DAY.isoformat()}: never set"
        floor = datetime.combine(EARLIEST_DAY, time(), self.tz).timestamp()
        first = first_event_day(self.db_path, self.bays, self.tz, floor)
        if first is None or day < first:
            return f"before the first recorded event ({first.isoformat() if first else 'none yet'})"
        return None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stats-daily", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # a bad read must not end the thread; the next minute tries again
                log.exception("daily statistics failed")
            self._stop.wait(60)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
