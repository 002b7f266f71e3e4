"""A ``clock_stepped`` event when the wall clock jumps against the monotonic clock.

Why: a Pi has no RTC. It boots at 1970 or at the last saved time and NTP then steps the clock
(chrony's ``makestep``, timesyncd beyond 0.4 s), so every event stamped before the step is off by
the step. The event says by how much (``step_s``, signed: forward is positive) and whether the
clock is synchronised now, so a consumer can place or distrust the stamps before it. Slewing does
not show: Linux's monotonic clock follows NTP's rate too; only a step moves one against the other.
"""

from __future__ import annotations

import logging

from edge_agent.clock import Clock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType

log = logging.getLogger(__name__)

STEP_EVENT_S = 1.0  # a smaller jump is no step worth telling (the stats take 1 s the same way)
READ_SLACK_S = 0.1  # the monotonic reads around the wall read further apart: preempted, sample skipped


class ClockWatch:
    """``check()`` once per loop turn: two clock reads, an event only when the offset jumped."""

    def __init__(self, bus: EventBus, clock: Clock, step_s: float = STEP_EVENT_S) -> None:
        self.bus, self.clock, self.step_s = bus, clock, step_s
        self._offset: float | None = None  # wall minus monotonic at the last check

    def check(self) -> Event | None:
        before = self.clock.monotonic()
        wall = self.clock.now().timestamp()
        after = self.clock.monotonic()
        if after - before > READ_SLACK_S:
            return None
        offset = wall - (before + after) / 2
        last, self._offset = self._offset, offset
        if last is None or abs(offset - last) <= self.step_s:
            return None
        synced = self.clock.synced()
        event = Event.make(EventType.CLOCK_STEPPED, self.clock,
                           data={"step_s": round(offset - last, 3), "clock_synced": synced})
        log.warning("the wall clock stepped %+.3f s (NTP?); synchronised: %s; events before it are off by that much",
                    offset - last, {True: "yes", False: "no", None: "unknown"}[synced])
        self.bus.publish(event)
        return event
