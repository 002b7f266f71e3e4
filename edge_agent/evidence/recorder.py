"""The violation log as an agent component: every bus event recorded, from start to stop.

Its own component (not a side job of the web page) because ``review`` and the statistics read
the log whether or not the page is served.
"""

from __future__ import annotations

from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.events.bus import EventBus
from edge_agent.evidence.violations import ViolationLog


class ViolationRecorder:
    """``start()`` subscribes the log to the bus; ``stop()`` unsubscribes and closes it."""

    def __init__(self, db_path: str | Path, clock: Clock, bus: EventBus) -> None:
        self.log = ViolationLog(db_path, clock)  # open now: the web page is built on it before start
        self.bus = bus

    def start(self) -> None:
        self.log.attach(self.bus)

    def stop(self) -> None:
        self.log.close()
