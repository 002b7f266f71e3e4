"""The arm a lock's relays drive, for tests on gpiozero's MockFactory pins: it travels its whole way in 1 s while
only one relay is on, and its end switches close (pulled low) at the ends, as the wiring in docs/wiring.md."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

UP, DOWN, SW_DOWN, SW_UP = 17, 27, 22, 23  # the relays' and the end switches' BCM pins in the tests' configs


def move_arm(factory: MockFactory, position: float, dt: float = 0.0) -> float:
    """The arm's position (0 down … 1 up) after ``dt`` seconds under the relays as they are; its switches set."""
    up, down = factory.pin(UP).state, factory.pin(DOWN).state
    if up and not down:
        position = min(1.0, position + dt)
    elif down and not up:
        position = max(0.0, position - dt)
    factory.pin(SW_DOWN).drive_low() if position <= 0 else factory.pin(SW_DOWN).drive_high()
    factory.pin(SW_UP).drive_low() if position >= 1 else factory.pin(SW_UP).drive_high()
    return position
