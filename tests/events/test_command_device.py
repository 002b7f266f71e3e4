"""A signed command names the device it is for (attacker36): two devices given one key cannot run each other's."""

from __future__ import annotations

import json

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.config.mqtt import MqttConfig
from edge_agent.events.command_handler import Command, CommandHandler, sign_command
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.topics import Topics
from tests.events.helpers import RecordingControl

KEY = b"one-key-given-to-two-devices"


def _device(tmp_path, clock: FakeClock, name: str, require: bool = False) -> tuple[CommandHandler, RecordingControl]:
    control = RecordingControl()
    memory = ReplayMemory(tmp_path / f"{name}-replay.sqlite", clock)
    return CommandHandler(
        control, Topics(f"edge/s1/{name}"), name, clock, 60.0, KEY, memory, require_device=require
    ), control


def _unlock(clock: FakeClock, **extra: str) -> bytes:
    body = {"ts": iso(clock.now()), "bay": "B1", "reason": "NEV", "operator": "alice", **extra}
    return json.dumps(sign_command("unlock", body, KEY)).encode()


def test_a_command_captured_on_one_device_is_refused_by_its_twin(tmp_path):
    clock = FakeClock()
    dev1, ctl1 = _device(tmp_path, clock, "dev1")
    dev2, ctl2 = _device(tmp_path, clock, "dev2")
    payload = _unlock(clock, device="dev1")
    assert dev1.handle(Command("unlock", payload)).body["code"] == "ok"
    reply = dev2.handle(Command("unlock", payload)).body
    assert reply["code"] == "wrong_device" and "'dev1'" in reply["message"] and ctl2.calls == []
    assert reply["data"] == {"field": "device"}  # which name is wrong, for a program (the message is for people)
    assert len(ctl1.calls) == 1


def test_the_device_is_signed_with_the_rest(tmp_path):
    clock = FakeClock()
    dev2, control = _device(tmp_path, clock, "dev2")
    moved = {**json.loads(_unlock(clock, device="dev1")), "device": "dev2"}  # the name changed, the signature kept
    assert dev2.handle(Command("unlock", json.dumps(moved).encode())).body["code"] == "bad_signature"
    assert control.calls == []


@pytest.mark.parametrize("require, code", [(False, "ok"), (True, "wrong_device")])
def test_a_command_naming_no_device_runs_unless_the_device_requires_one(tmp_path, require, code):
    """Old backends send no ``device``: accepted until the site sets ``mqtt.command_device: required``."""
    clock = FakeClock()
    dev, control = _device(tmp_path, clock, "dev1", require)
    reply = dev.handle(Command("unlock", _unlock(clock))).body
    assert reply["code"] == code and (not require or reply["data"] == {"field": "device"})
    assert len(control.calls) == (0 if require else 1)
    assert dev.handle(Command("unlock", _unlock(clock, device="dev1", id="2"))).body["code"] == "ok"


def test_the_setting_takes_two_words_only():
    assert MqttConfig(brokers=["mqtt://localhost"], command_device="required").command_device == "required"
    with pytest.raises(ValueError, match="command_device"):
        MqttConfig(brokers=["mqtt://localhost"], command_device="yes")


def _at_site(tmp_path, clock: FakeClock, site: str, require: bool = False) -> tuple[CommandHandler, RecordingControl]:
    """``pole-1`` at ``site``: a fleet that names its devices alike at every site and gives them one key."""
    control = RecordingControl()
    memory = ReplayMemory(tmp_path / f"{site}-replay.sqlite", clock)
    return CommandHandler(
        control, Topics(f"edge/{site}/pole-1"), "pole-1", clock, 60.0, KEY, memory, site=site, require_site=require
    ), control


def test_a_command_captured_at_one_site_is_refused_by_the_same_device_id_at_another(tmp_path):
    """``device`` binds the device id, not the site: ``pole-1`` at s1 and at s2, one key, and a command for s1's
    pole-1 ran again on s2's. A command may name its ``site`` (signed with the rest), refused by any other site."""
    clock = FakeClock()
    s1, ctl1 = _at_site(tmp_path, clock, "s1")
    s2, ctl2 = _at_site(tmp_path, clock, "s2")
    payload = _unlock(clock, site="s1", device="pole-1")
    assert s1.handle(Command("unlock", payload)).body["code"] == "ok"
    reply = s2.handle(Command("unlock", payload)).body
    assert reply["code"] == "wrong_device" and "'s1'" in reply["message"] and ctl2.calls == []
    assert reply["data"] == {"field": "site"}  # a backend tells a site from a device without reading the message
    assert len(ctl1.calls) == 1
    moved = {**json.loads(payload), "site": "s2"}  # the site changed, the signature kept
    assert s2.handle(Command("unlock", json.dumps(moved).encode())).body["code"] == "bad_signature"


@pytest.mark.parametrize("require, code", [(False, "ok"), (True, "wrong_device")])
def test_a_command_naming_no_site_runs_unless_the_device_requires_one(tmp_path, require, code):
    """Backends that send no ``site`` keep working until the site sets ``mqtt.command_site: required``."""
    clock = FakeClock()
    dev, control = _at_site(tmp_path, clock, "s1", require)
    reply = dev.handle(Command("unlock", _unlock(clock, device="pole-1"))).body
    assert reply["code"] == code and (not require or reply["data"] == {"field": "site"})
    assert len(control.calls) == (0 if require else 1)
    assert dev.handle(Command("unlock", _unlock(clock, site="s1", id="2"))).body["code"] == "ok"


def test_the_site_setting_takes_two_words_only():
    assert MqttConfig(brokers=["mqtt://localhost"], command_site="required").command_site == "required"
    with pytest.raises(ValueError, match="command_site"):
        MqttConfig(brokers=["mqtt://localhost"], command_site="yes")


def test_a_bad_signature_says_what_the_signature_covers(tmp_path):
    """A backend that signed the wrong name ("stall" for a sim command, the topic) was told only "does not match":
    the reply names the signed name and the canonical form (newuser39)."""
    clock = FakeClock()
    dev, control = _device(tmp_path, clock, "dev1")
    body = {"ts": iso(clock.now()), "bay": "B1", "seconds": 5}
    for name, namespace, wrong in (("stall", "sim", "stall"), ("unlock", "cmd", "edge/s1/dev1/cmd/unlock")):
        msg = dev.handle(Command(name, json.dumps(sign_command(wrong, body, KEY)).encode(), namespace=namespace)).body
        assert msg["code"] == "bad_signature", msg
        signed = "sim/stall" if namespace == "sim" else "unlock"
        assert f"'{signed}'" in msg["message"] and "keys sorted" in msg["message"], msg
    assert control.calls == []
