"""Parking-lock settings (owned by the locks stage).

One entry per lock: which driver talks to it, the pins of its motor, limit switches,
presence sensor and warning output, and the timers of its policy. Pin numbers mean what
the driver means by them: BCM numbers (or gpiozero names such as ``"GPIO17"`` /
``"BOARD11"``) for ``gpiozero``, BOARD (physical header) numbers for ``jetson``.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from edge_agent.config.base import Ident, StrictModel, problems_at
from edge_agent.config.pins import header_pin

PinId = int | str


class OutputPin(StrictModel):
    """A relay / H-bridge input / buzzer line. Most relay boards switch on a LOW input."""

    pin: PinId
    active_high: bool = True


class InputPin(StrictModel):
    """A switch or sensor line.

    As in gpiozero: with a pull resistor the active level follows the pull (pull-up →
    active when LOW, i.e. a switch to ground); ``pull_up: null`` (external resistor, and
    always on Jetson) needs ``active_high`` to say which level means "active".
    """

    pin: PinId
    pull_up: bool | None = True
    active_high: bool | None = None

    @model_validator(mode="after")
    def _levels(self) -> "InputPin":
        if self.pull_up is None and self.active_high is None:
            raise ValueError("active_high is required when pull_up is null (no internal pull resistor)")
        if self.pull_up is not None and self.active_high is not None:
            raise ValueError(
                "active_high may only be set with pull_up: null (a pull-up means active LOW, a pull-down active HIGH)"
            )
        return self

    @property
    def is_active_high(self) -> bool:
        return self.active_high if self.active_high is not None else not self.pull_up


class MotorConfig(StrictModel):
    """Two relays (one per direction) or an H-bridge (IN1/IN2, optional EN). Stop = both off."""

    kind: Literal["relays", "hbridge"] = "relays"
    up: OutputPin
    down: OutputPin
    enable: OutputPin | None = None


class SwitchesConfig(StrictModel):
    """Limit switches / position sensors; "active" means the arm is at that end."""

    down: InputPin
    up: InputPin


class PresenceConfig(StrictModel):
    """Vehicle-presence sensor on or under the arm.

    ``digital``: an IR / geomagnetic / radar module output (``pin`` active = vehicle, or = clear
    with ``pin_active: clear``) and optionally its health output (``health_pin`` active = sensor OK).
    Wire it fail-safe: an output that conducts while the bay is clear (NC) on a pulled-up pin, with
    ``pin_active: clear``, reads a cut wire as "vehicle"; with ``vehicle`` a cut wire reads "clear".
    ``ultrasonic``: an HC-SR04 style sensor on ``trigger`` / ``echo``; a distance below
    ``threshold_m`` is a vehicle, no answer for ``stale_s`` is "sensor lost" (a module that answers but hears no
    echo reads ``max_distance_m``: "clear").
    """

    kind: Literal["digital", "ultrasonic"] = "digital"
    pin: InputPin | None = None
    pin_active: Literal["vehicle", "clear"] = Field(
        "vehicle", description="what the pin's active level means; `clear` for fail-safe wiring (a cut wire reads vehicle)")
    health_pin: InputPin | None = None
    trigger: PinId | None = None
    echo: PinId | None = None
    threshold_m: float = Field(0.5, gt=0, le=4.0)
    max_distance_m: float = Field(2.0, gt=0, le=4.0)
    stale_s: float = Field(1.0, gt=0, le=10)
    flap_changes: int = Field(
        20, ge=5, le=1000, description="this many changes of the sensor's reading within the lock's flap_window_s "
        "→ FAULT presence_unknown (a loose wire, interference, a reading hovering at its threshold)")
    disagree_s: float = Field(
        600.0, ge=60, le=86_400, description="the sensor reports a vehicle this long while the camera sees the "
        "bay empty, confidently → FAULT presence_unknown (stuck, covered, or pin_active the wrong way round); it "
        "reports the bay clear this long while the camera confidently sees a car, the arm down → raises refused "
        "presence_blind until it sees a car the camera sees, or a reset (stuck clear, knocked off its aim)")

    @model_validator(mode="after")
    def _wiring(self) -> "PresenceConfig":
        if self.kind == "digital" and self.pin is None:
            raise ValueError("a digital presence sensor needs pin")
        if self.kind == "ultrasonic" and self.pin_active != "vehicle":
            raise ValueError("pin_active is a digital sensor's setting (an ultrasonic sensor measures a distance)")
        # a setting of the other kind is never read: a health output wired and configured on an ultrasonic sensor
        # was silently not watched (a dead module's health line said nothing), a digital sensor's echo ignored
        other, article, alt = (("pin", "health_pin"), "an", "digital") if self.kind == "ultrasonic" \
            else (("trigger", "echo"), "a", "ultrasonic")
        for key in other:
            if getattr(self, key) is not None:
                raise ValueError(f"{key} is not read by {article} {self.kind} presence sensor; remove it, "
                                 f"or set kind: {alt}")
        if self.kind == "ultrasonic":
            if self.trigger is None or self.echo is None:
                raise ValueError("an ultrasonic presence sensor needs trigger and echo")
            if self.threshold_m >= self.max_distance_m:
                raise ValueError("threshold_m must be below max_distance_m")
        return self


class _SimStep(StrictModel):
    at_s: float = Field(0.0, ge=0, le=7 * 86_400, allow_inf_nan=False,
                        description="seconds after the lock started (simulator script only)")


class SimPresence(_SimStep):
    """The presence sensor sees a vehicle, sees none, or is lost (no answer / unhealthy)."""

    action: Literal["presence"]
    state: Literal["vehicle", "clear", "lost"]


class SimStall(_SimStep):
    """The motor runs but the arm does not move (jammed, broken gear); ``on: false`` frees it."""

    action: Literal["stall"]
    on: bool = True


class SimSwitch(_SimStep):
    """A limit switch reads ``active`` / ``inactive`` whatever the arm does; ``released`` follows the arm again."""

    action: Literal["switch"]
    switch: Literal["down", "up"]
    stuck: Literal["active", "inactive", "released"]


class SimTamper(_SimStep):
    """Someone moves the arm by hand (``down``: a car pushes a raised arm flat)."""

    action: Literal["tamper"]
    to: Literal["down", "up", "middle"] = "down"


class SimPowerLoss(_SimStep):
    """The lock's motor supply is cut (``on: false``: restored): the arm stops where it is."""

    action: Literal["power-loss"]
    on: bool = True


