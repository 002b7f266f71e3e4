"""Drivers on their own: pin levels and factories (gpiozero), Jetson.GPIO wiring, clear errors."""

from __future__ import annotations

import time
import types

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin, MockTriggerPin

from edge_agent.bays.feed import BayFeed
from edge_agent.clock import FakeClock
from edge_agent.config.load import parse_config
from edge_agent.config.locks import LockConfig
from edge_agent.events.bus import EventBus
from edge_agent.events.types import EventType
from edge_agent.locks import build_locks
from edge_agent.locks.driver import DriverUnavailable, make_driver
from edge_agent.locks.gpiozero_driver import GpiozeroLock
from edge_agent.locks.jetson_driver import JetsonLock, load_jetson_gpio
from edge_agent.locks.simulator import HISTORY_KEPT, Arm, SimulatedLock
from tests.locks.conftest import BAY, DOWN, HEALTH, PRESENCE, SW_DOWN, SW_UP, UP, WARN, agent_config, gpio_lock


@pytest.fixture
def factory():  # noqa: ANN201
    f = MockFactory()
    yield f
    f.reset()


class RecordingPin(MockPin):
    """A MockPin that appends every state change to a log shared by several pins (ordering)."""

    def __init__(self, factory, info, log: list) -> None:  # noqa: ANN001
        self.log = log
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed:
            self.log.append((self.info.name, value))
        return changed


def test_active_low_relays_idle_high_and_break_before_make(factory, clock):
    log: list = []
    up_pin = factory.pin(UP, pin_class=RecordingPin, log=log)
    down_pin = factory.pin(DOWN, pin_class=RecordingPin, log=log)
    cfg = LockConfig.model_validate(gpio_lock(motor={
        "kind": "relays", "up": {"pin": UP, "active_high": False}, "down": {"pin": DOWN, "active_high": False}}))
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        assert up_pin.state and down_pin.state  # relay inputs HIGH = relays off
        lock.motor_up()
        assert (up_pin.state, down_pin.state) == (False, True) and lock.motor == "up"
        lock.motor_down()
        assert (up_pin.state, down_pin.state) == (True, False) and lock.motor == "down"
        lock.motor_up()
        lock.motor_stop()
        assert lock.motor is None
    # replay every change in order: both relays (active LOW) are never on together
    level = {"GPIO17": True, "GPIO27": True}
    for name, value in log[2:]:  # after both outputs were set up HIGH
        level[name] = value
        assert level["GPIO17"] or level["GPIO27"], log
    up_pin.assert_states([False, True, False, True, False, True])  # input, idle, up, stop…
    assert Device.pin_factory is None  # the driver never sets the global factory


def test_hbridge_enable_line_follows_the_motor(factory, clock):
    cfg = LockConfig.model_validate(gpio_lock(motor={
        "kind": "hbridge", "up": {"pin": UP}, "down": {"pin": DOWN}, "enable": {"pin": 22}}))
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        lock.motor_down()
        assert factory.pin(22).state and factory.pin(DOWN).state
        lock.motor_stop()
        factory.pin(22).assert_states([False, True, False])


def test_inputs_switches_presence_health_and_warning(factory, clock):
    cfg = LockConfig.model_validate(gpio_lock())
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        factory.pin(SW_DOWN).drive_low()  # switch closed to ground → active
        factory.pin(SW_UP).drive_high()
        assert lock.read_switches().position == "down"
        factory.pin(HEALTH).drive_high()
        factory.pin(PRESENCE).drive_high()
        assert lock.read_presence() is True
        factory.pin(HEALTH).drive_low()  # module reports a fault → reading unknown
        assert lock.read_presence() is None
        seen = []
        lock.on_input_change(lambda: seen.append(1))
        factory.pin(SW_UP).drive_low()
        assert seen and lock.read_switches().position == "both"
        lock.set_warning(True)
        assert factory.pin(WARN).state
    assert not factory.pin(WARN).state  # close() switches outputs off


