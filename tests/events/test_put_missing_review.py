"""What the start's ``put_missing`` must not put into the outbox (review52 of delivery35).

The start compares the violation log's newest events with what the MQTT outbox took. Events it was never meant to
take, or took under another outbox, must not go out again: a ``lock_refused`` the refusal filter held back on purpose
(each start after a flood of refused commands sent the held-back copies), events logged while MQTT was disabled
(enabled again, the start published up to 32 of them, days old: a departure without its arrival), events logged
before the outbox's notes began (an upgrade from 0.24.0: the second start re-sent them) or under an outbox replaced
since (a damaged one moved aside).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


def _run(tmp_path: Path, clock: FakeClock, mqtt: bool = True, start: bool = True):  # noqa: ANN202
    """The agent's recorder and (unstarted) MQTT link as ``run`` builds them; the previous run's ending done."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": mqtt, "brokers": ["mqtt://127.0.0.1:1"]})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock))
    assert parts.recorder is not None
    parts.recorder.start()
    if start:
        parts.recorder.close_previous_run()
    return parts


def _stop(parts) -> None:  # noqa: ANN001
    """A clean stop; what the outbox holds counts as delivered (removed), as with a broker that took it all."""
    parts.recorder.stop()
    if parts.link is not None:
        parts.link.outbox.remove(r.seq for r in parts.link.outbox.pending(limit=10_000))
        parts.link.stop(flush_s=0)


def _ids(parts) -> list[str]:  # noqa: ANN001
    return [json.loads(r.payload).get("event_id") for r in parts.link.outbox.pending(limit=10_000)]


def _events(parts, clock: FakeClock, n: int, bay: str = "A") -> list[Event]:  # noqa: ANN001
    out = []
    for i in range(n):
        ev = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=bay, visit_id=f"v-{bay}-{clock.now().timestamp()}-{i}")
        parts.agent.bus.publish(ev)
        out.append(ev)
        clock.advance(1)
    return out

def none_sent_at_the_next_start(tmp_path: Path, clock: FakeClock, events: list[Event], why: str,
                                after_s: float = 60) -> None:
    """``after_s`` later the next start runs whole: none of ``events`` may be among what its outbox holds."""
    clock.advance(after_s)
    nxt = _run(tmp_path, clock)
    try:
        assert not set(_ids(nxt)) & {ev.event_id for ev in events}, why
    finally:
        _stop(nxt)



def test_a_refusal_the_filter_held_back_is_not_sent_at_the_next_start(tmp_path):
    clock = FakeClock()
    first = _run(tmp_path, clock)
    refusals = [Event.make(EventType.LOCK_REFUSED, clock, bay_id="A", data={"code": "occupied"}) for _ in range(3)]
    for ev in refusals:
        first.agent.bus.publish(ev)
    assert _ids(first).count(refusals[0].event_id) == 1 and first.link.refusals.suppressed_total == 2
    _stop(first)
    none_sent_at_the_next_start(tmp_path, clock, refusals, "refusals held back on purpose sent")


def test_events_logged_while_mqtt_was_disabled_are_not_published_when_it_is_enabled_again(tmp_path):
    clock = FakeClock()
    first = _run(tmp_path, clock)
    _events(first, clock, 3)
    _stop(first)
    clock.advance(86400)
    off = _run(tmp_path, clock, mqtt=False)
    quiet = _events(off, clock, 4, "B")
    off.recorder.stop()
    clock.advance(3 * 86400)
    again = _run(tmp_path, clock)
    try:
        sent = set(_ids(again))
        assert not sent & {ev.event_id for ev in quiet}, "days-old events of a run without MQTT published"
    finally:
        _stop(again)


def _upgrade(tmp_path: Path) -> None:
    """The outbox as 0.24.0 left it: no ``taken`` table."""
    db = sqlite3.connect(tmp_path / "data" / "mqtt-outbox.sqlite")
    db.execute("DROP TABLE taken")
    db.commit()
    db.close()


def test_events_logged_before_an_upgrade_are_not_sent_at_the_second_start_after_it(tmp_path):
    clock = FakeClock()
    old = _run(tmp_path, clock)  # stands for 0.24.0: its outbox noted nothing
    before = _events(old, clock, 5)
    _stop(old)
    _upgrade(tmp_path)
    clock.advance(60)
    first = _run(tmp_path, clock)  # the upgrade's start: nothing can be told
    _events(first, clock, 2, "B")
    _stop(first)
    none_sent_at_the_next_start(tmp_path, clock, before, "events of before the upgrade sent again")


def test_events_of_before_a_replaced_outbox_are_not_sent_again(tmp_path):
    clock = FakeClock()
    first = _run(tmp_path, clock)
    before = _events(first, clock, 5)
    _stop(first)
    for p in (tmp_path / "data").glob("mqtt-outbox.sqlite*"):  # moved aside (damaged): a fresh one, its notes gone
        p.rename(p.with_name(p.name.replace(".sqlite", ".sqlite.corrupt-1")))
    clock.advance(60)
    second = _run(tmp_path, clock)
    _events(second, clock, 2, "B")
    _stop(second)
    none_sent_at_the_next_start(tmp_path, clock, before, "events of the replaced outbox sent again")


def test_an_event_of_this_run_between_its_two_writes_at_the_start_is_not_put_twice(tmp_path):
    """Another thread (the lock's, the command thread's) publishes while the start looks: the log has the event, the
    outbox not yet. Taken for one a kill kept out, it was put in by the start and then by its own thread: twice."""
    clock = FakeClock()
    first = _run(tmp_path, clock)
    _events(first, clock, 2)
    _stop(first)
    clock.advance(60)
    second = _run(tmp_path, clock, start=False)
    now = Event.make(EventType.LOCK_MOVED, clock, bay_id="A", data={"position": "down"})
    try:
        second.recorder.log.record(now)  # the bus calls the log first ...
        second.recorder.close_previous_run()  # ... the start looks meanwhile ...
        second.link._on_event(now)  # ... then the same thread's second write
        assert _ids(second).count(now.event_id) == 1, "put twice"
    finally:
        _stop(second)


def test_a_run_between_that_noted_nothing_is_not_taken_for_the_noting_one_when_both_started_alike(tmp_path):
    """Every ``demo`` run starts at the same simulated instant. Between two of this version's runs, one that noted
    no start with the outbox (0.24.0's, or one with MQTT disabled) recorded the same start as the run that noted
    itself: the look took it for that run and sent its events again (probe updown33: 0.24.0's demo between two
    0.25.0 ones, its 15 events twice on the wire). The ledger's row tells them apart; a kill is still caught."""
    clock = FakeClock()
    first = _run(tmp_path, clock)
    _events(first, clock, 2)
    _stop(first)
    clock = FakeClock()
    off = _run(tmp_path, clock, mqtt=False)  # the same recorded start as ``first``
    quiet = _events(off, clock, 4, "B")
    off.recorder.stop()
    again = _run(tmp_path, FakeClock())
    try:
        assert not set(_ids(again)) & {ev.event_id for ev in quiet}, "a run that noted nothing taken for the noting one"
    finally:
        _stop(again)
    killed = _run(tmp_path, FakeClock())  # noted itself; its last event logged, then killed before the outbox took it
    lost = Event.make(EventType.VEHICLE_ARRIVED, FakeClock(), bay_id="A", visit_id="v-killed")
    killed.recorder.log.record(lost)
    killed.link.stop(flush_s=0)
    after = _run(tmp_path, FakeClock())
    try:
        assert lost.event_id in _ids(after), "an event a kill kept from the outbox not sent"
    finally:
        _stop(after)
