"""The simulator's fault script (config) and run-time faults (``sim/…``): every interlock rule reacts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from edge_agent.clock import iso
from edge_agent.config.load import ConfigError, parse_config
from edge_agent.control import ControlError
from edge_agent.events.command_handler import Command, CommandHandler, sign_command
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.topics import Topics
from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, Rig, gpio_lock, sim_lock


def _script(*steps: dict) -> dict:
    return {"travel_time_s": 2.0, "script": list(steps)}


def test_scripted_presence_blocks_the_raise_until_it_clears(clock):
    rig = Rig("sim", clock, position=0.0, simulator=_script(
        {"at_s": 1, "action": "presence", "state": "vehicle"}, {"at_s": 3, "action": "presence", "state": "clear"}))
    rig.step(2.0)
    d = rig.manager.lock(BAY, "test", "tester")
    assert not d.ok and d.data["code"] == "vehicle_present"
    rig.step(2.0)
    rig.watch_free()  # clear from 3 s: seen free for auto_raise_delay_s since, as every raise needs (review74)
    assert rig.manager.lock(BAY, "test", "tester").ok
    rig.step(2.5)
    assert rig.state == "up"
    rig.safe()


def test_scripted_presence_during_a_rise_sends_the_arm_down(clock):
    # 1 s into the rise, which comes once the bay was watched free for auto_raise_delay_s (30 s, review74)
    rig = Rig("sim", clock, position=0.0, simulator=_script({"at_s": 31.0, "action": "presence", "state": "vehicle"}))
    rig.watch_free()
    assert rig.manager.lock(BAY, "test", "tester").ok
    rig.step(3.0)
    refused = rig.of(EventType.LOCK_REFUSED)
    assert refused and refused[-1].data["code"] == "vehicle_present"
    assert rig.state == "down"
    rig.safe()


def test_scripted_stall_ends_in_a_motor_timeout_fault(clock):
    rig = Rig("sim", clock, position=0.0, simulator=_script({"at_s": 0.5, "action": "stall"}))
    rig.step(1.0)
    rig.watch_free()
    assert rig.manager.lock(BAY, "test", "tester").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert rig.state == "fault"
    assert rig.of(EventType.LOCK_FAULT)[0].data["code"] == "motor_timeout"
    assert not rig.manager.lock(BAY, "again", "tester").ok  # a fault needs a reset
    rig.safe()


def test_power_loss_mid_move_then_restored_and_reset(clock):
    rig = Rig("sim", clock, position=0.0, simulator=_script(
        {"at_s": 31.0, "action": "power-loss"}, {"at_s": 42.0, "action": "power-loss", "on": False}))
    rig.watch_free()  # the rise comes after auto_raise_delay_s (30 s) of the bay seen free: the script 30 s later
    assert rig.manager.lock(BAY, "test", "tester").ok
    rig.step(1.5)
    stopped_at = rig.arm.position
    assert 0 < stopped_at < 1
    rig.step(rig.lock_cfg.motor_timeout_s)
    assert rig.state == "fault" and rig.arm.position == pytest.approx(stopped_at)
    rig.step(8.0)  # power back at 12 s: the reset lowers the arm to the safe end
    assert rig.manager.reset(BAY, "tester").ok
    rig.step(2.5)
    assert rig.state == "down" and rig.arm.switches().down
    rig.safe()


def test_stuck_switch_and_tamper_and_lost_presence(clock):
    rig = Rig("sim", clock, position=1.0, simulator=_script(
        {"at_s": 1, "action": "tamper", "to": "down"},
        {"at_s": 3, "action": "switch", "switch": "up", "stuck": "active"},
        {"at_s": 5, "action": "switch", "switch": "up", "stuck": "released"},
        {"at_s": 6, "action": "presence", "state": "lost"}))
    rig.step(1.5)
    assert rig.of(EventType.LOCK_TAMPER)[0].data["was"] == "up"
    rig.step(2.0)
    codes = [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]
    assert codes == ["switches_both"]
    rig.step(1.0)
    assert not rig.manager.reset(BAY, "tester").ok  # both switches still active: refused
    rig.step(1.0)
    assert rig.manager.reset(BAY, "tester").ok
    rig.step(1.5)
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)][-1] == "presence_unknown"
    rig.safe()


def test_run_time_injection_refused_for_a_real_lock_and_for_bad_values(clock):
    gpio = Rig("gpio", clock, position=0.0)
    with pytest.raises(ControlError) as e:
        gpio.manager.simulate(BAY, "stall", {})
    assert e.value.code == "no_simulator"
    sim = Rig("sim", clock, position=0.0)
    with pytest.raises(ControlError) as e:
        sim.manager.simulate(BAY, "presence", {"state": "maybe"})
    assert e.value.code == "bad_value" and "state" in str(e.value)
    r = sim.manager.simulate(BAY, "presence", {"state": "lost"})
    assert r.ok and r.data["state"] == "fault"  # judged at once, not at the next tick


@pytest.mark.parametrize(("lock", "key"), [
    (gpio_lock(simulator={"script": [{"at_s": 1, "action": "stall"}]}), "only played by driver: simulator"),
    (sim_lock(simulator={"script": [{"at_s": float("nan"), "action": "stall"}]}),
     "locks[0].simulator.script[0].at_s: Input should be a finite number"),
    (sim_lock(simulator={"script": [{"at_s": 1, "action": "explode"}]}),
     "locks[0].simulator.script[0].action: Input should be 'presence', 'stall', 'switch', 'tamper', 'power-loss'"),
    # the key as the file writes it (it was ``script[0].switch.switch``: the entry's action, then its key)
    (sim_lock(simulator={"script": [{"at_s": 1, "action": "switch", "switch": "left", "stuck": "active"}]}),
     "locks[0].simulator.script[0].switch: Input should be 'down' or 'up'"),
])
def test_bad_scripts_are_config_errors_naming_the_key(lock, key):
    with pytest.raises(ConfigError) as e:
        parse_config({"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "0"},
                      "bays": [{"id": BAY, "polygon": [[0, 0], [100, 0], [100, 100]]}], "locks": [lock]})
    assert key in e.value.report()


class _Control:
    """The part of AgentControl a sim command reaches, on a real LockManager."""

    def __init__(self, manager) -> None:
        self.manager = manager

    def bay_ids(self) -> list[str]:
        return self.manager.bay_ids()

    def simulate(self, bay_id: str, action: str, fields: dict) -> object:
        return self.manager.simulate(bay_id, action, fields)


def _handler(rig: Rig, tmp_path, key: bytes | None = None) -> CommandHandler:
    replay = ReplayMemory(tmp_path / "replay.sqlite", rig.clock) if key else None
    return CommandHandler(_Control(rig.manager), Topics("edge/s1/d1"), "d1", rig.clock, 60.0, key, replay)


def _sim(rig: Rig, name: str, body: dict, key: bytes | None = None, sign_as: str | None = None) -> Command:
    body = {"ts": iso(rig.clock.now() + timedelta(seconds=0)), "bay": BAY, **body}
    if key:
        body = sign_command(sign_as or f"sim/{name}", body, key)
    return Command(name, json.dumps(body).encode(), namespace="sim")


def test_sim_commands_go_through_the_command_checks(clock, tmp_path):
    rig = Rig("sim", clock, position=0.0)
    h = _handler(rig, tmp_path)
    r = h.handle(_sim(rig, "presence", {"state": "vehicle"}))
    assert r.body["ok"] and r.body["command"] == "sim/presence" and rig.arm.vehicle
    assert h.handle(_sim(rig, "presence", {"state": "sideways"})).body["code"] == "schema_violation"
    assert h.handle(_sim(rig, "presence", {"state": "clear", "extra": 1})).body["code"] == "schema_violation"
    assert h.handle(_sim(rig, "lock", {"reason": "r", "operator": "o"})).body["code"] == "unknown_command"
    stale = Command("stall", json.dumps({"ts": iso(clock.now() - timedelta(seconds=600)), "bay": BAY}).encode(),
                    namespace="sim")
    assert h.handle(stale).body["code"] == "stale"
    assert not rig.arm.stalled
    assert h.handle(_sim(rig, "stall", {"bay": "nope"})).body["code"] == "unknown_bay"
    assert rig.manager.lock(BAY, "t", "o").data["code"] == "vehicle_present"
    rig.safe()


def test_signed_sim_commands_cover_the_namespace(clock, tmp_path):
    key = b"sim-key"
    rig = Rig("sim", clock, position=0.0)
    h = _handler(rig, tmp_path, key)
    assert h.handle(_sim(rig, "stall", {}, key, sign_as="stall")).body["code"] == "bad_signature"
    assert h.handle(_sim(rig, "stall", {})).body["code"] == "missing_signature"
    assert not rig.arm.stalled
    cmd = _sim(rig, "stall", {}, key)
    assert h.handle(cmd).body["ok"] and rig.arm.stalled
    assert h.handle(cmd).body["code"] == "replay"
    gpio = Rig("gpio", clock, position=0.0)
    assert _handler(gpio, tmp_path / "g").handle(_sim(gpio, "stall", {})).body["code"] == "no_simulator"