def test_fail_safe_presence_wiring_reads_a_cut_wire_as_a_vehicle(factory, clock):
    """The wiring guide's fail-safe sensor: its output conducts to ground while the bay is clear, on the
    Pi's internal pull-up. With ``pin_active: vehicle`` (the default) an open wire would read "clear"."""
    cfg = LockConfig.model_validate(gpio_lock(presence={"kind": "digital", "pin": {"pin": PRESENCE},
                                                        "pin_active": "clear"}))
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        assert lock.read_presence() is True  # nothing drives the pin: the pull-up, as with a cut wire
        factory.pin(PRESENCE).drive_low()  # the sensor's output conducts: bay clear
        assert lock.read_presence() is False
        factory.pin(PRESENCE).drive_high()  # it lets go: a vehicle (or the wire was cut)
        assert lock.read_presence() is True
    default = LockConfig.model_validate(gpio_lock(presence={"kind": "digital", "pin": {"pin": PRESENCE}}))
    factory.reset()
    with GpiozeroLock(default, clock, pin_factory=factory) as lock:
        assert lock.read_presence() is False  # the same cut wire, read the default way


def test_pin_active_is_refused_for_an_ultrasonic_sensor():
    with pytest.raises(ValueError, match="pin_active is a digital sensor's setting"):
        LockConfig.model_validate(gpio_lock(presence={"kind": "ultrasonic", "trigger": 5, "echo": 6,
                                                      "pin_active": "clear"}))


@pytest.mark.filterwarnings("ignore::gpiozero.PWMSoftwareFallback")
def test_ultrasonic_presence_and_lost_echo(factory):
    clock = FakeClock()
    cfg = LockConfig.model_validate(gpio_lock(presence={
        "kind": "ultrasonic", "trigger": 23, "echo": 24, "threshold_m": 0.5, "max_distance_m": 2.0}))
    echo = factory.pin(24)
    trig = factory.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=0.002)  # ≈ 0.34 m
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:

        def wait_for(value: bool | None, timeout: float = 10.0) -> None:
            # the DistanceSensor samples in its own (real-time) thread: poll with a timeout
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if value is None:
                    clock.advance(1.1)
                if lock.read_presence() is value:
                    return
                time.sleep(0.02)
            pytest.fail(f"presence never became {value}")

        wait_for(True)
        trig.echo_time = 0.008  # ≈ 1.4 m: nothing over the arm
        wait_for(False)
        trig.echo_pin = factory.pin(25)  # echo wire cut
        wait_for(None)


@pytest.mark.filterwarnings("ignore::gpiozero.PWMSoftwareFallback", "ignore::gpiozero.DistanceSensorNoEcho")
def test_an_ultrasonic_sensor_that_hears_no_echo_reads_clear_so_its_clear_is_no_shown_one(factory):
    """An HC-SR04 that hears nothing back (its receiver dead or iced, knocked to aim at the sky, a car's sloped
    underside bouncing the ping away) still answers: its echo line high for its timeout, 38 ms — read at
    ``max_distance_m``, "clear", the sensor healthy. So its "clear" is what its acoustic path says when it fails, not
    only a module's no-answer ("lost"): the last run's record of a car is no witness at the restart (it is once the
    sensor has reported the car in this run). Until probe review103 it counted as a fail-safe sensor's."""
    clock = FakeClock()
    cfg = LockConfig.model_validate(gpio_lock(presence={
        "kind": "ultrasonic", "trigger": 23, "echo": 24, "threshold_m": 0.5, "max_distance_m": 2.0}))
    echo = factory.pin(24)
    factory.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=0.038)  # the sensor's no-echo timeout pulse
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        end = time.monotonic() + 10.0  # the DistanceSensor samples in its own (real-time) thread: poll with a timeout
        while lock.read_presence() is None and time.monotonic() < end:
            time.sleep(0.02)
        assert lock.read_presence() is False, "a sensor that hears nothing reads 'clear', healthy"
    assert not cfg.presence_clear_is_shown()


