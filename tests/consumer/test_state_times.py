"""A bay state's ``since`` / ``ts`` decide which state ``bay_states`` keeps (the newest ``since`` wins), in UTC.

- ``0001-01-01T00:00:00+14:00`` parses but no UTC time holds it: the store's conversion raised OverflowError,
  which the consumer took for a database outage, so it retried that batch every 2 s for ever, acknowledging
  nothing, and every device's messages behind it waited (again at each restart: the broker redelivers it).
- a ``since`` in 2099 (a device whose clock ran ahead, or anyone posing as it) won over every true state after
  it: the bay's row kept it for good. One more than a day ahead of the consumer's clock is refused."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

import pytest

from edge_agent.consumer.service import FUTURE_SINCE_S, Consumer, read
from edge_agent.consumer.store import SqliteStore
from tests.consumer.device import ARRIVED, publish_as_device
from tests.events.helpers import wait_until

NOW = datetime.fromisoformat("2026-12-05T10:00:00+08:00").timestamp()


def _state(state: str, since: str, **more: str) -> bytes:
    return json.dumps({"state": state, "since": since, **more}).encode()


def _consume(broker, db, messages, wait_for):  # noqa: ANN001, ANN202
    consumer = Consumer(broker.url(), SqliteStore(db), group="g", client_id="c-times", wall=lambda: NOW)
    consumer.retry_s = 0.01
    consumer.start()
    assert consumer.wait_ready(10)
    publish_as_device(broker.port, messages)
    try:
        wait_until(lambda: consumer.counters.received == len(messages), 10, wait_for)
    finally:
        consumer.stop()
    return consumer


@pytest.mark.broker
def test_a_state_time_past_utcs_range_is_set_aside_and_the_messages_behind_it_are_written(broker, tmp_path):
    db = tmp_path / "c.sqlite"
    consumer = _consume(broker, db, [
        ("edge/s1/d1/bays/A/state", _state("occupied", "0001-01-01T00:00:00+14:00")),
        ("edge/s1/d1/bays/B/state", _state("occupied", "2026-12-05T09:00:00+08:00", ts="9999-12-31T23:59:59-14:00")),
        ("edge/s1/d2/events", json.dumps(ARRIVED).encode())], "the event behind the two states")
    assert (consumer.counters.written, consumer.counters.rejected) == (1, 2)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0] == 1


@pytest.mark.broker
def test_a_since_far_ahead_of_the_consumers_clock_does_not_hold_the_bays_row(broker, tmp_path):
    db = tmp_path / "c.sqlite"
    consumer = _consume(broker, db, [
        ("edge/s1/d1/bays/A/state", _state("occupied", "2099-01-01T00:00:00+08:00")),
        ("edge/s1/d1/bays/A/state", _state("free", "2026-12-05T09:58:00+08:00"))], "both states")
    assert consumer.counters.rejected == 1
    rows = sqlite3.connect(db).execute("SELECT state, since FROM bay_states").fetchall()
    assert rows == [("free", "2026-12-05T01:58:00.000000+00:00")]


def test_a_clock_a_little_ahead_is_kept():
    ahead = datetime.fromtimestamp(NOW + FUTURE_SINCE_S - 60).astimezone().isoformat()
    assert not isinstance(read("edge/s1/d1/bays/A/state", _state("free", ahead), NOW), str)
    assert not isinstance(read("edge/s1/d1/bays/A/state", _state("free", "2026-12-05T09:00:00")), str)  # naive
