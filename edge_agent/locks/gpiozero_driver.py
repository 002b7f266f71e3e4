"""A lock on Raspberry Pi GPIO, composed of gpiozero devices.

Wiring (BCM numbers from the config)::

    motor.up / motor.down  → DigitalOutputDevice  (relay or H-bridge IN1 / IN2)
    motor.enable           → DigitalOutputDevice  (H-bridge EN, optional)
    switches.down / .up    → DigitalInputDevice   (limit switch to GND, internal pull-up)
    presence.pin           → DigitalInputDevice   (IR / geomagnetic / radar module output)
    presence.trigger/echo  → DistanceSensor       (HC-SR04, alternative to presence.pin)
    warning                → DigitalOutputDevice  (buzzer / LED / voice module trigger)

Every device gets ``pin_factory=`` from the caller; the global ``Device.pin_factory`` is
never touched, so tests hand in gpiozero's ``MockFactory`` and production the default
(lgpio on a Pi 5)::

    factory = MockFactory()
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        lock.motor_down()
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Literal

from gpiozero import DigitalInputDevice, DigitalOutputDevice, DistanceSensor
from gpiozero.exc import PinFactoryFallback

from edge_agent.clock import Clock
from edge_agent.config.locks import InputPin, LockConfig, OutputPin
from edge_agent.locks.driver import DriverUnavailable, Switches, TwoLineMotor

log = logging.getLogger(__name__)


class _TimedDistanceSensor(DistanceSensor):  # type: ignore[misc]  # gpiozero has no type hints
    """A DistanceSensor that remembers when its last echo came back (no echo = sensor lost)."""

    def __init__(self, *args: object, clock: Clock, **kw: object) -> None:
        self._clock = clock
        self.last_echo_at: float | None = None
        super().__init__(*args, **kw)

    def _read(self) -> float | None:
        value: float | None = super()._read()
        if value is not None:
            self.last_echo_at = self._clock.monotonic()
        return value


class GpiozeroLock(TwoLineMotor):
    def __init__(self, cfg: LockConfig, clock: Clock, pin_factory: object | None = None) -> None:
        if cfg.motor is None or cfg.switches is None:
            raise DriverUnavailable(f"lock {cfg.id}: gpiozero driver needs motor and switches pins")
        self._cfg = cfg
        self._clock = clock
        self._factory = pin_factory
        self._devices: list[Any] = []
        # gpiozero warns once per pin factory it could not load (PinFactoryFallback) on stderr: collected here,
        # so a machine without GPIO gets one line naming the lock, and a working fallback one log line each
        with warnings.catch_warnings(record=True) as fallbacks:
            warnings.simplefilter("always", PinFactoryFallback)
            try:
                self._open_devices(cfg, clock)
            except DriverUnavailable as exc:
                tried = "; ".join(str(w.message) for w in fallbacks if issubclass(w.category, PinFactoryFallback))
                raise DriverUnavailable(f"{exc}{f' (tried: {tried})' if tried else ''}") from exc.__cause__
        for w in fallbacks:
            if issubclass(w.category, PinFactoryFallback):
                log.warning("lock %s: %s", cfg.id, w.message)
            else:  # not ours to swallow
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.has_presence = cfg.presence is not None
        self._vehicle_when_active = cfg.presence is None or cfg.presence.pin_active == "vehicle"
        self.has_warning = cfg.warning is not None
        self._started_at = clock.monotonic()

    def _open_devices(self, cfg: LockConfig, clock: Clock) -> None:
        assert cfg.motor is not None and cfg.switches is not None  # checked in __init__
        pin_factory = self._factory
        try:
            self._up = self._output(cfg.motor.up)
            self._down = self._output(cfg.motor.down)
            self._enable = self._output(cfg.motor.enable) if cfg.motor.enable else None
            self._sw_down = self._input(cfg.switches.down)
            self._sw_up = self._input(cfg.switches.up)
            self._warning = self._output(cfg.warning) if cfg.warning else None
            self._presence = self._health = self._sonar = None
            pr = cfg.presence
            if pr is not None and pr.kind == "digital":
                assert pr.pin is not None  # PresenceConfig: a digital sensor has a pin
                self._presence = self._input(pr.pin)
                self._health = self._input(pr.health_pin) if pr.health_pin else None
            elif pr is not None:
                self._sonar = _TimedDistanceSensor(
                    echo=pr.echo,
                    trigger=pr.trigger,
                    max_distance=pr.max_distance_m,
                    threshold_distance=pr.threshold_m,
                    queue_len=3,
                    partial=True,
                    clock=clock,
                    pin_factory=pin_factory,
                )
                self._devices.append(self._sonar)
        except Exception as exc:
            self.close()
            if exc.__class__.__name__ in ("BadPinFactory", "PinFactoryFallback"):
                raise DriverUnavailable(f"lock {cfg.id}: no GPIO here ({exc}); use driver: simulator") from exc
            raise

    def _output(self, p: OutputPin) -> DigitalOutputDevice:
        dev = DigitalOutputDevice(p.pin, active_high=p.active_high, initial_value=False, pin_factory=self._factory)
        self._devices.append(dev)
        return dev

    def _input(self, p: InputPin) -> DigitalInputDevice:
        active = p.is_active_high if p.pull_up is None else None
        dev = DigitalInputDevice(p.pin, pull_up=p.pull_up, active_state=active, pin_factory=self._factory)
        self._devices.append(dev)
        return dev

    # -- TwoLineMotor -------------------------------------------------------------------
    def _line(self, name: Literal["up", "down", "enable"], on: bool) -> None:
        dev = {"up": self._up, "down": self._down, "enable": self._enable}[name]
        if dev is not None:
            dev.value = on

    def _line_state(self, name: Literal["up", "down"]) -> bool:
        return bool((self._up if name == "up" else self._down).value)

    # -- inputs ---------------------------------------------------------------------------
    def read_switches(self) -> Switches:
        return Switches(down=bool(self._sw_down.is_active), up=bool(self._sw_up.is_active))

    def _read_presence(self) -> bool | None:
        if self._presence is not None:
            if self._health is not None and not self._healthy(bool(self._health.is_active)):
                return None
            return bool(self._presence.is_active) == self._vehicle_when_active
        if self._sonar is not None:
            last = self._sonar.last_echo_at
            pr = self._cfg.presence  # set: the sonar is built from it
            if pr is None or last is None or self._clock.monotonic() - last > pr.stale_s:
                return None
            return bool(self._sonar.distance < pr.threshold_m)
        return None

    @property
    def presence_pending(self) -> bool:
        """No echo yet, and ``stale_s`` has not passed since the sensor opened: gpiozero's sampling
        thread takes its first reading ~0.07 s after that, after the lock stage started. Or the health
        output has been off for less than ``stale_s``."""
        pr = self._cfg.presence
        return (self._sonar is not None and pr is not None and self._sonar.last_echo_at is None
                and self._clock.monotonic() - self._started_at <= pr.stale_s) or self._health_pending()

    def set_warning(self, on: bool) -> None:
        if self._warning is not None:
            self._warning.value = on

    def on_input_change(self, callback: Callable[[], None]) -> None:
        for dev in (self._sw_down, self._sw_up, self._presence, self._health):
            if dev is not None:
                dev.when_activated = lambda: callback()
                dev.when_deactivated = lambda: callback()

    def close(self) -> None:
        """Every output off, the motor's first (enable, then both lines), each on its own, then every pin released;
        the first failure raised after. Why: the outputs went off one after another, the warning light's first, and
        its write failing left the motor line on with no agent watching the arm (probe review97)."""
        motor = [d for d in (getattr(self, n, None) for n in ("_enable", "_up", "_down")) if d is not None]  # (built)
        failed: Exception | None = None
        for dev in [*motor, *(d for d in reversed(self._devices) if d not in motor)]:
            try:
                if isinstance(dev, DigitalOutputDevice) and not dev.closed:
                    dev.off()
            except Exception as exc:  # noqa: BLE001 - the next output is still switched off
                failed = failed or exc
        for dev in reversed(self._devices):
            try:
                dev.close()
            except Exception as exc:  # noqa: BLE001 - the next pin is still released
                failed = failed or exc
        self._devices.clear()
        if failed is not None:
            raise failed