@pytest.mark.filterwarnings("ignore::gpiozero.PWMSoftwareFallback")
def test_ultrasonic_sensor_is_not_lost_before_its_first_echo_is_due(factory):
    """gpiozero samples an HC-SR04 ~0.07 s after opening it, after the lock stage has started: that
    start latched (and saved) FAULT presence_unknown, so every restart needed an operator's reset.
    Until ``stale_s`` has passed the sensor is unknown (UP refused), not lost; then it is lost."""
    clock = FakeClock()
    cfg = agent_config(gpio_lock(presence={"kind": "ultrasonic", "trigger": 23, "echo": 24, "stale_s": 1.0}))
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    feed = BayFeed()
    manager = build_locks(cfg, bus, clock, pin_factory=factory, vision=feed)  # trigger wired to nothing: no echo
    try:
        factory.pin(SW_DOWN).drive_low()  # the arm rests on its down switch
        manager.start()
        assert manager.status()[BAY]["fault"] is None and manager.state(BAY) == "down"
        res = manager.lock(BAY, "close the bay", "ops")
        assert not res.ok and res.data["code"] == "presence_unknown"
        clock.advance(1.1)  # stale_s without a single echo: the sensor is lost
        manager.tick()
        assert manager.status()[BAY]["fault"] == "presence_unknown"
        assert [e.data["code"] for e in events if e.type == EventType.LOCK_FAULT] == ["presence_unknown"]
    finally:
        manager.stop()


@pytest.mark.filterwarnings("ignore::gpiozero.PinFactoryFallback")
def test_gpiozero_without_gpio_is_a_clear_error(clock):
    cfg = LockConfig.model_validate(gpio_lock())
    with pytest.raises(DriverUnavailable, match="no GPIO here"):
        make_driver(cfg, clock)  # no pin_factory, no Pi: gpiozero finds no pin library
    assert Device.pin_factory is None


class FakeJetsonGPIO(types.SimpleNamespace):
    """Records what the driver asks of Jetson.GPIO (no Jetson here); levels by BOARD pin."""

    BOARD, IN, OUT, HIGH, LOW, BOTH = "BOARD", "in", "out", 1, 0, "both"

    def __init__(self) -> None:
        super().__init__(mode=None, levels={}, setups={}, events=[], cleaned=None)

    def setwarnings(self, flag: bool) -> None: ...

    def setmode(self, mode: str) -> None:
        self.mode = mode

    def setup(self, ch: int, direction: str, initial: int | None = None) -> None:
        self.setups[ch] = direction
        if initial is not None:
            self.levels[ch] = initial

    def output(self, ch: int, level: int) -> None:
        assert self.setups[ch] == self.OUT
        self.levels[ch] = level

    def input(self, ch: int) -> int:
        return self.levels.get(ch, self.LOW)

    def add_event_detect(self, ch: int, edge: str, callback) -> None:  # noqa: ANN001
        self.events.append((ch, edge, callback))

    def cleanup(self, channels: list[int]) -> None:
        self.cleaned = list(channels)


def test_jetson_driver_uses_board_numbers_and_levels():
    cfg = LockConfig.model_validate({
        "id": "J1", "driver": "jetson",
        "motor": {"up": {"pin": 31, "active_high": False}, "down": {"pin": 33, "active_high": False}},
        "switches": {"down": {"pin": 29, "pull_up": None, "active_high": False},
                     "up": {"pin": 32, "pull_up": None, "active_high": False}},
        "presence": {"pin": {"pin": 35, "pull_up": None, "active_high": True}},
        "warning": {"pin": 37},
    })
    g = FakeJetsonGPIO()
    lock = JetsonLock(cfg, gpio=g)
    assert g.mode == "BOARD" and g.levels[31] == g.HIGH and g.levels[33] == g.HIGH  # active-low relays off
    lock.motor_up()
    assert (g.levels[31], g.levels[33], lock.motor) == (g.LOW, g.HIGH, "up")
    g.levels[29], g.levels[32] = g.HIGH, g.LOW  # up switch closed (active low)
    assert lock.read_switches().position == "up"
    g.levels[35] = g.HIGH
    assert lock.read_presence() is True
    assert lock.has_presence and lock.has_warning
    fail_safe = JetsonLock(cfg.model_copy(update={"presence": cfg.presence.model_copy(update={"pin_active": "clear"})}),
                           gpio=g)
    assert fail_safe.read_presence() is False  # the same HIGH means "clear" on a sensor wired fail-safe
    g.levels[35] = g.LOW
    assert fail_safe.read_presence() is True
    lock.on_input_change(lambda: None)
    assert {ch for ch, _, _ in g.events} == {29, 32, 35}
    lock.close()
    assert g.levels[31] == g.HIGH and sorted(g.cleaned) == [29, 31, 32, 33, 35, 37]


