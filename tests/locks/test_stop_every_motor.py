"""The agent's stop switches off every lock's motor, whatever one lock's driver does.

``LockManager.stop`` closes each lock in turn (``Interlock.stop``). A driver whose motor write fails at the stop (its
GPIO chip gone, an I/O error on the line) raised out of that loop: the locks after it were never stopped, and their
motors ran on, driving arms with no agent watching the switches or the bay (probe review97).
"""

from __future__ import annotations

import pytest

from edge_agent.bays.feed import BayFeed
from edge_agent.clock import FakeClock
from edge_agent.config.load import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.locks import build_locks


def _two_locks():  # noqa: ANN202
    return parse_config(
        {
            "site": {"site_id": "s1", "device_id": "d1"},
            "camera": {"source": "0"},
            "bays": [{"id": b, "polygon": [[x, 0], [x + 100, 0], [x + 100, 100]]} for b, x in (("B1", 0), ("B2", 200))],
            "locks": [
                {
                    "id": f"L{i}",
                    "bay": b,
                    "driver": "simulator",
                    "motor_timeout_s": 30,
                    "simulator": {"travel_time_s": 20, "start": "up"},
                }
                for i, b in ((1, "B1"), (2, "B2"))
            ],
        }
    )


@pytest.mark.parametrize("failing", ["B1", "B2"])
def test_a_driver_failing_at_the_stop_leaves_no_other_locks_motor_running(failing: str) -> None:
    clock = FakeClock()
    manager = build_locks(_two_locks(), EventBus(), clock, vision=BayFeed())
    manager.start()
    for bay in ("B1", "B2"):
        assert manager.unlock(bay, "nev", "ops").ok
        clock.advance(0.1)
        manager.tick()
    assert {b: manager.driver(b).motor for b in ("B1", "B2")} == {"B1": "down", "B2": "down"}

    def broken() -> None:
        raise OSError("GPIO write failed")

    manager.driver(failing).motor_stop = broken  # type: ignore[method-assign]
    try:
        manager.stop()
    except OSError:
        pass  # said, once every other lock is stopped
    other = "B2" if failing == "B1" else "B1"
    assert manager.driver(other).motor is None, "a lock's motor ran on after the agent's stop"
