"""Faults for a simulated lock, from the config's ``simulator.script`` or MQTT ``sim/…`` commands.

Why: every interlock rule (no raise over a vehicle, presence lost → FAULT, motor timeout, stuck or
flapping switches, tamper, power cut mid-move) must be testable from outside the process, on the
real agent, without lock hardware. One vocabulary (``config.locks.SimStep``) serves both the
timed script and the run-time commands, so a scripted test and an MQTT-driven one mean the same.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edge_agent.config.locks import SimPowerLoss, SimPresence, SimStall, SimStep, SimSwitch, SimTamper

if TYPE_CHECKING:
    from edge_agent.locks.simulator import Arm

log = logging.getLogger(__name__)

POSITIONS = {"down": 0.0, "up": 1.0, "middle": 0.5}
STUCK = {"active": True, "inactive": False, "released": None}


def apply_step(arm: Arm, step: SimStep) -> str:
    """Do what ``step`` says to ``arm`` now; the interlock hears it through the arm's listeners."""
    if isinstance(step, SimPresence):
        arm.lose_presence(step.state == "lost")
        if step.state != "lost":
            arm.set_vehicle(step.state == "vehicle")
        return f"presence sensor: {step.state}"
    if isinstance(step, SimStall):
        arm.stall(step.on)
        return "motor stalled" if step.on else "motor free"
    if isinstance(step, SimSwitch):
        arm.stick_switch(step.switch, STUCK[step.stuck])
        return f"{step.switch} switch {step.stuck}"
    if isinstance(step, SimTamper):
        arm.move_to(POSITIONS[step.to])
        return f"arm moved by hand to {step.to}"
    if isinstance(step, SimPowerLoss):
        arm.set_power(not step.on)
        return "motor power cut" if step.on else "motor power restored"
    raise TypeError(f"unknown simulator step {step!r}")


class FaultScript:
    """The config's steps, played in ``at_s`` order on the arm's clock from the moment it was built."""

    def __init__(self, arm: Arm, steps: Sequence[SimStep]) -> None:
        self.arm = arm
        self.steps = sorted(steps, key=lambda s: s.at_s)  # stable: equal times keep the config's order
        self.t0 = arm.clock.monotonic()
        self.done = 0

    def run(self) -> None:
        elapsed = self.arm.clock.monotonic() - self.t0
        while self.done < len(self.steps) and self.steps[self.done].at_s <= elapsed:
            step = self.steps[self.done]
            self.done += 1
            log.info("simulator script at %.1f s: %s", step.at_s, apply_step(self.arm, step))
