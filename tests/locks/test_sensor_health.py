"""Presence sensors that misbehave, on the real agent: gpiozero's MockFactory pins, the real bay monitor and
occupancy classifier on a synthetic empty lot, a fake clock.

The arm is driven by the test from the relay pins (1 s stroke) and its limit switches follow it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import BAYS, Car, H, Scene, W, render
from tests.bays.test_vision import Frames, NoPlates
from tests.locks.test_vision_paths import watch_free

FPS = 5.0
UP, DOWN, SW_DOWN, SW_UP, PRESENCE, HEALTH = 17, 27, 22, 23, 24, 5


class Site:
    """One bay, one gpiozero lock with a fail-safe digital presence sensor (``pin_active: clear``: LOW = clear)."""

    def __init__(self, tmp: Path, clock: FakeClock, **lock_over: Any) -> None:
        lock = {"id": "LA", "bay": "A", "driver": "gpiozero", "auto_raise_delay_s": 20,
                "motor": {"kind": "relays", "up": {"pin": UP}, "down": {"pin": DOWN}},
                "switches": {"down": {"pin": SW_DOWN}, "up": {"pin": SW_UP}},
                "presence": {"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "clear"}, **lock_over}
        cfg = {"site": {"site_id": "s", "device_id": "d"},
               "camera": {"source": "0", "fps": FPS, "width": W, "height": H},
               "bays": [{"id": "A", "polygon": [list(p) for p in BAYS["A"]]}],
               "timers": {"arrival_confirm_s": 2, "departure_confirm_s": 3},
               "locks": [lock], "data_dir": str(tmp / "data")}
        path = tmp / "agent.yaml"
        path.write_text(yaml.safe_dump(cfg))
        self.clock = clock
        self.src = Frames(clock)
        self.agent = Agent(load_config(path), clock=clock, source=self.src, reader=NoPlates())
        self.factory = MockFactory()
        self.locks = attach_locks(self.agent, pin_factory=self.factory, thread=False)
        self.position = 0.0  # 0 down … 1 up
        self.events: list[Event] = []
        self.agent.bus.subscribe(self.events.append)
        self.sync()
        self.pin(PRESENCE).drive_low()  # clear
        self.pin(HEALTH).drive_high()  # the sensor says OK (when a lock wires its health output)
        self.agent.start()
        self.src.next = render(EMPTY)

    def pin(self, n: int):  # noqa: ANN201 - a MockPin
        return self.factory.pin(n)

    def sync(self, dt: float = 0.0) -> None:
        up, down = self.pin(UP).state, self.pin(DOWN).state
        if up and not down:
            self.position = min(1.0, self.position + dt)
        elif down and not up:
            self.position = max(0.0, self.position - dt)
        self.pin(SW_DOWN).drive_low() if self.position <= 0 else self.pin(SW_DOWN).drive_high()
        self.pin(SW_UP).drive_low() if self.position >= 1 else self.pin(SW_UP).drive_high()

    def watch_free(self, bay: str = "A") -> None:
        """``test_vision_paths.watch_free`` on this site's frames: the bay seen empty for ``auto_raise_delay_s``."""
        def fresh(seconds: float) -> None:
            self.clock.advance(seconds)
            self.agent.step()

        watch_free(self.locks._unit(bay).controller, self.run, fresh, 1 / FPS)

    def run(self, seconds: float, each: Callable[[], None] | None = None) -> None:
        for _ in range(round(seconds * FPS)):
            if each is not None:
                each()
            self.sync(1 / FPS)
            self.agent.step()
            self.locks.tick()
            self.clock.advance(1 / FPS)

    def of(self, type_: str, code: str | None = None) -> list[Event]:
        return [e for e in self.events if e.type == type_ and (code is None or e.data.get("code") == code)]

    def close(self) -> None:
        self.agent.stop()
        self.factory.reset()


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock):  # noqa: ANN201
    sites: list[Site] = []

    def make(**lock_over: Any) -> Site:
        s = Site(tmp_path, clock, **lock_over)
        sites.append(s)
        return s

    yield make
    for s in sites:
        s.close()


