"""What the start re-sends for a kill goes into ``events.jsonl`` too (probe chaos35, fault 2).

``events.jsonl`` hears the bus after the MQTT outbox: a kill between the violation log's write and the outbox's kept
the event from both. The start put it into the outbox only (``MqttLink.put_missing``, through no sink on purpose), so
the file lacked it for good: a kill during a start's endings left ``violation_ended`` in evidence.db and on the wire,
and events.jsonl showed a departure with its violation still open. The start now hands those events to the file as
well, before the outbox takes them, and writes only those the file's tail lacks: a kill between the two leaves them
missing for the next start, which hands them again. The kill is taken inside the outbox's ``put``: an exception the
bus does not catch stops the run where a SIGKILL would. The parts are ``run``'s: the recorder, the MQTT link (not
connected: the outbox is what is looked at) and the own ``events.jsonl`` sink.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.assemble import Assembled, assemble
from edge_agent.runtime.sinks import JsonLinesSink
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


class Killed(BaseException):
    """The process dies here: nothing after it runs."""


def _killed(*_a: object, **_k: object) -> None:
    raise Killed


def _parts(tmp_path: Path, clock: FakeClock) -> tuple[Assembled, JsonLinesSink]:
    """The recorder, the (unconnected) MQTT link and ``run``'s events.jsonl, started; the start not yet looked."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": ["mqtt://127.0.0.1:1"]})
    made: list[JsonLinesSink] = []

    def lines(a):  # noqa: ANN001, ANN202
        made.append(JsonLinesSink(a.bus, tmp_path / "data" / "events.jsonl", None, own=True))
        return made

    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock), sinks=lines)
    assert parts.recorder is not None and parts.link is not None
    made[0].start()
    parts.recorder.start()
    return parts, made[0]


def _stop(parts: Assembled, sink: JsonLinesSink) -> None:
    sink.stop()
    assert parts.recorder is not None and parts.link is not None
    parts.recorder.stop()
    parts.link.stop(flush_s=0)


def _file_story(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    return [(d["event_id"], d["type"], d["data"].get("reason"))
            for d in map(json.loads, (tmp_path / "data" / "events.jsonl").read_text().splitlines())
            if d["kind"] == "event"]


def _outbox_ids(parts: Assembled) -> list[str]:
    assert parts.link is not None
    return [json.loads(r.payload).get("event_id") for r in parts.link.outbox.pending(limit=10_000)]


def _killed_at_the_outbox(tmp_path: Path, clock: FakeClock) -> Event:
    """A run whose arrival in bay B the kill caught between the log's write and the outbox's."""
    first, sink = _parts(tmp_path, clock)
    assert first.recorder is not None and first.link is not None
    first.recorder.close_previous_run()
    first.agent.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a"))
    first.link.outbox.put = _killed  # type: ignore[method-assign]
    lost = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="v-b")
    with pytest.raises(Killed):  # logged; neither the outbox nor events.jsonl took it
        first.agent.bus.publish(lost)
    assert lost.event_id not in [i for i, _, _ in _file_story(tmp_path)]
    _stop(first, sink)
    clock.advance(60)
    return lost


def test_an_event_a_kill_kept_from_the_outbox_reaches_events_jsonl_at_the_next_start(tmp_path):
    clock = FakeClock()
    lost = _killed_at_the_outbox(tmp_path, clock)
    second, sink = _parts(tmp_path, clock)
    try:
        assert second.recorder is not None
        second.recorder.close_previous_run()
        story = _file_story(tmp_path)
        ids = [i for i, _, _ in story]
        assert ids.count(lost.event_id) == 1, "events.jsonl never got the event the start re-sent"
        assert _outbox_ids(second).count(lost.event_id) == 1
        # before the ending of its visit, as on the wire
        departed = [n for n, (_, t, why) in enumerate(story) if t == "vehicle_departed" and why == "agent_stopped"]
        assert len(departed) == 2 and ids.index(lost.event_id) < min(departed)
    finally:
        _stop(second, sink)


def test_a_kill_during_the_starts_own_put_writes_it_once_in_events_jsonl(tmp_path):
    """The start hands the file its events before the outbox takes them: killed between, the next start hands them
    again, and the file, which has them, does not write them twice."""
    clock = FakeClock()
    lost = _killed_at_the_outbox(tmp_path, clock)
    second, sink = _parts(tmp_path, clock)
    assert second.recorder is not None and second.link is not None
    second.link.outbox.put = _killed  # type: ignore[method-assign]
    with pytest.raises(Killed):
        second.recorder.close_previous_run()
    _stop(second, sink)
    once_after_the_next_start(tmp_path, clock, lost)


def once_after_the_next_start(tmp_path: Path, clock: FakeClock, lost: Event) -> None:
    """A minute later the next start runs whole: ``lost`` is then once in ``events.jsonl`` and once in the outbox."""
    clock.advance(60)
    third, sink = _parts(tmp_path, clock)
    try:
        assert third.recorder is not None
        third.recorder.close_previous_run()
        assert [i for i, _, _ in _file_story(tmp_path)].count(lost.event_id) == 1
        assert _outbox_ids(third).count(lost.event_id) == 1
    finally:
        _stop(third, sink)


def test_an_event_the_file_turned_over_with_is_not_written_again(tmp_path):
    """A turn (size or age) just after the line: the event is in ``events.jsonl.1``, the new file empty — still
    found, not written twice; an event in neither is written, once."""
    from edge_agent.events.bus import EventBus

    clock, path = FakeClock(), tmp_path / "events.jsonl"
    before = JsonLinesSink(bus := EventBus(), path, None, max_bytes=1, own=True)  # its line turns the file over
    before.start()
    had = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a")
    bus.publish(had)
    before.stop()
    assert path.read_text() == "" and had.event_id in path.with_name("events.jsonl.1").read_text()
    sink = JsonLinesSink(EventBus(), path, None, own=True)
    sink.start()
    new = Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="v-a")
    assert sink.resent([had, new]) == 1
    sink.stop()
    both = path.with_name("events.jsonl.1").read_text() + path.read_text()
    assert both.count(had.event_id) == 1 and both.count(new.event_id) == 1
