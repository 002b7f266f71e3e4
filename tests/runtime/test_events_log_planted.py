"""``run``'s ``events.jsonl`` is opened through no link and never a FIFO or device, at the start and at each turn.

Why: ``run`` refuses such a file planted in its data dir before it starts (``planted_problem``), then opened the log by
name seconds later, once the models had loaded: one swapped in meanwhile hung the start for ever on a FIFO with no
reader, or had every event (plates) appended wherever a link led. The other sinks (the demo's ``--events``) keep the
plain open: a path the operator named may be a link or a pipe on purpose."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.sinks import JsonLinesSink, NotOwnFile


def _sink(path, **kw):
    clock = FakeClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    return JsonLinesSink(EventBus(), path, None, clock=clock, own=True, **kw), clock


def test_a_link_swapped_in_after_the_check_is_refused_and_nothing_written_where_it_leads(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("")
    path = tmp_path / "events.jsonl"
    path.symlink_to(elsewhere)
    sink, clock = _sink(path)
    with pytest.raises(NotOwnFile) as caught:
        sink.start()
    assert caught.value.filename == str(path) and "planted?" in str(caught.value)
    sink.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1", visit_id="v1"))
    assert elsewhere.read_text() == ""


@pytest.mark.parametrize("reader", [False, True])
def test_a_fifo_swapped_in_is_refused_at_once(tmp_path, reader):
    """No reader: a plain open waited for one for ever (here the start runs in a thread, given 10 s, then freed by
    opening the pipe); a reader held open (``tail -f`` on a pipe): the events went into the pipe, none into a file."""
    path = tmp_path / "events.jsonl"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    sink, _ = _sink(path)
    raised: list[BaseException] = []

    def start() -> None:
        try:
            sink.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            raised.append(exc)

    worker = threading.Thread(target=start, daemon=True)
    worker.start()
    worker.join(10.0)  # returns at once when refused; waits only where the open hangs
    hung = worker.is_alive()
    if hung:  # free the open that waits for a reader
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        worker.join()
    if fd is not None:
        os.close(fd)
    sink.stop()
    assert not hung, "the start waited on the FIFO"
    assert len(raised) == 1 and isinstance(raised[0], NotOwnFile), raised


def test_a_link_planted_at_the_turn_is_refused_and_the_agent_goes_on(tmp_path, monkeypatch):
    """At the size bound the file becomes ``.1`` and a new one is made by name: a link planted there then is not
    followed; the failure is counted as a write the log could not take, the agent runs on."""
    path = tmp_path / "events.jsonl"
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("")
    sink, clock = _sink(path, max_bytes=10)
    sink.start()
    real_replace = os.replace

    def replace_then_plant(src, dst):
        real_replace(src, dst)
        os.symlink(elsewhere, path)

    monkeypatch.setattr(os, "replace", replace_then_plant)
    sink.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1", visit_id="v1"))
    monkeypatch.setattr(os, "replace", real_replace)
    sink.bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A1", visit_id="v1"))
    sink.stop()
    # the departure's line after the turn; the arrival's, written before it, is in ``.1`` and not counted (it was)
    assert elsewhere.read_text() == "" and sink.failed == 1
    assert "vehicle_arrived" in (tmp_path / "events.jsonl.1").read_text()


def test_a_fifo_planted_at_the_turn_does_not_hold_the_loop_and_the_log_opens_again_once_it_is_gone(tmp_path,
                                                                                               monkeypatch):
    """Before: no hang (never a FIFO), but the log stayed shut for the rest of the run after one line said so, every
    later event's line written nowhere and not counted. Now each is counted, and the minute's ``expire`` opens the
    file again once the plant is removed."""
    path = tmp_path / "events.jsonl"
    sink, clock = _sink(path, max_bytes=10, max_age_s=30 * 86400)
    sink.start()
    real_replace = os.replace

    def replace_then_plant(src, dst):
        real_replace(src, dst)
        os.mkfifo(path)

    monkeypatch.setattr(os, "replace", replace_then_plant)
    sink.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1", visit_id="v1"))  # the turn
    monkeypatch.setattr(os, "replace", real_replace)
    assert sink.failed == 0 and "vehicle_arrived" in (tmp_path / "events.jsonl.1").read_text()  # written, not lost
    sink.bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A1", visit_id="v1"))
    assert sink.failed == 1
    sink.expire()  # the plant still there: still refused, nothing waits on the FIFO
    sink.bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A1", visit_id="v1"))
    assert sink.failed == 2
    path.unlink()
    sink.expire()
    sink.bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A1", visit_id="v1"))
    sink.stop()
    assert sink.failed == 2
    assert "vehicle_departed" in (tmp_path / "events.jsonl.1").read_text() + path.read_text()


def test_its_own_regular_file_is_appended_and_its_age_read(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "event", "ts": "2026-03-01T00:00:00+00:00"}\n')
    sink, clock = _sink(path, max_age_s=10 * 86400)
    sink.start()
    assert sink._first == datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
    sink.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1", visit_id="v1"))
    sink.stop()
    assert path.read_text().count("\n") == 2
