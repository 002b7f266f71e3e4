"""A lock on a Jetson 40-pin header through Jetson.GPIO (gpiozero does not support Jetson).

Same wiring as the Pi driver, numbered by physical header pin (``GPIO.BOARD``). Jetson
pins have no settable internal pulls, so inputs need external resistors and the config's
``pull_up`` only tells which level is active. Jetson.GPIO raises at *import* on a machine
without a Jetson GPIO chip, so it is imported here, lazily, when a jetson lock is built::

    lock = JetsonLock(cfg, clock=clock)  # DriverUnavailable with the reason if Jetson.GPIO can't load
    lock.motor_down()
"""

from __future__ import annotations

from types import ModuleType
from typing import Callable, Literal

from edge_agent.clock import Clock, SystemClock
from edge_agent.config.locks import InputPin, LockConfig, OutputPin
from edge_agent.locks.driver import DriverUnavailable, Switches, TwoLineMotor


def load_jetson_gpio() -> ModuleType:
    """Import Jetson.GPIO, turning its import-time failures into one clear error."""
    try:
        import Jetson.GPIO as GPIO  # noqa: N814 - the library's conventional name
    except ModuleNotFoundError as exc:
        raise DriverUnavailable(
            "driver jetson needs Jetson.GPIO: pip install -e '.[jetson]' in the source checkout, on the Jetson (deploy/jetson's image has it)"
        ) from exc
    except Exception as exc:  # RuntimeError: no GPIO chip / not a Jetson / no permission
        raise DriverUnavailable(f"Jetson.GPIO cannot run on this machine: {exc}") from exc
    module: ModuleType = GPIO
    return module


class JetsonLock(TwoLineMotor):
    def __init__(self, cfg: LockConfig, gpio: ModuleType | None = None, clock: Clock | None = None) -> None:
        if cfg.motor is None or cfg.switches is None:
            raise DriverUnavailable(f"lock {cfg.id}: jetson driver needs motor and switches pins")
        self._gpio = gpio or load_jetson_gpio()
        self._cfg = cfg
        self._clock = clock or SystemClock()
        g = self._gpio
        g.setwarnings(False)
        g.setmode(g.BOARD)
        m, s = cfg.motor, cfg.switches
        self._outputs: dict[str, OutputPin] = {"up": m.up, "down": m.down}
        if m.enable:
            self._outputs["enable"] = m.enable
        if cfg.warning:
            self._outputs["warning"] = cfg.warning
        self._inputs: dict[str, InputPin] = {"sw_down": s.down, "sw_up": s.up}
        pr = cfg.presence
        if pr is not None and pr.pin is not None:  # config: the jetson driver takes digital presence only
            self._inputs["presence"] = pr.pin
            if pr.health_pin:
                self._inputs["health"] = pr.health_pin
        self._channels: list[int] = []
        for p in self._outputs.values():
            g.setup(int(p.pin), g.OUT, initial=self._level(p.active_high, False))
            self._channels.append(int(p.pin))
        for i in self._inputs.values():
            g.setup(int(i.pin), g.IN)
            self._channels.append(int(i.pin))
        self._on = dict.fromkeys(self._outputs, False)
        self.has_presence = pr is not None
        self._vehicle_when_active = pr is None or pr.pin_active == "vehicle"
        self.has_warning = cfg.warning is not None

    def _level(self, active_high: bool, on: bool) -> int:
        return int(self._gpio.HIGH if on == active_high else self._gpio.LOW)

    def _write(self, name: str, on: bool) -> None:
        p = self._outputs.get(name)
        if p is not None:
            self._gpio.output(int(p.pin), self._level(p.active_high, on))
            self._on[name] = on

    def _active(self, name: str) -> bool:
        p = self._inputs[name]
        return bool(self._gpio.input(int(p.pin)) == self._gpio.HIGH) == p.is_active_high

    def _line(self, name: Literal["up", "down", "enable"], on: bool) -> None:
        self._write(name, on)

    def _line_state(self, name: Literal["up", "down"]) -> bool:
        return self._on[name]

    def read_switches(self) -> Switches:
        return Switches(down=self._active("sw_down"), up=self._active("sw_up"))

    def _read_presence(self) -> bool | None:
        if "presence" not in self._inputs:
            return None
        if "health" in self._inputs and not self._healthy(self._active("health")):
            return None
        return self._active("presence") == self._vehicle_when_active

    @property
    def presence_pending(self) -> bool:
        return self._health_pending()

    def set_warning(self, on: bool) -> None:
        self._write("warning", on)

    def on_input_change(self, callback: Callable[[], None]) -> None:
        for p in self._inputs.values():
            self._gpio.add_event_detect(int(p.pin), self._gpio.BOTH, callback=lambda _ch: callback())

    def close(self) -> None:
        """The motor stopped, the warning off and every line released, each step on its own, the first failure raised
        after. Why: a failed motor line write raised out of ``motor_stop`` before the warning went off and before any
        line was released (probe locks45), as the gpiozero driver's close did until probe review97."""
        if not self._channels:
            return
        failed: Exception | None = None
        for step in (self.motor_stop, lambda: self.set_warning(False), lambda: self._gpio.cleanup(self._channels)):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the next output is still switched off, the lines released
                failed = failed or exc
        self._channels = []
        if failed is not None:
            raise failed
