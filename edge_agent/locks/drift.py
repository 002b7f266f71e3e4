"""An arm that will not stay up: the up position lost again and again with nobody near.

A sagging arm (worn gear, slipping brake) or a loose up switch reads as the arm moving without a
command. One such loss is a tamper: the interlock lowers the arm and the policy raises it again
``auto_raise_delay_s`` later. Repeated, that is a lock cycling near cars for ever (every
``auto_raise_delay_s`` plus two strokes and the hold: ~37 s at the defaults) with an arm that cannot be
trusted to hold: ``DRIFT_LOSSES`` losses within ``DRIFT_WINDOW_S``
latch FAULT ``arm_drift`` (lowered, no more raises until an operator's reset).

A car pushing the arm is not drift: a loss followed by a vehicle seen (presence sensor, camera) before
the arm rises again is explained and dropped from the count. The window is wide enough for two
raise cycles at the longest ``auto_raise_delay_s`` (600 s) plus up to 20 min of holding, and a
contested bay's real tampers are explained by their cars, so the limits are not config keys.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

DRIFT_LOSSES = 3  # the third unexplained loss is the fault: two raises that did not hold
DRIFT_WINDOW_S = 3600.0

# vehicle_possible() codes that say a vehicle is (or was just) there, not merely that the evidence is unsure
VEHICLE_SEEN = frozenset({"vehicle_present", "bay_occupied", "bay_in_visit", "vision_occupied"})


class UpLosses:
    """Monotonic times the arm lost its up position without a command, less those a vehicle explained."""

    def __init__(self, limit: int = DRIFT_LOSSES, window_s: float = DRIFT_WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self._times: deque[float] = deque()
        self._pending = False  # the last loss may still be explained (no rise since)

    def lost(self, now: float) -> None:
        """Record a loss (and forget those older than the window)."""
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        self._times.append(now)
        self._pending = True

    @property
    def count(self) -> int:
        """Unexplained losses within the window at the last ``lost()``."""
        return len(self._times)

    @property
    def drifting(self) -> bool:
        return self.count >= self.limit

    def explain(self, vehicle_possible: Callable[[], tuple[str, str] | None]) -> None:
        """A vehicle seen after the last loss, before the next rise: that loss was a car, not drift.

        ``vehicle_possible`` is the interlock's rule (``locks.rule``), asked only while a loss is pending.
        """
        if self._pending:
            why = vehicle_possible()
            if why is not None and why[0] in VEHICLE_SEEN:
                self._times.pop()
                self._pending = False

    def rising(self) -> None:
        """The arm is raised again: the last loss stays counted."""
        self._pending = False

    def clear(self) -> None:
        self._times.clear()
        self._pending = False
