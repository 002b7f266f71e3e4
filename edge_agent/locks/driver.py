"""The lock-driver interface: what the interlock may do to a lock, and nothing more.

A driver drives the motor (up / down / stop), reads the two limit switches and the
presence sensor, and switches the warning output. It holds no policy and never decides
whether a move is safe — that is ``interlock.py``'s one job. Which driver a lock gets is
decided by its config through :func:`make_driver`, never by the driver itself.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Literal

from edge_agent.clock import Clock
from edge_agent.config.locks import LockConfig

Direction = Literal["up", "down"]

log = logging.getLogger(__name__)


class DriverUnavailable(RuntimeError):
    """The configured driver cannot run here (library missing, no GPIO chip)."""


@dataclass(frozen=True)
class Switches:
    down: bool
    up: bool

    @property
    def position(self) -> Literal["down", "up", "both", "neither"]:
        """``down`` / ``up`` when exactly one end is reported, else ``both`` / ``neither``."""
        if self.down and self.up:
            return "both"
        if self.down:
            return "down"
        if self.up:
            return "up"
        return "neither"


class LockDriver(ABC):
    """Motor outputs, limit-switch inputs, presence input and warning output of one lock."""

    #: whether a presence sensor is fitted (``read_presence`` is meaningful)
    has_presence: bool = False
    #: whether a warning light / buzzer is fitted (``set_warning`` does something)
    has_warning: bool = False

    @abstractmethod
    def motor_up(self) -> None: ...

    @abstractmethod
    def motor_down(self) -> None: ...

    @abstractmethod
    def motor_stop(self) -> None: ...

    @property
    @abstractmethod
    def motor(self) -> Direction | None:
        """The direction currently driven (read back from the outputs), ``None`` when stopped."""

    @property
    def driving(self) -> bool:
        """Any motor line on. ``motor`` says None for both at once (no direction), which the interlock took for
        stopped: a shoot-through its own writes never make, but a failed write may leave, was never switched off."""
        return self.motor is not None

    @abstractmethod
    def read_switches(self) -> Switches: ...

    def read_presence(self) -> bool | None:
        """True: vehicle; False: clear; None: sensor lost / unhealthy (or none fitted)."""
        return None

    @property
    def presence_pending(self) -> bool:
        """``read_presence`` says None, which refuses UP, but the sensor is not lost yet: it has had no time for
        its first reading (an ultrasonic one just opened), or its health output has been off for less than
        ``presence.stale_s`` (a glitch on the line)."""
        return False

    @abstractmethod
    def set_warning(self, on: bool) -> None: ...

    def on_input_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) when a switch or presence input changes.

        Lets the interlock stop a rising arm the moment presence appears instead of at
        the next tick. Drivers without edge events need not implement it.
        """

    def close(self) -> None:
        """Stop the motor and release the hardware."""
        self.motor_stop()

    def __enter__(self) -> "LockDriver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TwoLineMotor(LockDriver):
    """Motor logic shared by the GPIO drivers: two direction lines and an optional enable.

    Break before make: the opposite line is switched off before a direction is switched
    on, so both relays (or both H-bridge inputs) are never on together.

    A presence input that cannot be read (its GPIO chip gone, the line released, an I/O error) is a lost
    sensor: ``read_presence`` says None, as for an unhealthy one. The read raising used to end the bay
    monitor's frame loop, which reads the sensor on every frame: the whole agent stopped, every camera and
    bay with it, and systemd restarted it into the same failure.
    """

    _cfg: LockConfig  # set by each driver
    _clock: Clock  # set by each driver
    _presence_failing: str | None = None  # the last read error, while the input cannot be read (logged once)
    _health_off_since: float | None = None  # the presence sensor's health output read off since then

    def read_presence(self) -> bool | None:
        try:
            present = self._read_presence()
        except Exception as exc:  # noqa: BLE001 - any failure to read the line: the sensor is lost
            why = f"{type(exc).__name__}: {exc}"
            if self._presence_failing is None:
                log.error("lock %s: presence sensor cannot be read (%s): sensor lost", self._cfg.id, why)
            self._presence_failing = why
            self._health_off_since = None  # lost at once, not pending
            return None
        if self._presence_failing is not None:
            log.warning("lock %s: presence sensor readable again", self._cfg.id)
            self._presence_failing = None
        return present

    def _read_presence(self) -> bool | None:
        """True: vehicle; False: clear; None: unhealthy or none fitted. May raise: the read failed."""
        return None

    def _healthy(self, ok: bool) -> bool:
        """Note the health output's level at a read; returns ``ok``. Off, the reading is None at once (UP refused, a
        rise stopped); the sensor counts as lost (FAULT) once it has stayed off ``presence.stale_s``. A single
        glitch on the line (a relay's spike, a module's self-test blip) latched a FAULT that outlives restarts and
        needs an operator at the bay: the arm lowered and the bay went unguarded until someone came."""
        if ok:
            self._health_off_since = None
        elif self._health_off_since is None:
            self._health_off_since = self._clock.monotonic()
        return ok

    def _health_pending(self) -> bool:
        """The health output is off, but not yet for ``presence.stale_s``."""
        pr, since = self._cfg.presence, self._health_off_since
        return pr is not None and since is not None and self._clock.monotonic() - since < pr.stale_s

    @abstractmethod
    def _line(self, name: Literal["up", "down", "enable"], on: bool) -> None:
        """Set one output line (``enable`` is a no-op when not wired)."""

    @abstractmethod
    def _line_state(self, name: Literal["up", "down"]) -> bool: ...

    def motor_up(self) -> None:
        self._line("down", False)
        self._line("up", True)
        self._line("enable", True)

    def motor_down(self) -> None:
        self._line("up", False)
        self._line("down", True)
        self._line("enable", True)

    def motor_stop(self) -> None:
        """Each line off on its own, the first failure raised after: a failed enable write stopped here, and both
        direction lines stayed on, the bridge driving on (probe review97)."""
        failed: Exception | None = None
        for name in ("enable", "up", "down"):
            try:
                self._line(name, False)
            except Exception as exc:  # noqa: BLE001 - the other lines are still switched off
                failed = failed or exc
        if failed is not None:
            raise failed

    @property
    def driving(self) -> bool:
        return self._line_state("up") or self._line_state("down")

    @property
    def motor(self) -> Direction | None:
        up, down = self._line_state("up"), self._line_state("down")
        if up and not down:
            return "up"
        if down and not up:
            return "down"
        return None


def make_driver(cfg: LockConfig, clock: Clock, pin_factory: object | None = None) -> LockDriver:
    """Build the driver ``cfg.driver`` names. ``pin_factory`` is passed to every gpiozero device."""
    if cfg.driver == "gpiozero":
        from edge_agent.locks.gpiozero_driver import GpiozeroLock

        return GpiozeroLock(cfg, clock, pin_factory=pin_factory)
    if cfg.driver == "jetson":
        from edge_agent.locks.jetson_driver import JetsonLock

        return JetsonLock(cfg, clock=clock)
    if cfg.driver == "simulator":
        from edge_agent.locks.simulator import SimulatedLock

        return SimulatedLock.from_config(cfg, clock)
    raise DriverUnavailable(f"lock {cfg.id}: unknown driver {cfg.driver!r}")
