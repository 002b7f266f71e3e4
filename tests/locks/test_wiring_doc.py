"""docs/wiring.md's tables are configs someone copies: each table makes a valid lock whose pins are the header pins
the table names, and whose presence sensor, wired as the table says, reads a cut wire as a vehicle (a cut wire
that reads "clear" lets the arm rise onto a car)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import FakeClock
from edge_agent.config.load import parse_config
from edge_agent.config.locks import LockConfig
from edge_agent.config.pins import header_pin
from edge_agent.locks.gpiozero_driver import GpiozeroLock
from edge_agent.locks.jetson_driver import JetsonLock
from tests.locks.test_drivers import FakeJetsonGPIO

DOC = Path(__file__).resolve().parents[2] / "docs" / "wiring.md"
CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def _tables() -> dict[str, list[dict[str, str]]]:
    """Each `## …` section's first table, as rows of {column: cell}."""
    tables: dict[str, list[dict[str, str]]] = {}
    section, header = "", None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section, header = line[3:], None
        elif line.startswith("|") and section:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set("- :"):
                tables.setdefault(section, []).append(dict(zip(header, cells)))
        else:
            header = None if not line.startswith("|") else header
    return tables


def _lock(rows: list[dict[str, str]], driver: str) -> tuple[dict[str, Any], dict[int, str]]:
    """The lock the table's Config column spells, and the header pin each row says its line is on."""
    lock: dict[str, Any] = {"id": "L1", "bay": "A", "driver": driver}
    sited: dict[int, str] = {}
    column = "Physical pin" if driver == "gpiozero" else "Header pin (BOARD)"
    for row in rows:
        m = re.fullmatch(r"`([a-z_.]+): (\{.*\})`", row.get("Config", ""))
        if not m:
            continue
        node = lock
        *parents, leaf = m.group(1).split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = yaml.safe_load(m.group(2))
        sited[int(row[column])] = row["Function"]
    return lock, sited


def _pins(lock: LockConfig) -> list[int | str]:
    out: list[int | str] = []
    for part in (lock.motor.up, lock.motor.down, lock.switches.down, lock.switches.up, lock.warning):
        out.append(part.pin)
    if lock.presence and lock.presence.pin:
        out.append(lock.presence.pin.pin)
    return out


@pytest.mark.parametrize(("section", "driver"), [("Raspberry Pi 5", "gpiozero"), ("Jetson", "jetson")])
def test_each_wiring_table_is_a_valid_fail_safe_lock_on_the_pins_it_names(section, driver):
    rows = next(rows for title, rows in _tables().items() if title.startswith(section))
    data, sited = _lock(rows, driver)
    assert {"motor", "switches", "presence", "warning"} <= set(data), data
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    cfg["bays"] = [{**cfg["bays"][0], "id": "A", "lock_id": None}]
    cfg["locks"] = [data]
    cfg["camera"]["source"] = "0"  # a real arm rises only on a live camera (the demo's source names none)
    lock = parse_config(cfg, str(DOC)).locks[0]
    assert sorted(header_pin(driver, p) for p in _pins(lock)) == sorted(sited), "a Config pin is not on its row's pin"

    if driver == "gpiozero":
        factory = MockFactory()
        try:
            with GpiozeroLock(lock, FakeClock(), pin_factory=factory) as pi:
                # nothing drives the input: the pull-up holds it, as it does a cut wire
                assert pi.read_presence() is True, f"{section}: a cut presence wire reads 'clear'"
        finally:
            factory.reset()
    else:
        g = FakeJetsonGPIO()
        assert lock.presence is not None and lock.presence.pin is not None
        g.levels[int(lock.presence.pin.pin)] = g.HIGH  # the table's external 10 kΩ pull-up holds a cut wire high
        assert JetsonLock(lock, gpio=g).read_presence() is True, f"{section}: a cut presence wire reads 'clear'"


def test_the_table_reader_sees_an_unsafe_presence_row():
    rows = [{"Function": "Presence sensor output", "Header pin (BOARD)": "37",
             "Config": "`presence: {kind: digital, pin: {pin: 37}}`"}]
    data, sited = _lock(rows, "jetson")
    assert data["presence"] == {"kind": "digital", "pin": {"pin": 37}} and sited == {37: "Presence sensor output"}
    lock = LockConfig.model_validate({**data, "motor": {"up": {"pin": 29}, "down": {"pin": 31}},
                                      "switches": {"down": {"pin": 33}, "up": {"pin": 35}}})
    g = FakeJetsonGPIO()
    g.levels[37] = g.HIGH
    assert JetsonLock(lock, gpio=g).read_presence() is False  # what the old Jetson row did with a cut wire
