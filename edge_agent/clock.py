"""Injected time: a monotonic clock for timers, a wall clock for timestamps, and whether that
wall clock can be trusted yet.

Nothing in the agent calls ``time.monotonic()`` or ``datetime.now()`` directly, so tests
drive time forward with :class:`FakeClock` instead of sleeping. A Pi has no RTC: it boots at
1970 or at the last saved time until NTP steps the clock, so ``synced()`` travels with the clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Protocol

from edge_agent.timesync import KernelSyncProbe

#: The days a user may ask about (the page's filters, ``stats --from / --to``): epoch seconds from 1970 (the
#: stores' ``ts_epoch``), and far enough below year 9999 that a day after the last still exists.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)

_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)  # Linux: counts the time suspended too


#: Linux's id of this boot: a new random one at each boot, the same for every process until the next
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id(path: Path = BOOT_ID) -> str | None:
    """The id of the boot :class:`SystemClock`'s monotonic time counts in (None: not Linux, or unreadable).

    Why: that clock starts again at each boot; within one, two of its readings are exactly as far apart as they say,
    whatever the wall clock did between (a lock's saved motor starts, ``locks/latches.py``). Read by the agent's
    assembly and handed on, never by the logic that uses it."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return text if 0 < len(text) <= 64 and text.replace("-", "").isalnum() else None


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (timers)."""

    def now(self) -> datetime:
        """Timezone-aware wall-clock time (event timestamps)."""

    def synced(self) -> bool | None:
        """Whether the wall clock is synchronised (NTP): True, False, or None when nobody can tell."""


class SystemClock:
    """The real clock; ``tz`` is the site's zone for timestamps (default: the host's); ``sync`` says
    whether it is synchronised (default: the kernel's flag, :mod:`edge_agent.timesync`)."""

    def __init__(self, tz: tzinfo | None = None, sync: Callable[[], bool | None] | None = None) -> None:
        self._tz = tz
        self._sync = sync if sync is not None else KernelSyncProbe()

    def monotonic(self) -> float:
        """Seconds since boot, the time the machine was suspended included (Linux's CLOCK_BOOTTIME).

        Why not ``time.monotonic()``: CLOCK_MONOTONIC stands still while the machine sleeps (a Jetson
        suspended, a VM's host asleep), so everything timed on it woke up as young as it went to sleep — the
        camera's evidence for a lock's raise read seconds old after an hour asleep, and the arm rose on a
        picture that old. Elsewhere (no CLOCK_BOOTTIME): ``time.monotonic()``."""
        return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else time.monotonic()

    def now(self) -> datetime:
        return datetime.now(self._tz) if self._tz else datetime.now().astimezone()

    def synced(self) -> bool | None:
        return self._sync()


class FakeClock:
    """A clock tests move by hand: ``advance(seconds)`` moves both clocks together, ``step_wall``
    the wall clock alone, ``set_synced`` what ``synced()`` says (default None: a fake clock has no NTP).

    Seconds are real elapsed seconds in every zone: the wall clock moves on UTC and is shown in the
    start's zone, so across a DST change (a ``ZoneInfo`` start: ``replay --start``) the local time
    jumps as a real clock's does. Python's own ``aware + timedelta`` adds to the local reading
    instead, which ran an hour back at the spring change and skipped an hour at the autumn one."""

    def __init__(self, start: datetime | None = None, monotonic_start: float = 1000.0,
                 synced: bool | None = None) -> None:
        self._wall = start or datetime(2026, 1, 1, 8, 0, 0, tzinfo=timezone(timedelta(hours=8)))
        if self._wall.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._mono = monotonic_start
        self._synced = synced
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def now(self) -> datetime:
        with self._lock:
            return self._wall

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._mono += seconds
            self._wall = _later(self._wall, seconds)

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone, either way, as NTP does (a Pi boots with its clock behind):
        the monotonic clock does not move."""
        with self._lock:
            self._wall = _later(self._wall, seconds)

    def synced(self) -> bool | None:
        with self._lock:
            return self._synced

    def set_synced(self, synced: bool | None) -> None:
        with self._lock:
            self._synced = synced


def _later(ts: datetime, seconds: float) -> datetime:
    """``ts`` moved by ``seconds`` of elapsed time, in its own zone (not its local reading plus seconds)."""
    return (ts.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(ts.tzinfo)


def iso(ts: datetime) -> str:
    """ISO-8601 with offset and millisecond precision, e.g. ``2026-01-01T08:00:00.000+08:00``."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime in an event timestamp")
    return ts.isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 timestamp, a trailing ``Z`` included (Python 3.10's ``fromisoformat`` refuses it).
    Raises ``ValueError``; naive or aware as written."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def local_time(naive: datetime, tz: tzinfo, name: str) -> datetime:
    """A wall reading without offset, placed in ``tz``; ``ValueError`` (naming ``name``) for one the zone's
    clocks skip (02:30 on the day DST starts) or show twice (02:30 on the day it ends): which instant is
    meant cannot be guessed, the offset must be written."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    shown = first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
    offsets = f"{utc_offset(first)} or {utc_offset(second)}"
    if shown == naive:
        raise ValueError(f"{name} {naive.isoformat()} happens twice in {tz} (clocks turned back): "
                         f"write its offset ({offsets})")
    raise ValueError(f"{name} {naive.isoformat()} does not exist in {tz} (clocks skip it): "
                     f"write its offset ({offsets}) or a time after the change")


def utc_offset(ts: datetime) -> str:
    """The offset as ISO-8601 writes it (``+08:00``, ``-03:30``): what tells 02:30 before the end of
    daylight saving time from the 02:30 an hour later."""
    off = ts.utcoffset()
    if off is None:
        raise ValueError("naive datetime has no offset")
    minutes = round(off.total_seconds() / 60)
    hours, mins = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{mins:02d}"
