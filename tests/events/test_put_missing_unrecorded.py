"""The start's look for events a kill kept from the MQTT outbox (``events/unsent.py``) where a run between never saw
its start row in the run ledger (review53 of review52).

The look compares only where the ledger's previous run is the one that noted itself in the outbox. A run whose start
the ledger never recorded (``evidence.db`` locked by a backup from its start to its stop: its events kept in
``held-events.jsonl``) is not that previous run: the ledger's newest row is still the run before it. Run with MQTT
disabled, its events — written at the next start, from the file — then sat in the rows the look compares, none taken
by the outbox, and the next start with MQTT published them (days-old events of a run without MQTT). The lock is a
second connection's ``BEGIN IMMEDIATE``; the waits are cut to 20 ms.
"""

from __future__ import annotations

from pathlib import Path

from edge_agent.clock import FakeClock
from tests.events.test_put_missing_review import _events, _run, _stop, none_sent_at_the_next_start
from tests.evidence.test_evidence_locked import locked


def _quick(parts) -> None:  # noqa: ANN001
    for conn in (parts.recorder.log._db, parts.recorder.runs._db):  # the 10 s waits: the point is what follows
        conn.execute("PRAGMA busy_timeout=20")


def test_events_of_an_unrecorded_run_without_mqtt_are_not_published_by_the_next_start(tmp_path: Path) -> None:
    clock = FakeClock()
    first = _run(tmp_path, clock)
    _events(first, clock, 3)
    _stop(first)
    clock.advance(86400)
    off = _run(tmp_path, clock, mqtt=False, start=False)
    _quick(off)
    with locked(tmp_path / "data" / "evidence" / "evidence.db"):  # a backup from the start to the stop
        off.recorder.close_previous_run()
        quiet = _events(off, clock, 4, "B")
        off.recorder.stop()
    assert (tmp_path / "data" / "evidence" / "held-events.jsonl").exists(), "the set-up: the events kept for the next start"
    none_sent_at_the_next_start(tmp_path, clock, quiet, "days-old events of a run without MQTT published", after_s=86400)


def test_held_events_of_a_run_without_mqtt_written_late_are_not_published_at_the_start_after(tmp_path: Path) -> None:
    """The run without MQTT recorded its start; it stopped under a lock, and the next one (MQTT on) started under the
    same lock: the kept events went into the log after that start's look, among its own rows — which the start after
    compares."""
    clock = FakeClock()
    first = _run(tmp_path, clock)
    _events(first, clock, 3)
    _stop(first)
    clock.advance(86400)
    off = _run(tmp_path, clock, mqtt=False)
    quiet = _events(off, clock, 1, "B")
    _quick(off)
    with locked(tmp_path / "data" / "evidence" / "evidence.db"):
        quiet += _events(off, clock, 3, "B")
        off.recorder.stop()
        clock.advance(60)
        on = _run(tmp_path, clock, start=False)
        _quick(on)
        on.recorder.close_previous_run()
    on.recorder.mark_alive()  # the lock went: the kept events written, then this run's start
    _events(on, clock, 2, "C")
    _stop(on)
    none_sent_at_the_next_start(tmp_path, clock, quiet, "days-old events of a run without MQTT published")