def test_a_presence_input_that_cannot_be_read_is_a_lost_sensor_not_the_end_of_the_agent(site, caplog):  # noqa: ANN001
    s = site()
    s.run(30)  # the empty bay, seen by the camera and the sensor, for longer than auto_raise_delay_s
    assert s.locks.state("A") == "up"
    failing = [True]

    def read_fails() -> bool:
        if failing[0]:
            raise OSError("GPIO chip gone")
        return False

    s.pin(PRESENCE)._get_state = read_fails  # the line's read fails from now on (chip reset, line released)
    s.run(60)  # the frame loop reads the sensor on every frame: it used to raise out of agent.step()
    assert s.locks.state("A") == "fault" and s.position == 0.0, "a lost sensor lowers the arm"
    assert len(s.of(EventType.LOCK_FAULT, "presence_unknown")) == 1
    assert s.agent.bus.states()["A"].state == "free", "the camera still judges the bay"
    assert s.locks.presence("A") is None and s.locks.status()["A"]["presence"] is None
    assert sum("presence sensor cannot be read" in r.getMessage() for r in caplog.records) == 1
    assert not s.locks.reset("A", "ops").ok, "a reset is refused while the sensor cannot be read"
    failing[0] = False
    s.run(1)
    assert s.locks.reset("A", "ops").ok
    s.run(30)
    assert s.locks.state("A") == "up", "readable again and reset: the policy raises the arm on fresh evidence"


DISAGREE_S = 60.0  # presence.disagree_s at its lowest, to keep the runs short


def faults(s: Site) -> list[Event]:
    return s.of(EventType.LOCK_FAULT, "presence_unknown")


def test_a_sensor_stuck_on_vehicle_under_an_empty_bay_is_a_fault_said_once(site):  # noqa: ANN001
    """A presence output stuck at "vehicle" (a cut wire on fail-safe wiring, snow on the sensor): the bay stayed
    occupied, an unidentified-vehicle violation opened on an empty bay, the arm stood for ever, and nothing said
    that the sensor and the camera disagreed."""
    s = site(presence={"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "clear",
                       "disagree_s": DISAGREE_S})
    s.run(30)
    assert s.locks.state("A") == "up" and not faults(s)
    s.pin(PRESENCE).drive_high()  # stuck at "vehicle"; the camera keeps seeing the bay empty
    s.run(DISAGREE_S - 5)
    assert not faults(s), "not before presence.disagree_s"
    assert s.agent.bus.states()["A"].state != "free", "until the fault the bay takes the sensor's word"
    s.run(DISAGREE_S)
    assert len(faults(s)) == 1 and "camera sees the bay empty" in faults(s)[0].data["message"]
    assert s.locks.state("A") == "fault" and s.position == 0.0
    s.run(3 * DISAGREE_S)
    assert len(faults(s)) == 1, "said once, not again at every tick"
    assert s.agent.bus.states()["A"].state == "free", "a sensor the lock judged unhealthy is no witness for the bay"
    assert not s.of(EventType.VIOLATION_STARTED)
    assert not s.locks.lock("A", "close the bay", "ops").ok


def test_presence_pin_active_the_wrong_way_round_is_found_at_commissioning(site):  # noqa: ANN001
    """pin_active: vehicle on a sensor wired fail-safe (its output conducts while the bay is clear): every empty
    minute reads "vehicle". The arm never rose and no event said why; now the disagreement latches a fault."""
    s = site(presence={"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "vehicle",
                       "disagree_s": DISAGREE_S})
    s.run(DISAGREE_S + 10)
    assert s.locks.state("A") == "fault" and len(faults(s)) == 1
    assert s.locks.reset("A", "ops").ok  # the sensor reads (it is not lost): a reset is allowed
    s.run(DISAGREE_S + 10)
    assert len(faults(s)) == 2, "after the reset the watch starts again"
    assert s.position == 0.0


def test_a_sensor_and_a_camera_that_both_see_a_car_are_no_disagreement(site):  # noqa: ANN001
    s = site(presence={"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "clear",
                       "disagree_s": DISAGREE_S})
    s.run(30)
    assert s.agent.unlock("A", "an NEV", "ops").ok
    s.run(2)
    s.src.next = render(Scene(cars=(Car(250, None),)))  # a car parks in bay A, over the lowered arm
    s.pin(PRESENCE).drive_high()
    s.run(3 * DISAGREE_S)
    assert s.agent.bus.states()["A"].state != "free" and not faults(s) and s.locks.state("A") == "down"


def test_a_presence_input_bouncing_every_few_ms_is_a_fault_said_once(site):  # noqa: ANN001
    """A presence line that bounces (a loose wire, a ground loop picking up the motor): each "vehicle" only
    restarted the free timer, so the arm stayed down for ever and no event said why; the bay opened visits on it."""
    s = site()
    s.run(30)
    assert s.agent.unlock("A", "an NEV", "ops").ok
    s.run(10)
    assert s.locks.state("A") == "down" and not faults(s)
    level = [False]

    def bounce() -> None:  # a change every 10 ms
        for _ in range(20):
            level[0] = not level[0]
            s.pin(PRESENCE).drive_high() if level[0] else s.pin(PRESENCE).drive_low()

    s.run(1, each=bounce)
    assert len(faults(s)) == 1 and "flapping" in faults(s)[0].data["message"]
    arrived = len(s.of(EventType.VEHICLE_ARRIVED))
    s.run(60, each=bounce)
    assert len(faults(s)) == 1, "said once"
    assert len(s.of(EventType.VEHICLE_ARRIVED)) == arrived, "the bouncing opens no visit once judged"
    assert s.locks.state("A") == "fault" and s.position == 0.0


