"""Which of the violation log's events a kill kept from the MQTT outbox (``MqttLink.put_missing``).

The log is written first, the outbox second: a kill between left an event in the log only, and the next start ended
its visit with an ``agent_stopped`` departure for an arrival the backend never got. The outbox notes each event it
takes (``taken``); the start puts in those the log holds beyond them. Only the events logged by the run that last
started with this very outbox can be missing: each start notes itself (``Outbox.note_start``: its run's recorded
start and ledger row, and the log's last row then), and the next start compares only when the run ledger's previous run
is that one (its row too: ``demo`` starts every run at the same simulated instant, probe updown33).
Why: compared with the log's newest events whatever run logged them, the start published events never meant for
MQTT — those of runs with MQTT disabled (enabled again: up to 32 of them, days old, a departure without its arrival),
those logged before an upgrade from 0.24.0 (the second start after it) or under an outbox replaced since (a damaged
one moved aside) — review52. This run's own events are left out: one another thread (the lock's, the commands')
had just logged and was about to put in was put in twice. So are the events the last stop kept for a locked
database (``held-events.jsonl``, written at this start or once the lock goes): the run that kept them is not known —
one whose start the ledger never recorded (locked from its start to its stop) is not the ledger's previous run, and
run with MQTT disabled its kept events, written now among the rows compared, were published (review53); written
after this start's look, among this run's rows, they were published by the next start. They are noted as taken
instead (the newest ``UNSENT_LOOK``: none older can be among the rows the next start looks at). The price: an event
a kill caught between the kept file's write and the outbox's, under such a lock, is not sent.
"""

from __future__ import annotations

from typing import Protocol

from edge_agent.events.outbox import Outbox
from edge_agent.events.types import Event

#: how many of the run's last events the start looks at (one per thread can be between the two writes: a handful;
#: the outbox remembers ``TAKEN_KEPT``)
UNSENT_LOOK = 32


class LoggedEvents(Protocol):
    """What of the violation log the comparison reads (``ViolationLog``)."""

    #: the last row written before this run's first event (None: unreadable)
    opened_upto: int | None
    #: the events the last stop kept for a locked database, oldest first: never compared
    kept_ids: list[str]

    def newest_events(self, n: int, after: int, upto: int) -> list[Event]: ...


def missing_events(outbox: Outbox, logged: LoggedEvents, previous_start: str | None) -> list[Event]:
    """The events (oldest first) the previous run logged and the outbox never took, where that run started with this
    outbox (``previous_start``: its start as the run ledger recorded it; None: no run, or unreadable); [] where that
    cannot be told. Notes nothing: ``note_start`` comes once they are in the outbox."""
    mark = outbox.start_mark()
    upto = logged.opened_upto  # this run's own events are not looked at: one may be between its writes right now
    missing: list[Event] = []
    if mark is not None and upto is not None and previous_start is not None and mark[0] == previous_start:
        kept = set(logged.kept_ids)
        events = [ev for ev in logged.newest_events(UNSENT_LOOK + len(kept), after=mark[1], upto=upto)
                  if ev.event_id not in kept][-UNSENT_LOOK:]
        taken = outbox.taken(ev.event_id for ev in events) if events else set()
        if taken is not None:
            missing = [ev for ev in events if ev.event_id not in taken]
    return missing


def note_start(outbox: Outbox, logged: LoggedEvents, started: str) -> None:
    """Notes this start (``started``, as the run ledger records it) for the next one, whatever the look found — only
    once what it found is in the outbox. Why: noted first, a kill between the note and those puts (a crash loop's
    kills land at the start) moved the mark off the run that logged them, so no later start looked at them again and
    they never went out (probe chaos35)."""
    upto = logged.opened_upto
    if upto is not None:
        if logged.kept_ids:  # before the synced note: a power cut keeps both or neither
            outbox.note_taken(*logged.kept_ids[-UNSENT_LOOK:])
        outbox.note_start(started, upto)
