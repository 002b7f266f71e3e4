"""One message the database cannot store must not stop the consumer: before, a batch the database
refused for its content was retried every 2 s for ever, unacknowledged, and every message behind it
from every device waited (a lock command's ``reason`` holding U+0000 reaches the agent's event, and
PostgreSQL's JSONB refuses ``\\u0000``; an event whose ``bay_id`` was an object stopped SQLite)."""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3

import pytest

from edge_agent.consumer.service import Consumer, parse, read, refuses_content
from edge_agent.consumer.store import PostgresStore, Record, SqliteStore
from tests.consumer.device import publish_as_device
from tests.events.helpers import wait_until


def _event(i: int, **fields: object) -> bytes:
    doc = {"event_id": f"e-{i}", "type": "lock_moved", "ts": "2026-01-01T08:00:00.000+08:00", "bay_id": "A",
           "visit_id": None, "evidence_id": None, "data": {"reason": "nev"}}
    return json.dumps({**doc, **fields}).encode()


def test_fields_of_the_wrong_type_are_refused_at_parse():
    assert parse("edge/s1/d1/events", _event(1)) is not None
    for bad in ({"bay_id": {"x": 1}}, {"visit_id": 7}, {"evidence_id": ["a"]}, {"data": "text"}):
        assert parse("edge/s1/d1/events", _event(1, **bad)) is None, bad
    assert parse("edge/s1/d1/bays/A/state", b'{"state": null, "since": "2026-01-01T08:00:00+08:00"}') is None
    assert parse("edge/s1/d1/bays/A/state", b'{"state": "free", "since": 5}') is None
    assert parse("edge/s1/d1/health", b'{"ts": {"a": 1}}') is None
    assert parse("edge/s1/d1/status", b'{"state": ["online"]}') is None


def _run(broker, store, count, stored: int) -> Consumer:  # noqa: ANN001
    """Two poison messages, then 20 good ones from three devices; ``stored`` of the 22 fit the database."""
    consumer = Consumer(broker.url(), store, group="g", client_id="c-poison").start()
    assert consumer.wait_ready(10)
    poison = [("edge/s1/d1/events", _event(0, data={"reason": "bad\u0000reason"})),
              ("edge/s1/d1/events", _event(1, bay_id={"x": 1}))]
    publish_as_device(broker.port, poison + [(f"edge/s1/d{i % 3}/events", _event(10 + i)) for i in range(20)])
    try:
        wait_until(lambda: count() >= stored, 20, "the good events behind the poison ones")
        wait_until(lambda: consumer.counters.received == 22, 10, "every message acknowledged")
    finally:
        consumer.stop()
    assert (consumer.counters.written, consumer.counters.rejected) == (stored, 22 - stored)
    return consumer


@pytest.mark.broker
def test_sqlite_consumer_sets_a_poison_message_aside(broker, tmp_path):
    db = tmp_path / "c.sqlite"
    rows = sqlite3.connect(db)
    _run(broker, SqliteStore(db), lambda: rows.execute("SELECT count(*) FROM events").fetchone()[0], 21)
    ids = {r[0] for r in rows.execute("SELECT event_id FROM events")}
    assert ids == {"e-0"} | {f"e-{10 + i}" for i in range(20)}  # SQLite stores U+0000; the object is refused


@pytest.mark.broker
@pytest.mark.postgres
def test_postgres_consumer_sets_a_nul_character_aside(broker, pg_db):
    import psycopg

    def count() -> int:
        with psycopg.connect(pg_db) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]

    _run(broker, PostgresStore(pg_db), count, 20)
    with psycopg.connect(pg_db) as conn:
        ids = {r[0] for r in conn.execute("SELECT event_id FROM events")}
    assert not ids & {"e-0", "e-1"} and len(ids) == 20


# payloads a hostile or broken publisher can send: json.loads raised on the first two (RecursionError;
# ValueError past 4,300 digits) on paho's network thread, which died, and the consumer took no further message
# while it ran on in silence; the third parsed, and the driver refused its lone surrogate at every retry, every
# message behind it waiting; the fourth is no JSON any other reader (or PostgreSQL) accepts
_HOSTILE = {
    "nested 100,000 deep": b'{"event_id": "h-1", "type": "t", "ts": "x", "data": {"a": ' + b"[" * 100_000
                           + b"]" * 100_000 + b"}}",
    "an integer of 5,000 digits": b'{"event_id": "h-2", "type": "t", "ts": "x", "data": {"n": ' + b"9" * 5000 + b"}}",
    "a lone surrogate": b'{"event_id": "h-3\\ud800", "type": "t", "ts": "x", "data": {}}',
    "NaN": b'{"event_id": "h-4", "type": "t", "ts": "x", "data": {"v": NaN}}',
    "a number past a double's range": b'{"event_id": "h-5", "type": "t", "ts": "x", "data": {"v": -1e400}}',
    "a field named twice": b'{"event_id": "h-6", "type": "t", "ts": "x", "data": {}, "event_id": "h-7"}',
}


