"""A test rig: one bay with one lock, on gpiozero's MockFactory or on the simulator driver.

Both kinds share the simulator's :class:`Arm` as the physical lock: for ``gpio`` the rig
reads the motor output pins of the MockFactory, moves the arm, and drives the limit
switch / presence pins from it (so the code under test sees only pins); for ``sim`` the
arm is the driver's own. ``rig.violations`` collects every moment the UP output was
active while a vehicle was possible — every test ends by asserting it is empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.bays.feed import BayFeed
from edge_agent.clock import FakeClock, iso
from edge_agent.config.load import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, BayVision, Event, EventType
from edge_agent.locks import build_locks
from edge_agent.locks.latches import Latches, LatchFile
from edge_agent.locks.simulator import Arm

BAY = "B1"
UP, DOWN, SW_DOWN, SW_UP, PRESENCE, HEALTH, WARN = 17, 27, 5, 6, 13, 19, 26
NEV_PLATE = "粤B12345D"  # NEV-looking plate (the bay stage decides; here it is just data)
FUEL_PLATE = "粤B1234X"
TICK_SLACK_S = 0.25  # staleness is judged on the lock's tick: the rig's longest step


def gpio_lock(**over: Any) -> dict:
    d = {
        "id": "L1", "bay": BAY, "driver": "gpiozero",
        "motor": {"kind": "relays", "up": {"pin": UP}, "down": {"pin": DOWN}},
        "switches": {"down": {"pin": SW_DOWN}, "up": {"pin": SW_UP}},
        "presence": {"kind": "digital", "pin": {"pin": PRESENCE, "pull_up": None, "active_high": True},
                     "health_pin": {"pin": HEALTH, "pull_up": None, "active_high": True}},
        "warning": {"pin": WARN},
        "simulator": {"travel_time_s": 3.0},
    }
    d.update(over)
    return d


def sim_lock(**over: Any) -> dict:
    d = {"id": "L1", "bay": BAY, "driver": "simulator", "simulator": {"travel_time_s": 3.0}}
    d.update(over)
    return d


def agent_config(lock: dict) -> Any:
    return parse_config({
        "site": {"site_id": "s1", "device_id": "d1"},
        "camera": {"source": "0"},
        "bays": [{"id": BAY, "polygon": [[0, 0], [100, 0], [100, 100]]}],
        # the rig measures at every step (≤ 0.25 s): its tests may then set occupancy_max_age_s 1 s
        "occupancy": {"classify_every_s": 0.5},
        "locks": [lock],
    })


class Rig:
    def __init__(self, kind: str, clock: FakeClock, position: float = 1.0, bay_state: str | None = "free",
                 start: bool = True, latches_at: Path | None = None, boot_id: str | None = None,
                 **lock_over: Any) -> None:
        self.kind, self.clock = kind, clock
        self.latches_at = latches_at  # the agent's lock-latches.json; None: faults kept in memory only
        self.boot_id = boot_id  # the boot the clock's monotonic time counts in (None: not known); a test's to change
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self.violations: list[str] = []
        self._both_since: float | None = None
        self.visit = 0
        self.factory = MockFactory() if kind == "gpio" else None
        lock = gpio_lock(**lock_over) if kind == "gpio" else sim_lock(**lock_over)
        self.cfg = agent_config(lock)
        self.lock_cfg = self.cfg.locks[0]
        # the camera's evidence, as the bay monitor would publish it: measured every step while
        # ``measuring``; ``see()`` changes what it says
        self.feed = BayFeed()
        self.measuring, self.vision_code, self.confident, self.p_occupied = True, "ok", True, None
        self.occupied = False  # what the measurement itself says (before the bay state confirms it)
        self.changed = False  # the bay differs from its empty picture (``BayVision.changed``: rule bay_changed)
        self.measured_at: float | None = None
        self.measure()
        if bay_state is not None:
            self.bay(bay_state, check=False)
        self.manager = self.build()
        driver = self.manager.driver(BAY)
        self.arm: Arm = driver.arm if kind == "sim" else Arm(clock, 3.0)
        self.arm.position = position
        if start:
            self.start()

    def build(self):  # noqa: ANN201 - LockManager
        """The lock stage as the agent builds it; with ``latches_at``, reading what the last run saved."""
        latches = LatchFile.open(self.latches_at, [lk.id for lk in self.cfg.locks], self.clock, self.boot_id) \
            if self.latches_at is not None else Latches(self.clock, self.boot_id)
        return build_locks(self.cfg, self.bus, self.clock, pin_factory=self.factory, vision=self.feed,
                           latches=latches)

    def start(self) -> None:
        self.sync()
        self.manager.start()
        self.sync()

    def restart(self, killed: bool = False) -> None:
        """Process death and restart: drivers closed (``killed``: nothing closed them, SIGKILL), a new manager
        finds the arm where it is."""
        if not killed:
            self.manager.stop()
        if self.factory is not None:
            self.factory.reset()
        self.manager = self.build()
        if self.kind == "sim":
            self.manager.driver(BAY).arm = self.arm
        self.start()

    # -- physics <-> pins --------------------------------------------------------------------
    def pin(self, n: int):  # noqa: ANN201 - gpiozero MockPin
        return self.factory.pin(n)

    def _level(self, n: int, high: bool) -> None:
        p = self.pin(n)
        p.drive_high() if high else p.drive_low()

    def sync(self) -> None:
        """Move the arm per the motor outputs; drive the input pins from the arm (gpio only)."""
        if self.kind != "gpio":
            self.arm.update()
            return
        for _ in range(5):
            up, down = self.pin(UP).state, self.pin(DOWN).state
            self.arm.set_drive("up" if up and not down else "down" if down and not up else None)
            sw, p = self.arm.switches(), self.arm.presence()
            self._level(SW_DOWN, not sw.down)  # switch to ground with pull-up: active = LOW
            self._level(SW_UP, not sw.up)
            self._level(HEALTH, p is not None)
            self._level(PRESENCE, bool(p))
            if (self.pin(UP).state, self.pin(DOWN).state) == (up, down):
                break

    def up_active(self) -> bool:
        if self.kind == "gpio":
            return bool(self.pin(UP).state)
        return self.arm.moving == "up"

    def down_active(self) -> bool:
        if self.kind == "gpio":
            return bool(self.pin(DOWN).state)
        return self.arm.moving == "down"

    def warning_on(self) -> bool:
        if self.kind == "gpio":
            return bool(self.pin(WARN).state)
        return self.manager.driver(BAY).warning_on

    def vehicle_possible(self) -> str | None:
        """The ground truth the test knows: anything that says a car may be over the arm."""
        if self.arm.vehicle:
            return "vehicle over the arm"
        if self.arm.presence_lost:
            return "presence sensor lost"
        st = self.bus.states().get(BAY)
        if st is None or st.state != "free" or not st.camera_ok:
            return f"bay {st.state if st else 'unknown'}"
        if st.visit_id is not None:
            return "bay in a visit"
        v = self.feed.vision(BAY)
        if v is None or v.vision != "ok":
            return f"vision {v.vision if v else 'none'}"
        if v.measured_at is None or self.clock.monotonic() - v.measured_at > self.lock_cfg.occupancy_max_age_s \
                + TICK_SLACK_S:
            return "occupancy not measured recently"
        if v.occupied is not False:
            return "the camera sees something in the bay"
        if not v.confident or (v.p_occupied is not None and not 0.0 <= v.p_occupied < 0.5):
            return "occupancy unsure"
        return None

    def observe(self, what: str = "") -> None:
        now = self.clock.monotonic()
        why = self.vehicle_possible()
        if why and self.up_active():
            self.violations.append(f"t={now:.1f} UP active while {why} ({what})")
        sw = self.arm.switches()
        if not (sw.down and sw.up):
            self._both_since = None
            return
        self._both_since = now if self._both_since is None else self._both_since
        # both switches may be a bounce for switch_debounce_s; held longer, the motor must be off by the next tick
        if self.arm.drive is not None and now - self._both_since > self.lock_cfg.switch_debounce_s + 0.25:
            self.violations.append(f"t={now:.1f} motor {self.arm.drive} with both switches active ({what})")

    # -- time --------------------------------------------------------------------------------------
    def step(self, seconds: float = 0.1, dt: float = 0.1) -> None:
        n = max(1, round(seconds / dt))
        for _ in range(n):
            self.clock.advance(dt)
            self.sync()
            if self.measuring:
                self.measure()
            self.observe("before tick")
            self.manager.tick()
            self.sync()
            self.observe("after tick")

    def watch_free(self, dt: float = 0.1) -> None:
        """Let the lock see the bay empty, confidently, for ``auto_raise_delay_s`` on end — what every raise needs,
        a remote ``lock`` too (probe review74) — so that a test's command may raise the arm.

        The camera keeps publishing fresh readings of what the rig says (it must say empty, confidently) and the
        lock ticks as its thread does, up to the instant the wait ends (the controller's ``free_since``, or a
        tamper's time, plus the delay); the test's command comes at that instant, before that instant's tick. With
        the arm down in automatic mode the policy's own raise falls due then too: the next ``step`` raises it, as a
        real lock would, unless the command did. Nothing is waited where nothing is owed (a bay seen free all
        along, an arm up)."""
        assert self.measuring and self.vision_code == "ok" and self.confident and self.occupied is False \
            and not self.changed and (self.p_occupied is None or self.p_occupied < 0.5), \
            "watch_free: the rig's camera must say the bay is empty, confidently"
        steps = 0
        while (left := self.manager._unit(BAY).controller._unwatched_left()) is not None:
            steps += 1
            assert steps < 2 * self.lock_cfg.auto_raise_delay_s / dt + 10, "watch_free: the wait never ended"
            if left > dt + 1e-6:
                self.step(dt)
                continue
            self.clock.advance(left + 1e-6)  # the last stretch: a fresh reading, the command before the tick
            self.sync()
            self.measure()
            self.observe("watched free")

    # -- the bay stage's side ----------------------------------------------------------------------
    def measure(self) -> None:
        """Publish the camera's evidence now (a fresh measurement while ``measuring``)."""
        if self.measuring:
            self.measured_at = self.clock.monotonic()
        self.feed.publish_vision(BAY, BayVision(self.measured_at, self.p_occupied, self.occupied, self.confident,
                                                self.vision_code, changed=self.changed))

    def see(self, vision: str | None = None, confident: bool | None = None, measuring: bool | None = None,
            p_occupied: float | None | str = "keep", occupied: bool | None = None) -> None:
        """Change what the camera's evidence says (``measuring=False``: no new measurement: it goes stale)."""
        if vision is not None:
            self.vision_code = vision
        if confident is not None:
            self.confident = confident
        if measuring is not None:
            self.measuring = measuring
        if occupied is not None:
            self.occupied = occupied
        if p_occupied != "keep":
            self.p_occupied = p_occupied  # type: ignore[assignment]
        self.measure()
        self.sync()
        self.observe(f"vision {self.vision_code} confident={self.confident} measuring={self.measuring}")

    def bay(self, state: str, camera_ok: bool = True, check: bool = True, visit_open: bool = False) -> None:
        if (state == "occupied" or visit_open) and (st := self.bus.states().get(BAY)) and st.state == "free" \
                and st.visit_id is None:
            self.visit += 1
        visit = f"v{self.visit}" if state != "free" or visit_open else None
        self.bus.publish_state(BayState(BAY, state, since=iso(self.clock.now()), visit_id=visit, camera_ok=camera_ok))
        if check:
            self.sync()
            self.observe(f"bay {state}")

    def event(self, type_: str, **data: Any) -> None:
        self.bus.publish(Event.make(type_, self.clock, bay_id=BAY, visit_id=f"v{self.visit}", data=data))
        self.sync()
        self.observe(type_)

    def vehicle_arrives(self, plate: str, nev: bool | None, over_arm: bool = False) -> None:
        self.bay("occupied")
        if over_arm:
            self.set_vehicle(True)
        self.event(EventType.VEHICLE_ARRIVED)
        self.event(EventType.VEHICLE_IDENTIFIED, plate=plate, nev=nev, reason="test")

    def vehicle_leaves(self) -> None:
        self.set_vehicle(False)
        self.event(EventType.VEHICLE_DEPARTED)
        self.bay("free")

    # -- faults (through the arm: pins follow in sync) -----------------------------------------
    def set_vehicle(self, present: bool) -> None:
        self.arm.set_vehicle(present)
        self.sync()
        self.observe("vehicle over arm" if present else "vehicle gone")

    def inject(self, name: str, *args: Any) -> None:
        getattr(self.arm, name)(*args)
        self.sync()
        self.observe(name)

    # -- assertions ----------------------------------------------------------------------------------
    def of(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]

    @property
    def state(self) -> str | None:
        return self.manager.state(BAY)

    def safe(self) -> None:
        """The common ending of every fault test: no unsafe UP ever, arm down or motor stopped."""
        assert not self.violations, self.violations
        assert not self.up_active()
        assert self.arm.position <= 1e-6 or self.arm.drive is None

    def close(self) -> None:
        self.manager.stop()
        if self.factory is not None:
            self.factory.reset()


@pytest.fixture(params=["gpio", "sim"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_rig(clock: FakeClock):  # noqa: ANN201
    rigs: list[Rig] = []

    def make(kind: str, **kw: Any) -> Rig:
        r = Rig(kind, clock, **kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()
