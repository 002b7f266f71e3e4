"""The in-process bus: the bay state its sinks hear last is the one it keeps."""

from __future__ import annotations

import threading

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, Event, EventType


def test_a_bay_state_published_from_two_threads_reaches_every_sink_last_as_the_bus_keeps_it():
    """A bay's state comes from the frame loop and, when its lock moves, from the lock stage's thread. The bus
    stored each then called the sinks unlocked: a lock thread preempted in its first sink (the outbox's write)
    while the frame loop published the bay's newer state handed the older one to the later sinks last. The
    retained ``bays/B/state`` then said ``identified`` for a bay in violation, until its next change (hours,
    for a parked car). Barriers stand in for the preemption."""
    bus = EventBus()
    older = BayState("B", "identified", "2026-01-01T08:00:00.000+08:00", "v1", "京A12345", "blue", False, lock="down")
    newer = BayState("B", "violation", "2026-01-01T08:00:20.000+08:00", "v1", "京A12345", "blue", False, lock="down")
    in_first_sink, newer_published = threading.Event(), threading.Event()

    def first_sink(st: BayState) -> None:  # the outbox, writing the older state when the thread is switched out
        if st is older:
            in_first_sink.set()
            assert newer_published.wait(10)

    heard: list[BayState] = []
    bus.subscribe_state(first_sink)
    bus.subscribe_state(heard.append)  # a later sink: the JSON-lines log, Home Assistant, a lock controller
    lock_thread = threading.Thread(target=bus.publish_state, args=(older,))
    lock_thread.start()
    assert in_first_sink.wait(10)
    bus.publish_state(newer)  # the frame loop, meanwhile
    newer_published.set()
    lock_thread.join(10)
    assert bus.states()["B"] is newer
    assert heard[-1] is newer, [s.state for s in heard]


def test_a_state_is_handed_over_once_when_nothing_newer_came():
    bus = EventBus()
    heard: list[BayState] = []
    bus.subscribe_state(heard.append)
    a, b = BayState("A", "free", "2026-01-01T08:00:00.000+08:00"), BayState("B", "free", "2026-01-01T08:00:00.000+08:00")
    bus.publish_state(a)
    bus.publish_state(b)
    assert heard == [a, b]


def test_a_handler_subscribed_first_hears_each_event_before_the_earlier_ones():
    """The violation log subscribes ``first``: its row is written before the MQTT outbox, subscribed earlier, holds
    the event (``tests/evidence/test_violation_log_power_cut.py``); the others keep their order."""
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(lambda e: heard.append("outbox"))
    bus.subscribe(lambda e: heard.append("locks"))
    off = bus.subscribe(lambda e: heard.append("log"), first=True)
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, FakeClock(), bay_id="A", visit_id="v1"))
    assert heard == ["log", "outbox", "locks"]
    off()
    heard.clear()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, FakeClock(), bay_id="A", visit_id="v2"))
    assert heard == ["outbox", "locks"]


def test_a_failing_first_handler_keeps_no_event_from_the_locks():
    """The log, now heard first, may fail (a damaged database): the outbox and the lock controller still hear it."""
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(lambda e: heard.append("outbox"))
    bus.subscribe(lambda e: heard.append("locks"))

    def broken(_e: Event) -> None:
        raise RuntimeError("database disk image is malformed")

    bus.subscribe(broken, first=True)
    bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, FakeClock(), bay_id="A", visit_id="v1"))
    assert heard == ["outbox", "locks"]
