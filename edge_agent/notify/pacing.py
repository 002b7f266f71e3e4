"""How fast a robot may be posted to: at most ``per_minute`` requests in any ``PACE_WINDOW_S``.

Why: WeCom and DingTalk group robots take 20 messages a minute each (DingTalk answers the 21st
by refusing everything for 10 minutes). The limit is the robot's, not the sink's: sinks posting
to the same robot with the same key (violations with quiet hours, faults at any hour, into one
group) share one ``Pacer``, so together they stay within it.

Each request holds a slot from its start until its attempt ended (answer, error or timeout; until
then its deadline stands in): the request ``per_minute`` places later starts no sooner than
``PACE_WINDOW_S`` after that end. The robot received the earlier one no later than it ended and
the later one no sooner than it started, so the robot too counts at most ``per_minute`` in any
window, whatever the network's delays.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

PACE_WINDOW_S = 60.0


class Pacer:
    def __init__(self, per_minute: int, monotonic: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._slots: deque[list[float]] = deque(maxlen=per_minute)  # [end], oldest first
        self._lock = threading.Lock()  # the sinks sharing it send from their own threads

    def reserve(self, longest_s: float) -> tuple[float, list[float] | None]:
        """``(0, slot)`` when a request may start now (give the slot to ``done`` when it ended), else
        ``(seconds to wait, None)``. ``longest_s``: the attempt's deadline, its end until ``done``."""
        with self._lock:
            now = self._monotonic()
            if len(self._slots) == self.per_minute:
                wait = self._slots[0][0] + PACE_WINDOW_S - now
                if wait > 0:
                    return wait, None
            slot = [now + longest_s]
            self._slots.append(slot)
            return 0.0, slot

    def done(self, slot: list[float]) -> None:
        with self._lock:
            slot[0] = self._monotonic()


__all__ = ["PACE_WINDOW_S", "Pacer"]
