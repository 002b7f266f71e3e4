"""Over a real mosquitto: the link's stop lets the commands already queued run before it disconnects (their replies
go out). Two ways that drain went wrong (review68): the link stopped hearing the bus before the drain, so the events
those commands caused never reached the outbox, and the drain's 5 s was not bounded by the stop's own time (``run``'s
stop plan gives the link what is left of ``ops.stop_timeout_s``, 5 s by default), so a command still running at
SIGTERM cost the clean ``offline`` (the plan moved on and the process ended before the disconnect)."""

from __future__ import annotations

import threading
import time

import pytest

from edge_agent.control import ControlResult
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event
from tests.events.helpers import RecordingControl, wait_until
from tests.events.test_command_hardening import (  # noqa: F401 - setup: the fixture
    PREFIX,
    now,
    reply_with,
    send,
    setup,
)

pytestmark = pytest.mark.broker


class EventfulControl(RecordingControl):
    """``charger-status`` on B1 blocks until released; on B2 it publishes a ``charger_status`` event, as the agent's
    does (a change is published as an event)."""

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self.bus = bus
        self.entered, self.release = threading.Event(), threading.Event()
        self.event_ids: list[str] = []

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        if bay_id == "B1":
            self.entered.set()
            assert self.release.wait(20)
        else:
            ev = Event(
                type="charger_status", ts="2026-01-01T08:00:00.000+08:00", bay_id=bay_id, data={"status": status}
            )
            self.event_ids.append(ev.event_id)
            self.bus.publish(ev)
        return super().charger_status(bay_id, status)


def test_events_of_a_command_run_during_the_stop_reach_the_outbox(setup, tmp_path):  # noqa: F811
    make, backend, _, clock = setup
    bus = EventBus()
    control = EventfulControl(bus)
    data = tmp_path / "eventful"
    link = make(data_dir=data, bus=bus, ctl=control)
    try:
        running = send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "b/s")
        wait_until(control.entered.is_set, what="the first command to run")
        queued = send(backend, "charger-status", {"ts": now(clock), "bay": "B2", "status": "charging"}, "b/s")
        wait_until(lambda: link._cmd_q.qsize() == 1, what="the second command queued")
        stopper = threading.Thread(target=link.stop)
        stopper.start()
        wait_until(lambda: link._cmd_q.closed, what="the stop to begin")
        control.release.set()
        stopper.join(15)
        assert reply_with(backend, running).json()["ok"] and reply_with(backend, queued).json()["ok"]
        assert len(control.event_ids) == 1
        # the queued command ran and its event is the backend's, now or from the next start's outbox
        make(data_dir=data, bus=EventBus(), ctl=RecordingControl())
        backend.wait_for(f"{PREFIX}/events", lambda m: m.json()["event_id"] == control.event_ids[0])
    finally:
        control.release.set()


def test_a_command_still_running_does_not_keep_the_stop_past_its_time(setup):  # noqa: F811
    make, backend, _, clock = setup
    bus = EventBus()
    control = EventfulControl(bus)
    link = make(bus=bus, ctl=control)
    try:
        send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "b/s")
        wait_until(control.entered.is_set, what="a command to run (a lock's move, a slow card)")
        before = len(backend.on(f"{PREFIX}/status"))
        t0 = time.monotonic()
        link.stop(flush_s=1.0)  # the stop plan's time left, less the second kept for the disconnect
        took = time.monotonic() - t0
        assert took < 2.5, f"the stop took {took:.1f} s with 1 s given"
        offline = wait_until(
            lambda: [m.json() for m in backend.on(f"{PREFIX}/status")[before:] if m.json()["state"] == "offline"],
            what="offline",
        )
        assert offline[-1]["clean"] is True
    finally:
        control.release.set()


def test_commands_the_stop_had_no_time_to_run_are_answered_shutting_down_and_never_run(setup):  # noqa: F811
    """Those still queued when the stop's time ran out were run after the disconnect (the command thread goes on):
    a lock move against a lock stage already stopped, with no reply, so the backend could not tell it ran."""
    make, backend, _, clock = setup
    bus = EventBus()
    control = EventfulControl(bus)
    link = make(bus=bus, ctl=control)
    try:
        send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "b/s")
        wait_until(control.entered.is_set, what="a command to run (a lock's move, a slow card)")
        queued = [
            send(backend, "unlock", {"ts": now(clock), "bay": "B2", "reason": "paid", "operator": "op"}, "b/s"),
            send(backend, "charger-status", {"ts": now(clock), "bay": "B2", "status": "idle"}, "b/s"),
        ]
        wait_until(lambda: link._cmd_q.qsize() == 2, what="two commands queued behind it")
        link.stop(flush_s=1.0)
        for sent in queued:
            r = reply_with(backend, sent).json()
            assert (r["ok"], r["code"]) == (False, "shutting_down")
        control.release.set()
        worker = next(t for t in link._threads if t.name == "mqtt-commands")
        worker.join(5)
        assert not worker.is_alive()
        assert [c[0] for c in control.calls] == ["charger_status"]  # the one running; the queued never ran
    finally:
        control.release.set()
