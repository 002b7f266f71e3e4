"""Injected time: a monotonic clock for timers and a wall clock for timestamps.

Nothing in the agent calls ``time.monotonic()`` or ``datetime.now()`` directly, so tests
drive time forward with :class:`FakeClock` instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (timers)."""

    def now(self) -> datetime:
        """Timezone-aware wall-clock time (event timestamps)."""


class SystemClock:
    """The real clock; ``tz`` is the site's zone for timestamps (default: the host's)."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(self._tz) if self._tz else datetime.now().astimezone()


class FakeClock:
    """A clock tests move by hand: ``advance(seconds)`` moves both clocks together, ``step_wall``
    the wall clock alone."""

    def __init__(self, start: datetime | None = None, monotonic_start: float = 1000.0) -> None:
        self._wall = start or datetime(2026, 1, 1, 8, 0, 0, tzinfo=timezone(timedelta(hours=8)))
        if self._wall.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._mono = monotonic_start
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
            self._wall += timedelta(seconds=seconds)

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone, either way, as NTP does (a Pi boots with its clock behind):
        the monotonic clock does not move."""
        with self._lock:
            self._wall += timedelta(seconds=seconds)


def iso(ts: datetime) -> str:
    """ISO-8601 with offset and millisecond precision, e.g. ``2026-01-01T08:00:00.000+08:00``."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime in an event timestamp")
    return ts.isoformat(timespec="milliseconds")