def test_jetson_health_output_off_is_pending_then_lost():
    """As on the Pi: the health output off is "unknown" at once and a lost sensor after presence.stale_s."""
    cfg = LockConfig.model_validate({
        "id": "J1", "driver": "jetson",
        "motor": {"up": {"pin": 31}, "down": {"pin": 33}},
        "switches": {"down": {"pin": 29, "pull_up": None, "active_high": False},
                     "up": {"pin": 32, "pull_up": None, "active_high": False}},
        "presence": {"pin": {"pin": 35, "pull_up": None, "active_high": True},
                     "health_pin": {"pin": 36, "pull_up": None, "active_high": True}, "stale_s": 1.0},
    })
    g, clock = FakeJetsonGPIO(), FakeClock()
    lock = JetsonLock(cfg, gpio=g, clock=clock)
    g.levels[36], g.levels[35] = g.HIGH, g.LOW
    assert lock.read_presence() is False and not lock.presence_pending
    g.levels[36] = g.LOW
    assert lock.read_presence() is None and lock.presence_pending
    clock.advance(1.0)
    assert lock.read_presence() is None and not lock.presence_pending  # off for stale_s: lost
    g.levels[36] = g.HIGH
    assert lock.read_presence() is False and not lock.presence_pending


def test_jetson_gpio_missing_is_a_clear_error():
    with pytest.raises(DriverUnavailable, match="Jetson.GPIO"):
        load_jetson_gpio()


