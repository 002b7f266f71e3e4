"""Which physical pin of the 40-pin header a configured pin name is, so no pin is used twice under any spelling.

Why: ``17``, ``"17"``, ``"GPIO17"``, ``"BCM17"``, ``"BOARD11"``, ``"J8:11"`` and ``"WPI0"`` are all header pin 11
to gpiozero; compared as written they were six different pins, and two locks on one pin crashed ``run`` with
``GPIOPinInUse`` (or worse, drove one relay from two locks). Every pin is reduced to its header pin here and the
config check refuses any header pin used twice anywhere in the config, naming both keys.

- ``gpiozero``: gpiozero's own parser (``BoardInfo.to_gpio``, public API) on the Raspberry Pi 5's board info,
  so every spelling gpiozero accepts is accepted and means what it will mean at run time; the 40-pin header
  (``J8``) is the same on every Pi since the B+. Names it does not know (``99``, ``-1``, ``""``) and non-GPIO
  header pins (``BOARD1``: 3V3) are refused here instead of at start-up.
- ``jetson``: Jetson.GPIO's ``BOARD`` numbering — the header pin number itself, one of the 22 GPIO-capable
  pins of the Jetson 40-pin header (the rest are power, ground, I2C and UART; docs/wiring.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

PI5_REVISION = 0xC04170  # Raspberry Pi 5 (4 GB): any 40-pin Pi has the same J8 header
JETSON_GPIO_PINS = frozenset({7, 11, 12, 13, 15, 16, 18, 19, 21, 22, 23, 24, 26, 29, 31, 32, 33, 35, 36, 37, 38, 40})


@lru_cache(maxsize=1)
def _pi_board() -> Any:
    from gpiozero.pins.pi import PiBoardInfo  # no hardware touched: a table of the board's headers

    return PiBoardInfo.from_revision(PI5_REVISION)


def header_pin(driver: str, pin: int | str) -> int:
    """The 40-pin header number of ``pin`` as ``driver`` reads it; ``ValueError`` saying why it is no GPIO pin."""
    if isinstance(pin, bool):  # YAML's yes / true: never a pin number
        raise ValueError("a pin is a number or a name such as GPIO17, not true/false")
    if driver == "jetson":
        text = str(pin).strip()
        number = int(text) if text.isdigit() else None
        if number is None or number not in JETSON_GPIO_PINS:
            raise ValueError(f"{pin!r} is not a GPIO pin of the Jetson 40-pin header (BOARD numbers: "
                             f"{', '.join(map(str, sorted(JETSON_GPIO_PINS)))})")
        return number
    from gpiozero.exc import PinInvalidPin

    board = _pi_board()
    try:
        name = board.to_gpio(pin)
    except PinInvalidPin:
        raise ValueError(f"{pin!r} is not a GPIO pin of the Raspberry Pi header (a BCM number 0-27, or a name "
                         "such as GPIO17, BOARD11, J8:11)") from None
    return int(min(info.number for header, info in board.find_pin(name) if header.name == "J8"))


def describe(driver: str, pin: int | str, header: int) -> str:
    """``GPIO17 (header pin 11)`` — the pin as gpiozero names it and where it sits."""
    if driver == "jetson":
        return f"header pin {header}"
    return f"{_pi_board().to_gpio(pin)} (header pin {header})"
