"""Stories written into a real violation log (the SQLite file statistics read), on a FakeClock."""

from __future__ import annotations

import uuid
from datetime import datetime

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event
from edge_agent.evidence.violations import ViolationLog


def _elapsed(a: datetime, b: datetime) -> float:
    """Seconds from ``a`` to ``b`` as a monotonic clock counts them: two times in one ``ZoneInfo``
    subtract as local readings, an hour off over a DST change."""
    return b.timestamp() - a.timestamp()


class Story:
    def __init__(self, log: ViolationLog, clock: FakeClock) -> None:
        self.log, self.clock = log, clock

    def at(self, when: datetime) -> Story:
        self.clock.advance((when - self.clock.now()).total_seconds())
        return self

    def emit(self, type_: str, bay: str, visit: str | None = None, **data: object) -> Event:
        ev = Event.make(type_, self.clock, bay_id=bay, visit_id=visit, data=dict(data))
        self.log.record(ev)
        return ev

    def visit(self, bay: str, arrive: datetime, leave: datetime | None, nev: bool | None,
              violation: tuple[datetime, datetime] | None = None, plate: str = "粤BD12345") -> str:
        vid = str(uuid.uuid4())
        self.at(arrive).emit("vehicle_arrived", bay, vid)
        if nev is not None:
            self.emit("vehicle_identified", bay, vid, plate=plate, nev=nev, colour="green" if nev else "blue")
        if violation:
            self.at(violation[0]).emit("violation_started", bay, vid, reason="fuel_vehicle",
                                       parked_s=_elapsed(arrive, violation[0]))
            self.at(violation[1]).emit("violation_ended", bay, vid, reason="departed",
                                       duration_s=_elapsed(*violation))
        if leave is not None:
            self.at(leave).emit("vehicle_departed", bay, vid, stayed_s=_elapsed(arrive, leave))
        return vid