def test_jetson_gpio_raising_at_import_is_a_clear_error(tmp_path, monkeypatch):
    pkg = tmp_path / "Jetson" / "GPIO"
    pkg.mkdir(parents=True)
    (tmp_path / "Jetson" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("raise RuntimeError('Could not determine Jetson model')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DriverUnavailable, match="cannot run on this machine: Could not determine Jetson model"):
        load_jetson_gpio()


def test_a_simulated_arm_keeps_a_bounded_history(clock):
    """Every drive change went into ``Arm.history`` for as long as the lock ran: two per stroke, so a demo stand
    or a site trialled on ``driver: simulator`` kept each one it ever made. The last ``HISTORY_KEPT`` stay."""
    lock = SimulatedLock(Arm(clock, travel_time_s=1.0))
    for _ in range(HISTORY_KEPT):  # a stroke each way: four changes
        lock.motor_up()
        clock.advance(1.0)
        lock.motor_stop()
        lock.motor_down()
        clock.advance(1.0)
        lock.motor_stop()
    assert len(lock.arm.history) == HISTORY_KEPT
    assert lock.arm.history[-1] == (clock.monotonic(), None) and lock.read_switches().down


class FailingPin(MockPin):
    """A MockPin whose writes fail once ``broken`` is set (a line on a GPIO expander gone, an I/O error)."""

    broken = False

    def _change_state(self, value: bool) -> bool:
        if self.broken:
            raise OSError("GPIO write failed")
        return super()._change_state(value)


def test_close_switches_the_motor_off_when_another_output_fails(factory, clock):
    """``close`` switched the outputs off one after the other, the warning light's first: its write failing left the
    motor line on, an arm driven with no agent watching its switches (probe review97)."""
    warn = factory.pin(WARN, pin_class=FailingPin)
    cfg = LockConfig.model_validate(gpio_lock(motor={
        "kind": "hbridge", "up": {"pin": UP}, "down": {"pin": DOWN}, "enable": {"pin": 22}}))
    lock = GpiozeroLock(cfg, clock, pin_factory=factory)
    lock.motor_down()
    warn.broken = True
    with pytest.raises(OSError):
        lock.close()  # said: the caller logs it
    assert not factory.pin(DOWN).state and not factory.pin(22).state, "the motor line was left on"


def test_motor_stop_switches_both_lines_off_when_the_enable_write_fails(factory, clock):
    """``motor_stop`` wrote the enable line first and stopped at its failure: both direction lines stayed as they were,
    the H-bridge driving on with its enable stuck on (probe review97). Each line is written on its own now."""
    enable = factory.pin(22, pin_class=FailingPin)
    cfg = LockConfig.model_validate(
        gpio_lock(motor={"kind": "hbridge", "up": {"pin": UP}, "down": {"pin": DOWN}, "enable": {"pin": 22}})
    )
    with GpiozeroLock(cfg, clock, pin_factory=factory) as lock:
        lock.motor_down()
        enable.broken = True
        with pytest.raises(OSError):
            lock.motor_stop()  # said: the interlock faults the lock
        assert not factory.pin(DOWN).state and not factory.pin(UP).state, "a direction line was left on"
        enable.broken = False


def test_jetson_close_switches_every_output_off_and_releases_every_line_when_one_write_fails():
    """The agent's stop closes the driver. A motor line write failing there (an I/O error on the GPIO chip) raised out
    of ``motor_stop`` before the warning output was switched off and before any line was released: the lines stayed
    outputs at their last levels (the warning on) with no agent watching. As the gpiozero driver since probe
    review97: every output off on its own, every line released, the first failure raised after (probe locks45)."""
    cfg = LockConfig.model_validate({
        "id": "J1", "driver": "jetson",
        "motor": {"up": {"pin": 31, "active_high": False}, "down": {"pin": 33, "active_high": False}},
        "switches": {"down": {"pin": 29, "pull_up": None, "active_high": False},
                     "up": {"pin": 32, "pull_up": None, "active_high": False}},
        "warning": {"pin": 37},
    })
    g = FakeJetsonGPIO()
    lock = JetsonLock(cfg, gpio=g)
    lock.set_warning(True)
    write = g.output

    def failing(ch: int, level: int) -> None:
        if ch == 31:
            raise OSError(5, "Input/output error")
        write(ch, level)

    g.output = failing
    with pytest.raises(OSError, match="Input/output error"):
        lock.close()
    assert g.levels[37] == g.LOW, "the warning output was left on"
    assert g.levels[33] == g.HIGH  # the other motor line off (active-low relay)
    assert g.cleaned is not None and sorted(g.cleaned) == [29, 31, 32, 33, 37], "lines left claimed"


def test_a_lock_that_cannot_be_built_still_closes_every_lock_built_before_it(factory, clock, monkeypatch):  # noqa: ANN001
    """The start builds the locks in order and closes those built when one cannot be: the first's close raising (a
    write failing on its warning line) skipped every lock after it, which kept its lines as outputs, and the error
    said was that write's, not the one line naming the lock that could not be built (``run`` says it and exits 2).
    Each is closed on its own now, the failure logged (probe review105; as ``LockManager.stop`` since review97)."""
    import edge_agent.locks.manager as manager_mod

    warn = factory.pin(WARN, pin_class=FailingPin)
    second = {"up": 20, "down": 21, "sw_down": 22, "sw_up": 23}
    cfg = parse_config({
        "site": {"site_id": "s1", "device_id": "d1"},
        "camera": {"source": "0"},
        "bays": [{"id": b, "polygon": [[x, 0], [x + 90, 0], [x + 90, 100]]} for x, b in ((0, "A"), (100, "B"), (200, "C"))],
        "occupancy": {"classify_every_s": 0.5},
        "locks": [
            {**gpio_lock(id="L1", bay="A"), "presence": None},
            {**gpio_lock(id="L2", bay="B", warning=None, presence=None,
                         motor={"kind": "relays", "up": {"pin": second["up"]}, "down": {"pin": second["down"]}},
                         switches={"down": {"pin": second["sw_down"]}, "up": {"pin": second["sw_up"]}})},
            {"id": "L3", "bay": "C", "driver": "simulator"},
        ],
    })
    built = manager_mod.make_driver

    def third_unavailable(lk: LockConfig, *args: object, **kw: object) -> object:
        if lk.id == "L3":
            warn.broken = True  # L1's warning line gone: its close raises
            raise DriverUnavailable("no such driver here")
        return built(lk, *args, **kw)

    monkeypatch.setattr(manager_mod, "make_driver", third_unavailable)
    feed = BayFeed()
    with pytest.raises(DriverUnavailable, match=r"locks\[2\]\.driver"):
        build_locks(cfg, EventBus(), clock, pin_factory=factory, vision=feed)
    assert all(factory.pin(p).function == "input" for p in second.values()), "L2's lines were left claimed"
    warn.broken = False
