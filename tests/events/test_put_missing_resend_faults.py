"""Hostile review of the start's hand-over to ``events.jsonl`` (``MqttLink.put_missing`` → ``JsonLinesSink.resent``;
probe review60).

1. The sink is handed the re-sent events before the outbox takes them, outside the bus, so a sink that raises (here:
   a line in events.jsonl's tail that ``json.loads`` cannot parse without a ``RecursionError``) stopped the start
   before the outbox's puts: the events a kill kept out never went out, and the start itself failed. The bus's rule
   holds for this hand too: a failing listener is logged and never keeps an event from the others.
2. ``resent`` read the tail of ``events.jsonl.1`` and then ``events.jsonl`` outside the sink's lock: a line another
   thread wrote between the two reads turned the file over, the event the file held moved to ``.1`` unread, and it
   was written twice. The reads and the writes now hold the lock the sink's own writes and turns take.
3. A stream that cannot encode a line (``run``'s stdout under a non-UTF-8 locale, an event naming a Chinese plate)
   raised out of the sink's write before the file's turn: events.jsonl lost every such line, on the bus and at a
   re-send alike.
The files are real (outbox, evidence.db, events.jsonl); the kill is taken as in ``test_put_missing_events_log``.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.runtime import sinks as sinks_module
from edge_agent.runtime.sinks import JsonLinesSink
from tests.events.test_put_missing_events_log import (
    _killed_at_the_outbox,
    _outbox_ids,
    _parts,
    _stop,
    once_after_the_next_start,
)


def test_a_sink_that_fails_at_the_hand_over_never_keeps_the_events_from_the_outbox(tmp_path):
    clock = FakeClock()
    lost = _killed_at_the_outbox(tmp_path, clock)
    with (tmp_path / "data" / "events.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("[" * 100_000 + "\n")  # parses to a RecursionError, not a ValueError
    second, sink = _parts(tmp_path, clock)
    try:
        assert second.recorder is not None
        second.recorder.close_previous_run()  # raised before the fix: the start failed
        assert _outbox_ids(second).count(lost.event_id) == 1, "a failing sink kept the re-sent event from the outbox"
    finally:
        _stop(second, sink)


def test_a_turn_between_the_tail_reads_does_not_write_an_event_twice(tmp_path, monkeypatch):
    """Another thread's line turns the file over just after ``.1``'s tail was read: the event the current file held
    is in ``.1`` by the time the current file is read. Under the lock that thread waits for the re-send instead."""
    clock, path = FakeClock(), tmp_path / "events.jsonl"
    bus = EventBus()
    had = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a")
    sink = JsonLinesSink(bus, path, None, own=True)
    sink.start()
    bus.publish(had)  # in the file: handed at the start again after a kill before the outbox took it
    sink.max_bytes = path.stat().st_size + 1  # the next line turns the file over
    read = sinks_module._tail_event_ids
    other: list[threading.Thread] = []

    def tail_then_another_threads_line(p: Path, nbytes: int, nofollow: bool) -> set[str]:
        ids = read(p, nbytes, nofollow)
        if p.name.endswith(".1") and not other:
            other.append(threading.Thread(target=bus.publish, args=(
                Event.make(EventType.LOCK_MOVED, clock, bay_id="B", data={"state": "up"}),)))
            if sink._lock.acquire(blocking=False):  # the read holds no lock: that thread's line goes in now
                sink._lock.release()
                other[0].start()
                other[0].join()
            else:  # it waits for the lock the re-send holds
                other[0].start()
        return ids

    monkeypatch.setattr(sinks_module, "_tail_event_ids", tail_then_another_threads_line)
    assert sink.resent([had]) == 0
    other[0].join()
    sink.stop()
    both = path.with_name("events.jsonl.1").read_text() + path.read_text()
    assert both.count(had.event_id) == 1, "a turn between the tail reads wrote the event twice"


def test_a_stream_that_cannot_encode_a_plate_does_not_cost_the_files_line(tmp_path):
    clock, path = FakeClock(), tmp_path / "events.jsonl"
    bus = EventBus()
    latin1 = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")  # a non-UTF-8 locale's stdout
    sink = JsonLinesSink(bus, path, latin1, own=True)
    sink.start()
    seen = Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id="v-a", data={"plate": "京A12345"})
    bus.publish(seen)
    resent = Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="B", visit_id="v-b", data={"plate": "粤B12345"})
    assert sink.resent([resent]) == 1
    sink.stop()
    ids = [json.loads(line)["event_id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert ids == [seen.event_id, resent.event_id], "a stream that cannot encode the plate cost the file its line"
    assert sink.failed == 2


def test_a_kill_after_the_puts_before_the_note_neither_re_puts_nor_re_writes(tmp_path, monkeypatch):
    """Holds (no fix): the start's puts are in, its note is not (killed between): the next start looks at the same
    run again (the ledger never recorded the killed one), finds the event taken (``put`` notes it in the same
    transaction) and hands nothing — once in the outbox, once in events.jsonl."""
    import edge_agent.events.mqtt_link as link_module

    clock = FakeClock()
    lost = _killed_at_the_outbox(tmp_path, clock)
    second, sink = _parts(tmp_path, clock)
    assert second.recorder is not None
    with monkeypatch.context() as m:
        m.setattr(link_module, "note_start", _kill)
        with pytest.raises(_Killed):
            second.recorder.close_previous_run()
    _stop(second, sink)
    once_after_the_next_start(tmp_path, clock, lost)


class _Killed(BaseException):
    """The process dies here."""


def _kill(*_a: object, **_k: object) -> None:
    raise _Killed
