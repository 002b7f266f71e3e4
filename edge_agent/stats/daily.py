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

A changed ``site.timezone`` must not step the retained topic back a day: moved west (Asia/Shanghai to UTC), the
new zone's yesterday is for some hours the day before the one already retained, and its summary replaced the
newer one. The last day published and its zone are kept in a small file beside the database (``LAST_FILE``: the
retained message itself is not read back), and a day before it, in another zone, is held until the new zone's
yesterday reaches it — only within ``ZONE_SPAN_DAYS``, what a change of zone can move a date (UTC-12 to +14). In
the same zone nothing is held: a day before the last is a clock that ran ahead and was corrected, and the right
day must replace what it sent.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge_agent.clock import Clock, iso
from edge_agent.durable import read_small, write_durably
from edge_agent.stats.source import first_event_day, query
from edge_agent.timesync import EARLIEST_DAY

log = logging.getLogger(__name__)

UNSYNCED_HOLD_S = 3600.0  # monotonic seconds of the agent's run to wait for NTP before trusting the clock as it is
LAST_FILE = "stats-daily-last.txt"  # beside the database: "<ISO day> <zone>" last published, across restarts
LAST_FILE_MAX_BYTES = 256  # "<ISO day> <zone>": an IANA zone name is at most a few dozen characters
ZONE_SPAN_DAYS = 2  # how far apart two zones' dates can be at one instant (UTC-12 … UTC+14: 26 h)


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
        self._last_file = Path(db_path).parent / LAST_FILE
        self.last = self._read_last()  # (day, zone) last published by any run: a zone change must not go back

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
        self._write_last((yesterday, str(self.tz)))
        return yesterday

    def _read_last(self) -> tuple[date, str] | None:
        """The day and zone in ``LAST_FILE``; None when there is none or it does not read so (no hold then)."""
        try:
            # the agent's own file, read through no link: a FIFO planted at its name (the data folder may be written
            # by others) held ``run``'s start for ever, a link to ``/dev/zero`` was read until memory ran out
            day, zone = read_small(self._last_file, LAST_FILE_MAX_BYTES, nofollow=True).decode("ascii").split()
            return date.fromisoformat(day), zone
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def _write_last(self, last: tuple[date, str]) -> None:
        """Remember what went out for the next run; a failure only loses the hold across a zone change (logged)."""
        self.last = last
        try:
            write_durably(self._last_file, f"{last[0].isoformat()} {last[1]}\n".encode("ascii"))
        except OSError as exc:
            log.warning("cannot record the daily summary's day in %s (%s)", self._last_file, exc)

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
        if self.last is not None and self.last[1] != str(self.tz) and 0 < (self.last[0] - day).days <= ZONE_SPAN_DAYS:
            return (f"{self.last[0].isoformat()} ({self.last[1]}) is already published: site.timezone changed, "
                    "not going back a day")
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
