"""A bay taken out of the config leaves no retained state behind: before, its last ``free`` stayed on the broker
for ever, and every backend or app that subscribed later was told that a bay which no longer exists was free."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.config import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import MqttLink, build_mqtt
from edge_agent.events.types import BayState
from tests.events.helpers import RecordingControl, Subscriber, config_dict, wait_until

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]
STATES = "edge/s1/dev1/bays/+/state"


def _cfg(broker, tmp_path: Path, bays: list[str]):
    raw = config_dict(broker.url(), tmp_path / "data")
    raw["bays"] = [{"id": b, "polygon": [[x + 200 * i, y] for x, y in SQUARE]} for i, b in enumerate(bays)]
    return parse_config(raw, base_dir=tmp_path)


def _link(broker, tmp_path: Path, bays: list[str], bus: EventBus) -> MqttLink:
    return build_mqtt(_cfg(broker, tmp_path, bays), bus, RecordingControl(), FakeClock(), lambda: HealthFigures())


def _retained_bays(broker, count: int) -> set[str]:
    """The bays whose state the broker holds now (what a backend that subscribes later is told)."""
    late = Subscriber(broker.port, STATES).start()
    try:
        wait_until(lambda: len({m.topic for m in late.all() if m.payload}) >= count, what=f"{count} retained states")
        return {m.topic.split("/")[4] for m in late.all() if m.payload}
    finally:
        late.stop()


def _publish(bus: EventBus, bays: list[str]) -> None:
    for b in bays:
        bus.publish_state(BayState(b, "free", "2026-01-01T08:00:00.000+08:00"))


@pytest.mark.broker
def test_a_reload_that_removes_a_bay_clears_its_retained_state(broker, tmp_path):
    bus = EventBus()
    link = _link(broker, tmp_path, ["B1", "B2"], bus)
    watch = Subscriber(broker.port, STATES).start()
    try:
        link.start()
        _publish(bus, ["B1", "B2"])
        assert _retained_bays(broker, 2) == {"B1", "B2"}
        _publish(bus, ["B2"])  # the monitor's last word on the removed bay, just before the reload's hook
        link.config_applied(_cfg(broker, tmp_path, ["B1"]), [])
        wait_until(lambda: [m for m in watch.on("edge/s1/dev1/bays/B2/state") if not m.payload],
                   what="the removed bay's state cleared")  # fmt: skip
        assert _retained_bays(broker, 1) == {"B1"}
    finally:
        link.stop()
        watch.stop()


@pytest.mark.broker
def test_a_bay_removed_while_the_agent_was_stopped_is_cleared_at_the_next_start(broker, tmp_path):
    bus = EventBus()
    first = _link(broker, tmp_path, ["B1", "B2", "B3"], bus)
    first.start()
    _publish(bus, ["B1", "B2", "B3"])
    assert _retained_bays(broker, 3) == {"B1", "B2", "B3"}
    first.stop()
    second = _link(broker, tmp_path, ["B1"], EventBus())  # B2 and B3 taken out of the config file
    try:
        second.start()
        wait_until(lambda: _retained_bays(broker, 1) == {"B1"}, what="the removed bays' states cleared")
    finally:
        second.stop()


@pytest.mark.broker
def test_a_clear_the_outbox_cannot_take_is_tried_again_at_the_next_reload(broker, tmp_path, monkeypatch):
    """A full disk refuses the clearing message (``put`` returns None): it is said straight to the connected
    broker, and the bay stays in the set the link keeps, so the next reload clears it through the outbox too."""
    bus = EventBus()
    link = _link(broker, tmp_path, ["B1", "B2"], bus)
    try:
        link.start()
        _publish(bus, ["B1", "B2"])
        assert _retained_bays(broker, 2) == {"B1", "B2"}
        put = link.outbox.put
        monkeypatch.setattr(link.outbox, "put", lambda topic, payload, **kw: None if not payload
                            else put(topic, payload, **kw))  # fmt: skip
        link.config_applied(_cfg(broker, tmp_path, ["B1"]), [])
        wait_until(lambda: _retained_bays(broker, 1) == {"B1"}, what="the refused clearing said from memory")
        assert "B2" in (tmp_path / "data" / "mqtt-bays.json").read_text()
        monkeypatch.setattr(link.outbox, "put", put)  # room again
        link.config_applied(_cfg(broker, tmp_path, ["B1"]), [])
        wait_until(lambda: _retained_bays(broker, 1) == {"B1"}, what="the removed bay's state cleared")
    finally:
        link.stop()


@pytest.mark.broker
def test_a_waiting_state_of_a_bay_removed_on_a_full_disk_does_not_go_out_in_place_of_its_clearing(
        broker, tmp_path, monkeypatch):  # fmt: skip
    """B2's state waits in the outbox (the broker was down); B2 is taken out of the config and the next start's
    clearing is refused by a full disk. Before, the waiting ``free`` of B2 went out at the connect and stayed
    retained until some later start had room: a backend subscribing meanwhile was told a bay that no longer
    exists was free. The clearing is said from memory, in place of the waiting row, as a refused state is."""
    broker.stop()  # the broker is down: both states wait on disk
    bus = EventBus()
    first = _link(broker, tmp_path, ["B1", "B2"], bus)
    first.start()
    _publish(bus, ["B1", "B2"])
    first.stop()
    assert first.outbox.pending_keys() >= {"edge/s1/dev1/bays/B1/state", "edge/s1/dev1/bays/B2/state"}
    second = _link(broker, tmp_path, ["B1"], EventBus())  # B2 taken out of the config while stopped
    put = second.outbox.put
    monkeypatch.setattr(second.outbox, "put", lambda topic, payload, **kw: None if not payload
                        else put(topic, payload, **kw))  # fmt: skip  # the disk is full for the clearing
    try:
        second.start()
        broker.start()
        wait_until(lambda: not second.outbox.pending_keys(), what="the waiting rows delivered")
        assert _retained_bays(broker, 1) == {"B1"}
    finally:
        second.stop()