def test_cars_coming_and_going_are_not_flapping(site):  # noqa: ANN001
    s = site()
    s.run(30)
    assert s.agent.unlock("A", "an NEV", "ops").ok
    for _ in range(5):  # a car over the lowered arm and off it again, five times in 10 s: ten changes
        s.pin(PRESENCE).drive_high()
        s.run(1)
        s.pin(PRESENCE).drive_low()
        s.run(1)
    assert not faults(s) and s.locks.state("A") == "down"


WITH_HEALTH = {"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "clear",
               "health_pin": {"pin": HEALTH, "pull_up": None, "active_high": True}}


def test_a_glitch_on_the_health_output_is_doubt_not_a_fault(site):  # noqa: ANN001
    """One blip on the sensor's "OK" line (a relay's spike) latched FAULT presence_unknown at once: the arm went
    down, and the bay stayed unguarded — also over restarts — until someone came to reset it. The blip refuses
    UP and stops a rise while it lasts; a health output that stays off presence.stale_s (1 s) is a lost sensor."""
    s = site(presence=WITH_HEALTH)
    s.run(30)
    assert s.locks.state("A") == "up" and s.position == 1.0
    s.pin(HEALTH).drive_low()
    s.pin(HEALTH).drive_high()
    s.run(5)
    assert not faults(s) and s.locks.state("A") == "up" and s.position == 1.0
    assert s.agent.unlock("A", "an NEV", "ops").ok
    s.run(2)
    s.pin(HEALTH).drive_low()  # off while a raise is asked for: refused, not raised
    res = s.agent.lock("A", "close the bay", "ops")
    assert not res.ok and res.data["code"] == "presence_unknown", res
    s.pin(HEALTH).drive_high()
    s.watch_free()  # the sensor's doubt broke the free watch: the bay seen free auto_raise_delay_s again, no fault
    assert s.agent.lock("A", "close the bay", "ops").ok
    s.run(0.4)
    assert s.pin(UP).state
    s.pin(HEALTH).drive_low()  # off during the rise: the motor stops on the edge, not at the next tick
    assert not s.pin(UP).state
    s.run(0.8)
    assert not faults(s)
    s.run(0.4)  # off for stale_s now: the sensor is lost
    assert [f.data["code"] for f in faults(s)] == ["presence_unknown"] and s.locks.state("A") == "fault"
    s.run(3)
    assert s.position == 0.0


def test_a_health_output_blinking_off_again_and_again_is_a_fault(site):  # noqa: ANN001
    """Each blink alone is too short to call the sensor lost; a line that keeps blinking is flapping."""
    s = site(presence=WITH_HEALTH)
    s.run(30)
    assert s.locks.state("A") == "up"

    def blink() -> None:
        s.pin(HEALTH).drive_low()
        s.pin(HEALTH).drive_high()

    s.run(3, each=blink)
    found = faults(s)
    assert len(found) == 1 and "flapping" in found[0].data["message"], found
    s.run(3)
    assert s.position == 0.0 and s.locks.state("A") == "fault"


def test_a_wrong_way_sensor_is_found_on_a_still_scene_with_long_key_frame_intervals(site):  # noqa: ANN001
    """The camera's decoded frames stay bit-identical between key frames 5 s apart (a still scene, a "smart"
    codec): the evidence of each repeat is stale after occupancy_max_age_s (3 s). Each such pause restarted the
    disagreement watch, so the sensor read "vehicle" under an empty bay for ever: the arm never rose and
    nothing said why, the case the watch is for. A pause in the camera's word is no word that the bay is taken."""
    from edge_agent.camera.source import Frame

    s = site(presence={"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "vehicle",
                       "disagree_s": DISAGREE_S})

    keys: dict[int, np.ndarray] = {}

    def latest() -> Frame:
        s.src.seq += 1
        key = int(s.clock.monotonic() // 5.0)  # a new key frame every 5 s, its sensor noise over the whole picture
        if key not in keys:
            noise = np.random.default_rng(key).integers(-2, 3, s.src.next.shape)
            keys.clear()
            keys[key] = np.clip(s.src.next.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        return Frame(keys[key].copy(), s.src.seq, s.clock.monotonic())

    s.src.latest = latest
    s.run(2 * DISAGREE_S)
    assert s.agent.health.health().ok
    assert s.locks.state("A") == "fault" and len(faults(s)) == 1