SimStep = Annotated[Union[SimPresence, SimStall, SimSwitch, SimTamper, SimPowerLoss], Field(discriminator="action")]
SIM_ACTIONS = ("presence", "stall", "switch", "tamper", "power-loss")


class SimulatorConfig(StrictModel):
    travel_time_s: float = Field(3.0, gt=0, le=20, description="full stroke, down ↔ up")
    start: Literal["down", "up", "middle"] = "down"
    presence: bool = True  # whether the simulated lock has a presence sensor
    script: list[SimStep] = Field(
        default_factory=list, max_length=1000,
        description="faults played at at_s seconds after start (presence, stall, switch, tamper, power-loss)")


class PolicyConfig(StrictModel):
    lower_for_nev: bool = True
    auto_raise: bool = True
    warn_fuel: bool = True
    warn_unidentified: bool = True


class LockConfig(StrictModel):
    id: Ident
    bay: str | None = Field(None, description="bay id; may instead be given by the bay's lock_id")
    driver: Literal["gpiozero", "jetson", "simulator"] = "simulator"
    motor: MotorConfig | None = None
    switches: SwitchesConfig | None = None
    presence: PresenceConfig | None = None
    warning: OutputPin | None = None
    motor_timeout_s: float = Field(5.0, ge=1, le=30, description="a move that reaches no limit switch → FAULT")
    reverse_delay_s: float = Field(0.3, ge=0, le=2, description="motor stopped this long before reversing")
    max_moves: int = Field(12, ge=4, le=200, description="motor starts (either way) allowed within max_moves_window_s; "
                           "beyond, a raise is refused motor_duty (a lowering never is)")
    max_moves_window_s: float = Field(300.0, ge=10, le=3600, description="the window max_moves counts in")
    auto_raise_delay_s: float = Field(30.0, ge=20, le=600, description=(
        "bay confirmed free this long → UP (every rise: the policy's, the admit window's, a remote lock)"))
    admit_window_s: float = Field(120.0, ge=10, le=1800, description=(
        "lowered, nobody parks this long → UP (not before the bay was seen free auto_raise_delay_s)"))
    recent_read_s: float = Field(15.0, ge=0, le=600, description="a plate read this recent blocks UP")
    occupancy_max_age_s: float = Field(3.0, gt=0, le=60, description="no occupancy measurement this recent "
                                       "(camera stalled, slow inference) blocks UP; ≥ 2 frame periods")
    warning_s: float = Field(10.0, ge=0, le=300, description="how long the warning output stays on")
    switch_debounce_s: float = Field(0.05, ge=0, le=1, description="uncommanded switch change must hold this long")
    flap_changes: int = Field(3, ge=2, le=20, description="uncommanded switch changes that mean 'flapping'")
    flap_window_s: float = Field(10.0, gt=0, le=300)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)

    @model_validator(mode="after")
    def _driver_wiring(self) -> "LockConfig":
        if self.driver != "simulator" and self.simulator.script:
            raise ValueError("simulator.script is only played by driver: simulator")
        if self.driver == "simulator":
            if self.simulator.travel_time_s >= self.motor_timeout_s:
                raise ValueError("simulator.travel_time_s must be below motor_timeout_s")
            return self
        if self.motor is None or self.switches is None:
            raise ValueError(f"driver {self.driver} needs motor and switches pins")
        if self.driver == "jetson" and self.presence is not None and self.presence.kind == "ultrasonic":
            raise ValueError("presence.kind ultrasonic is only supported by the gpiozero driver")
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for loc, pin in self.pin_keys():
            try:
                header_pin(self.driver, pin)
            except ValueError as exc:
                problems.append((loc, str(exc)))
        if problems:
            raise problems_at(type(self).__name__, problems)
        return self

    def presence_identity(self) -> str | None:
        """What makes this lock's presence sensor the one it is (None: none fitted): the driver, the kind, its lines
        and their levels, what its output means, and for an ultrasonic one its distances. A record of a car the sensor
        reported (``outlines.json`` ``sensed``) counts at the next start only for the same identity: a sensor swapped,
        re-wired to other pins or re-set to another range between runs inherited the record by bay until probe
        locks43, and its "clear" could end the restart's wait under a car it never saw. Timing settings (``stale_s``,
        ``flap_changes``, ``disagree_s``) are left out: they say how it is judged, not what it senses."""
        pr = self.presence
        if self.driver == "simulator":
            return json.dumps({"driver": "simulator"}) if self.simulator.presence else None
        if pr is None:
            return None
        # each setting named here, none dumped whole: a field a later version adds (with its default) would change
        # every sensor's identity at the upgrade, and every bay left a car would pay the strict wait. Each line as its
        # header pin: ``24``, ``"GPIO24"``, ``"BOARD18"`` are one wire to the driver, and a config rewritten with
        # another spelling made every such bay pay it (probe review103)
        sensing: dict[str, object] = {
            "kind": pr.kind, "pin_active": pr.pin_active, "pin": self._line(pr.pin), "health_pin": self._line(pr.health_pin),
            "trigger": None if pr.trigger is None else self._header(pr.trigger),
            "echo": None if pr.echo is None else self._header(pr.echo),
            **({"threshold_m": pr.threshold_m, "max_distance_m": pr.max_distance_m} if pr.kind == "ultrasonic" else {}),
        }
        return json.dumps({"driver": self.driver, **sensing}, sort_keys=True, separators=(",", ":"))

    def _line(self, p: InputPin | None) -> dict[str, object] | None:
        """An input line in ``presence_identity``: its header pin and levels."""
        return None if p is None else {"pin": self._header(p.pin), "pull_up": p.pull_up, "active_high": p.active_high}

    def _header(self, pin: PinId) -> PinId:
        """``pin``'s header pin under this lock's driver (as written where it names none: the config check refuses
        it before a run)."""
        try:
            return header_pin(self.driver, pin)
        except ValueError:
            return pin

    def presence_clear_is_shown(self) -> bool:
        """Whether the sensor's "clear" is something it must do, never what it says dead: a digital one wired fail-safe
        (``pin_active: clear``: a cut wire or a dead output reads "vehicle"). A digital one whose output means
        "vehicle" reads "clear" dead, cut or unpowered; a health output does not change that: it watches the module,
        not the output's own wire, which alone coming loose reads "clear" with the health line OK (probe locks45;
        until then it counted as shown). Nor an ultrasonic one: a module that hears no echo (its receiver dead or iced, knocked to aim at the sky)
        still answers with its 38 ms timeout pulse, read at ``max_distance_m``: "clear", healthy — only a module
        that does not answer at all is "lost" (until probe review103 it counted as shown). The simulator's sensor
        fails only as scripted ("lost")."""
        pr = self.presence
        if self.driver == "simulator":
            return self.simulator.presence
        return pr is not None and pr.kind == "digital" and pr.pin_active == "clear"

    def pin_keys(self) -> list[tuple[tuple[str, ...], PinId]]:
        """Every pin this lock's driver opens, with its key (``("motor", "up", "pin")``); none for the simulator.
        A pin used twice (also across locks) is refused by ``bays.cross_section_problems``."""
        if self.driver == "simulator":
            return []
        m, s, pr = self.motor, self.switches, self.presence
        out: list[tuple[tuple[str, ...], PinId | None]] = []
        if m is not None:
            out += [(("motor", "up", "pin"), m.up.pin), (("motor", "down", "pin"), m.down.pin),
                    (("motor", "enable", "pin"), m.enable.pin if m.enable else None)]
        if s is not None:
            out += [(("switches", "down", "pin"), s.down.pin), (("switches", "up", "pin"), s.up.pin)]
        out.append((("warning", "pin"), self.warning.pin if self.warning else None))
        if pr is not None:
            out += [(("presence", "pin", "pin"), pr.pin.pin if pr.pin else None),
                    (("presence", "health_pin", "pin"), pr.health_pin.pin if pr.health_pin else None),
                    (("presence", "trigger"), pr.trigger if pr.kind == "ultrasonic" else None),
                    (("presence", "echo"), pr.echo if pr.kind == "ultrasonic" else None)]
        return [(loc, pin) for loc, pin in out if pin is not None]