def test_hostile_payloads_are_refused_at_parse_without_raising():
    for what, payload in _HOSTILE.items():
        assert parse("edge/s1/d1/events", payload) is None, what
        assert isinstance(read("edge/s1/d1/events", payload), str), what
    assert parse("edge/s1/d1/events", _event(1, data={"v": 1e308, "t": "京A·12345 \u2028"})) is not None


def test_a_message_naming_a_field_twice_is_refused_not_read_one_way():
    """The agent never writes a name twice (``json.dumps`` of a dict); a message that does is read differently by
    each parser (RFC 8259 leaves it open): Python's took the last, so ``event_id`` "e-2" was stored where a raw
    subscriber or a first-wins backend saw "e-1", and a bay's ``state`` twice stored whichever came last. Refused,
    as commands and the page refuse it (``unique_names``)."""
    twice = b'{"event_id": "e-1", "type": "t", "ts": "x", "data": {}, "event_id": "e-2"}'
    found = read("edge/s1/d1/events", twice)
    assert isinstance(found, str) and "'event_id' appears twice" in found, found
    nested = _event(1, data={"reason": "nev"}).replace(b'"reason": "nev"', b'"reason": "nev", "reason": "fuel"')
    assert parse("edge/s1/d1/events", nested) is None
    state = b'{"state": "free", "since": "2026-01-01T08:00:00+08:00", "state": "occupied"}'
    assert parse("edge/s1/d1/bays/A/state", state) is None
    assert parse("edge/s1/d1/bays/A/state", b'{"state": "free", "since": "2026-01-01T08:00:00+08:00"}') is not None


@pytest.mark.broker
def test_hostile_payloads_are_set_aside_and_logged_and_the_consumer_goes_on(broker, tmp_path, caplog):
    db = tmp_path / "c.sqlite"
    rows = sqlite3.connect(db)
    consumer = Consumer(broker.url(), SqliteStore(db), group="g", client_id="c-hostile").start()
    assert consumer.wait_ready(10)
    good = [(f"edge/s1/d{i % 2}/events", _event(10 + i)) for i in range(6)]
    publish_as_device(broker.port, [good[0]] + [("edge/s1/d1/events", p) for p in _HOSTILE.values()] + good[1:])
    try:
        wait_until(lambda: consumer.counters.received == 12, 20, "every message acknowledged")
    finally:
        consumer.stop()
    assert {r[0] for r in rows.execute("SELECT event_id FROM events")} == {f"e-{10 + i}" for i in range(6)}
    assert (consumer.counters.written, consumer.counters.rejected) == (6, 6)
    refused = [r.getMessage() for r in caplog.records if "refused a message on edge/s1/d1/events" in r.getMessage()]
    assert len(refused) == 6, refused


@pytest.mark.broker
def test_a_device_flooding_junk_writes_a_few_log_lines_not_one_a_message(broker, tmp_path, caplog):
    """Each message the consumer refuses was an ERROR line: with its own credentials a device (or whoever holds
    them) sent 171,696 one-byte heartbeats in 5 s on loopback and the consumer wrote 45,204 lines, 10.7 MB, about
    2 MB of log a second for as long as it went on. Now a burst of 20, then one a minute, each saying how many
    were left out; every refusal is still counted (``counters.rejected``)."""
    burst, every_s = 20, 60.0  # the command handler's budget on the device (events/command_handler.py)
    now = [1000.0]
    consumer = Consumer(broker.url(), SqliteStore(tmp_path / "c.sqlite"), group="g", client_id="c-junk",
                        clock=lambda: now[0]).start()
    assert consumer.wait_ready(10)
    try:
        with caplog.at_level(logging.ERROR, "edge_agent.consumer.service"):
            publish_as_device(broker.port, [("edge/s1/d1/health", b"x")] * 100)
            wait_until(lambda: consumer.counters.rejected >= 100, what="100 refusals")
            said = [r.getMessage() for r in caplog.records if "refused a message" in r.getMessage()]
            assert len(said) == burst, len(said)
            now[0] += every_s
            publish_as_device(broker.port, [("edge/s1/d1/health", b"y")])
            wait_until(lambda: consumer.counters.rejected >= 101, what="one more refusal")
        said = [r.getMessage() for r in caplog.records if "refused a message" in r.getMessage()]
        assert len(said) == burst + 1
        assert "80 refused message(s) before this one were not logged" in said[-1], said[-1]
    finally:
        consumer.stop()


def test_a_document_over_the_size_bound_is_refused_unread():
    from edge_agent.consumer.service import MAX_DOCUMENT_BYTES

    pad = "x" * (MAX_DOCUMENT_BYTES + 1)
    found = read("edge/s1/d1/events", _event(1, data={"pad": pad}))
    assert isinstance(found, str) and "bytes" in found and str(MAX_DOCUMENT_BYTES) in found
    assert isinstance(read("edge/s1/d1/events", _event(1, data={"pad": "x" * 60_000})), Record)


