"""Stories written into a real violation log (the SQLite file statistics read), on a FakeClock."""

from __future__ import annotations

import uuid
from datetime import datetime

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event
from edge_agent.evidence.violations import ViolationLog


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
                                       parked_s=(violation[0] - arrive).total_seconds())
            self.at(violation[1]).emit("violation_ended", bay, vid, reason="departed",
                                       duration_s=(violation[1] - violation[0]).total_seconds())
        if leave is not None:
            self.at(leave).emit("vehicle_departed", bay, vid, stayed_s=(leave - arrive).total_seconds())
        return vid
