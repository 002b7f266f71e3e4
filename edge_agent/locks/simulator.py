"""A simulated lock: an arm that travels between two limit switches on the injected clock.

``Arm`` is the physics (position 0 = down … 1 = up, full stroke in ``travel_time_s``)
plus the faults a field lock shows: a stalled motor, a stuck or flapping switch, a
vehicle over the arm, a lost presence sensor, power cut mid-move, the arm forced down.
``SimulatedLock`` is the driver on top of it. The arm outlives the driver, so "power
loss, then restart" is: ``arm.power_loss()``, build a new ``SimulatedLock`` on the same arm.
The tests also drive gpiozero ``MockFactory`` pins from an ``Arm`` (see tests/locks).

    arm = Arm(clock, travel_time_s=3.0)
    lock = SimulatedLock(arm)
    lock.motor_up(); clock.advance(3.0); lock.read_switches().up  # → True
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from edge_agent.clock import Clock
from edge_agent.config.locks import LockConfig, SimStep
from edge_agent.locks.driver import Direction, LockDriver, Switches
from edge_agent.locks.sim_script import FaultScript, apply_step

_EPS = 1e-6
# the arm's last drive changes kept (``Arm.history``): two per stroke, so a simulator lock run for months (a demo
# stand, a site trialled without hardware) kept every one it ever made
HISTORY_KEPT = 1000


class Arm:
    """Physics and fault hooks of one lock arm (no policy)."""

    def __init__(self, clock: Clock, travel_time_s: float = 3.0, position: float = 0.0,
                 has_presence: bool = True) -> None:
        self.clock = clock
        self.travel_time_s = travel_time_s
        self.position = position
        self.drive: Direction | None = None
        self.has_presence = has_presence
        self.vehicle = False
        self.presence_lost = False
        self.stalled = False
        self.powered = True  # False: the motor supply is cut, the arm does not move whatever is driven
        self.reversed = False  # True: the motor's lines are swapped (up ↔ down in the wiring or the config)
        self.switches_swapped = False  # True: the end switches' lines are swapped (each reads the other end)
        self.stuck: dict[str, bool | None] = {"down": None, "up": None}
        self.history: deque[tuple[float, Direction | None]] = deque(maxlen=HISTORY_KEPT)  # (monotonic, drive) per change
        self._t = clock.monotonic()
        self._listeners: list[Callable[[], None]] = []

    # -- physics ---------------------------------------------------------------------------
    def update(self) -> None:
        """Move the arm for the time elapsed since the last update."""
        now = self.clock.monotonic()
        dt, self._t = now - self._t, now
        if self.drive and not self.stalled and self.powered and dt > 0:
            step = dt / self.travel_time_s
            pos = self.position + step if (self.drive == "up") != self.reversed else self.position - step
            self.position = 1.0 if pos >= 1.0 - _EPS else 0.0 if pos <= _EPS else pos  # at the end stop

    def set_drive(self, drive: Direction | None) -> None:
        self.update()
        if drive != self.drive:
            self.drive = drive
            self.history.append((self.clock.monotonic(), drive))

    def switches(self) -> Switches:
        self.update()
        down = self.position <= _EPS if self.stuck["down"] is None else self.stuck["down"]
        up = self.position >= 1.0 - _EPS if self.stuck["up"] is None else self.stuck["up"]
        return Switches(down=up, up=down) if self.switches_swapped else Switches(down=down, up=up)

    def presence(self) -> bool | None:
        if not self.has_presence or self.presence_lost:
            return None
        return self.vehicle

    # -- fault injection -----------------------------------------------------------------
    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _changed(self) -> None:
        for cb in list(self._listeners):
            cb()

    def set_vehicle(self, present: bool) -> None:
        self.vehicle = present
        self._changed()

    def lose_presence(self, lost: bool = True) -> None:
        self.presence_lost = lost
        self._changed()

    def stall(self, stalled: bool = True) -> None:
        self.update()
        self.stalled = stalled

    def set_power(self, on: bool) -> None:
        """Cut (or restore) the motor supply while the agent runs on: the arm stops where it is."""
        self.update()
        self.powered = on

    def reverse_motor(self, swapped: bool = True) -> None:
        """Swap the motor's lines (an installer's up ↔ down, in the wiring or the config): driven down, the arm
        rises."""
        self.update()
        self.reversed = swapped

    def swap_switches(self, swapped: bool = True) -> None:
        """Swap the end switches' lines: the down switch reads the up end, and the other way round."""
        self.switches_swapped = swapped
        self._changed()

    @property
    def moving(self) -> Direction | None:
        """The way the motor turns the arm (not the line driven: a swapped motor turns it the other way)."""
        if self.drive is None or not self.reversed:
            return self.drive
        return "down" if self.drive == "up" else "up"

    def stick_switch(self, which: str, value: bool | None) -> None:
        """Force a switch to read ``value`` (``None`` releases it to follow the arm)."""
        self.stuck[which] = value
        self._changed()

    def force_down(self) -> None:
        """A car drives over the raised arm and pushes it flat."""
        self.update()
        self.position = 0.0
        self._changed()

    def move_to(self, position: float) -> None:
        self.update()
        self.position = position
        self._changed()

    def power_loss(self) -> None:
        """Cut the motor supply: the arm stops wherever it is; listeners are dropped (driver is gone)."""
        self.update()
        self.set_drive(None)
        self._listeners.clear()


class SimulatedLock(LockDriver):
    """The driver for an :class:`Arm`; ``warning_on`` and ``arm.history`` are what tests read."""

    def __init__(self, arm: Arm, script: FaultScript | None = None) -> None:
        self.arm = arm
        self.has_presence = arm.has_presence
        self.has_warning = True  # a simulated beacon: tests and the demo read warning_on
        self.warning_on = False
        self.script = script
        self._callbacks: list[Callable[[], None]] = []

    @classmethod
    def from_config(cls, cfg: LockConfig, clock: Clock) -> "SimulatedLock":
        start = {"down": 0.0, "up": 1.0, "middle": 0.5}[cfg.simulator.start]
        arm = Arm(clock, cfg.simulator.travel_time_s, start, has_presence=cfg.simulator.presence)
        return cls(arm, FaultScript(arm, cfg.simulator.script) if cfg.simulator.script else None)

    def inject(self, step: SimStep) -> str:
        """Apply one fault now (MQTT ``sim/…``); returns what was done, in words."""
        return apply_step(self.arm, step)

    def run_script(self) -> None:
        """Play the configured fault script's due steps (the lock manager calls this every tick)."""
        if self.script is not None:
            self.script.run()

    def motor_up(self) -> None:
        self.arm.set_drive("up")

    def motor_down(self) -> None:
        self.arm.set_drive("down")

    def motor_stop(self) -> None:
        self.arm.set_drive(None)

    @property
    def motor(self) -> Direction | None:
        return self.arm.drive

    def read_switches(self) -> Switches:
        return self.arm.switches()

    def read_presence(self) -> bool | None:
        return self.arm.presence()

    def set_warning(self, on: bool) -> None:
        self.warning_on = on

    def on_input_change(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        self.arm.listen(callback)

    def close(self) -> None:
        """Stop the motor and stop reporting (the arm itself stays where it is)."""
        self.motor_stop()
        self.warning_on = False
        for cb in self._callbacks:
            self.arm.unlisten(cb)
        self._callbacks.clear()