@pytest.mark.broker
def test_a_device_cannot_fill_the_database_with_one_huge_event(broker, tmp_path):
    """With its own credentials a device published three 100 MB events on its ``events`` topic: the consumer
    read each whole into memory (332 MB of RSS at its peak), parsed it and stored it, 300 MB in the database
    from three messages — the broker's default limit is 256 MB a message, and nothing bounded how many. The
    consumer now tells the broker its Maximum Packet Size in CONNECT (MQTT 5: the broker drops a bigger message
    for it, never sending it) and refuses a bigger document unread where a broker sends one all the same."""
    import sqlite3

    consumer = Consumer(broker.url(), SqliteStore(tmp_path / "c.sqlite"), group="g", client_id="c-huge").start()
    assert consumer.wait_ready(10)
    try:
        publish_as_device(broker.port, [("edge/s1/d1/events", _event(1, data={"pad": "x" * (4 << 20)})),
                                        ("edge/s1/d1/events", _event(2))])
        wait_until(lambda: consumer.counters.written >= 1, what="the small event stored")
    finally:
        consumer.stop()
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        assert [r[0] for r in db.execute("SELECT event_id FROM events")] == ["e-2"]


# values the store indexes, too long for an index entry: PostgreSQL refuses an entry over 2,704 bytes with
# program_limit_exceeded, an OperationalError to psycopg, which the consumer took for the database being down
_LONG = "k" + secrets.token_hex(4000)  # 8,001 characters, random: compression does not bring it under the limit
_OVERSIZED_KEYS = {
    "event_id": ("edge/s1/d1/events", _event(0, event_id=_LONG)),
    "an event's ts": ("edge/s1/d1/events", _event(0, ts=_LONG)),
    "a heartbeat's ts": ("edge/s1/d1/health", json.dumps({"ts": _LONG}).encode()),
    "the bay level": (f"edge/s1/d1/bays/{_LONG}/state", b'{"state": "free", "since": "2026-01-01T08:00:00+08:00"}'),
    "the device level": (f"edge/s1/{_LONG}/status", b'{"state": "online"}'),
}


def test_values_the_store_indexes_are_refused_over_their_bound():
    for what, (topic, payload) in _OVERSIZED_KEYS.items():
        found = read(topic, payload)
        assert isinstance(found, str) and "256 bytes" in found, (what, found)
    ok = "甲" * 85  # 255 bytes of UTF-8
    assert isinstance(read(f"edge/{ok}/{ok}/bays/{ok}/state", b'{"state": "free"}'), Record)
    assert isinstance(read("edge/s1/d1/events", _event(0, event_id=ok, ts=ok)), Record)
    assert isinstance(read("edge/s1/d1/events", _event(0, event_id="x" * 257)), str)


@pytest.mark.broker
@pytest.mark.postgres
def test_an_oversized_key_does_not_stop_a_postgres_consumer(broker, pg_db):
    """One event with an 8,000-character ``event_id`` (one device's credentials, or any publisher on a device's
    topic): PostgreSQL refused its index entry at every retry, nothing was acknowledged, and the five good events
    of another device behind it were never stored, after a restart neither (the broker delivered it again)."""
    import psycopg

    consumer = Consumer(broker.url(), PostgresStore(pg_db), group="g", client_id="c-long").start()
    assert consumer.wait_ready(10)
    try:
        publish_as_device(broker.port, list(_OVERSIZED_KEYS.values())
                          + [("edge/s1/d2/events", _event(20 + i)) for i in range(5)])
        wait_until(lambda: consumer.counters.received == len(_OVERSIZED_KEYS) + 5, 20, "every message acknowledged")
    finally:
        consumer.stop()
    assert consumer.counters.rejected == len(_OVERSIZED_KEYS)
    with psycopg.connect(pg_db) as conn:
        assert {r[0] for r in conn.execute("SELECT event_id FROM events")} == {f"e-{20 + i}" for i in range(5)}


@pytest.mark.postgres
def test_a_limit_the_database_names_is_the_value_refused_not_an_outage(pg_db):
    """Past the parse's bounds, PostgreSQL's class 54 (a value over one of its limits) is set aside like a
    ``DataError``: retried, it only ever fails again."""
    import psycopg

    store = PostgresStore(pg_db)
    try:
        with pytest.raises(psycopg.OperationalError) as raised:
            store.write([Record("s1", "d1", "event", None, json.loads(_event(0, event_id=_LONG)))])
    finally:
        store.close()
    assert raised.value.sqlstate == "54000" and refuses_content(raised.value)
    assert not refuses_content(psycopg.OperationalError("connection refused"))
