"""What outlives a bay monitor: the presence sensors the lock stage plugs in, and the vision
evidence the monitor measures for the lock interlock.

The agent owns one ``BayFeed`` and hands it to every ``BayMonitor`` it builds (at start and on
each config reload). Sensors are registered here, never on a monitor, so a reload cannot drop
them; a new monitor resets its bays' vision, so a lock never trusts a dead monitor's last word.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from edge_agent.bays.occupancy import PresenceSensor
from edge_agent.events.types import BayVision

VisionWatcher = Callable[[str], None]  # called with the bay id when its evidence says something new


class BayFeed:
    def __init__(self) -> None:
        self._sensors: dict[str, PresenceSensor] = {}
        self._vision: dict[str, BayVision] = {}
        self._watchers: list[VisionWatcher] = []
        self._locks: dict[str, str] = {}  # bay → its lock's last reported state (lock_moved)
        self._lock = threading.Lock()  # guards the dicts only; never held while calling out

    # ---- presence sensors (lock stage → bays) -------------------------------------------
    def set_sensor(self, bay_id: str, sensor: PresenceSensor | None) -> None:
        """A bay's presence input (``None`` detaches it); kept across monitor rebuilds."""
        with self._lock:
            if sensor is None:
                self._sensors.pop(bay_id, None)
            else:
                self._sensors[bay_id] = sensor

    def sensor(self, bay_id: str) -> PresenceSensor | None:
        with self._lock:
            return self._sensors.get(bay_id)

    def read_sensor(self, bay_id: str) -> bool | None:
        """The bay's sensor now: True vehicle, False clear, None no sensor or sensor unhealthy."""
        s = self.sensor(bay_id)
        return s() if s is not None else None

    # ---- lock position (lock stage → bays) ----------------------------------------------
    def note_lock(self, bay_id: str, state: str) -> None:
        """The bay's lock reported ``state``; kept so a rebuilt monitor's bay still knows it."""
        with self._lock:
            self._locks[bay_id] = state

    def lock_state(self, bay_id: str) -> str | None:
        """The bay's lock as it last reported (None: no lock, or it has not reported yet)."""
        with self._lock:
            return self._locks.get(bay_id)

    # ---- vision evidence (bays → lock interlock) -----------------------------------------
    def vision(self, bay_id: str) -> BayVision | None:
        """The latest evidence for a bay (None: no monitor has spoken for it)."""
        with self._lock:
            return self._vision.get(bay_id)

    def publish_vision(self, bay_id: str, v: BayVision) -> None:
        """Store ``v``; watchers hear of it when it says something new (not for a mere newer
        measurement: staleness is the reader's judgement, on its own clock). New is any field but the
        measurement's time: ``changed`` left out (a person walking into the bay the classifier calls
        empty), a rise went on until the lock's next tick (probe lock37)."""
        with self._lock:
            old = self._vision.get(bay_id)
            self._vision[bay_id] = v
            watchers = list(self._watchers)
        if old is None or _said(old) != _said(v):
            for w in watchers:
                w(bay_id)

    def reset_vision(self, bay_ids: Iterable[str]) -> None:
        """A new monitor starts from nothing: its bays have no measurement; other bays are gone."""
        bays = set(bay_ids)
        with self._lock:
            gone = [b for b in self._vision if b not in bays]
            self._vision = {b: v for b, v in self._vision.items() if b in bays}
            watchers = list(self._watchers)
        for b in gone:  # a lock on a bay that left the config hears of it now, not at its next tick
            for w in watchers:
                w(b)
        for b in sorted(bays):
            self.publish_vision(b, BayVision(measured_at=None, confident=False, vision="ok"))

    def watch(self, watcher: VisionWatcher) -> Callable[[], None]:
        """Hear of vision changes (from the frame loop's thread); returns the unsubscribe."""
        with self._lock:
            self._watchers.append(watcher)

        def unsubscribe() -> None:
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)
        return unsubscribe


def _said(v: BayVision) -> BayVision:
    """What ``v`` says, its measurement's time aside but for whether there is one."""
    return replace(v, measured_at=None if v.measured_at is None else 0.0)
