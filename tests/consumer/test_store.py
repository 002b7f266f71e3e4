"""The consumer's stores: idempotent writes, the newest bay state wins, both engines the same."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from edge_agent.consumer.service import parse, subscriptions
from edge_agent.consumer.store import PostgresStore, Record, SqliteStore


def _event(i: int) -> Record:
    return Record("s1", "pole-7", "event", None, {"event_id": f"00000000-0000-0000-0000-{i:012d}", "type": "vehicle_arrived",
                                                  "ts": "2026-01-01T08:00:00+08:00", "bay_id": "A", "visit_id": None,
                                                  "evidence_id": None, "data": {"i": i}})


def _state(state: str, since: str) -> Record:
    return Record("s1", "pole-7", "state", "A", {"bay_id": "A", "state": state, "since": since})


def test_topics_are_parsed_and_foreign_or_broken_messages_refused():
    assert parse("edge/s1/pole-7/events", b'{"event_id": "e", "type": "t", "ts": "x"}').kind == "event"
    r = parse("edge/s1/pole-7/bays/A/state", b'{"state": "free", "since": "x"}')
    assert (r.site, r.device, r.kind, r.bay_id) == ("s1", "pole-7", "state", "A")
    assert parse("edge/s1/pole-7/events", b"not json") is None
    assert parse("edge/s1/pole-7/events", b'{"type": "no id"}') is None
    assert parse("edge/s1/pole-7/cmd/lock", b"{}") is None
    # an empty site or device level is no device's (``edge/+/+/…`` matches it): a reply a device was told to send
    # there was stored as site ""'s bay state
    for topic in ("edge//pole-7/bays/A/state", "edge/s1//status", "edge///health"):
        assert parse(topic, b'{"ok": false, "ts": "2026-01-01T08:00:00+08:00"}') is None, topic
    assert subscriptions("g")[0] == "$share/g/edge/+/+/events"
    assert subscriptions(None) == ["edge/+/+/events", "edge/+/+/bays/+/state", "edge/+/+/health", "edge/+/+/status"]


def _check_store(store, rows) -> None:  # noqa: ANN001
    batch = [_event(i) for i in range(5)] + [_state("occupied", "2026-01-01T08:00:00+08:00")]
    store.write(batch)
    store.write(batch)  # a redelivery of the whole batch
    store.write([_state("free", "2026-01-01T07:00:00+08:00")])  # an older state arriving late
    store.write([Record("s1", "pole-7", "status", None, {"state": "online"}),
                 Record("s1", "pole-7", "health", None, {"ts": "2026-01-01T08:00:01+08:00", "fps": 5.0})])
    assert rows("SELECT count(*) FROM events") == 5
    assert rows("SELECT state FROM bay_states") == "occupied"
    # the device's zone changed (08:00+08:00 is 00:00 UTC): a later instant wins though its text sorts first,
    # and one that is earlier loses though its text sorts last
    store.write([_state("free", "2026-01-01T01:30:00+00:00")])
    assert rows("SELECT state FROM bay_states") == "free"
    store.write([_state("occupied", "2026-01-01T09:00:00+09:00")])
    assert rows("SELECT state FROM bay_states") == "free"
    assert rows("SELECT since FROM bay_states") == "2026-01-01T01:30:00.000000+00:00"
    assert rows("SELECT status FROM devices") == "online"
    assert rows("SELECT count(*) FROM health") == 1


def test_sqlite_store_is_idempotent(tmp_path):
    store = SqliteStore(tmp_path / "e.sqlite")
    db = sqlite3.connect(tmp_path / "e.sqlite")
    _check_store(store, lambda q: db.execute(q).fetchone()[0])
    store.close()


def test_sqlite_rows_an_older_consumer_stored_are_compared_as_instants(tmp_path):
    SqliteStore(tmp_path / "e.sqlite").close()
    db = sqlite3.connect(tmp_path / "e.sqlite")
    db.execute("INSERT INTO bay_states (site, device, bay_id, state, since, doc, updated_at) "
               "VALUES ('s1', 'pole-7', 'A', 'occupied', '2026-01-01T08:00:00+08:00', '{}', 'x')")
    db.commit()
    store = SqliteStore(tmp_path / "e.sqlite")
    store.write([_state("free", "2026-01-01T01:30:00Z")])
    assert db.execute("SELECT state, since FROM bay_states").fetchone() == ("free", "2026-01-01T01:30:00.000000+00:00")
    store.write([_state("occupied", "not a time")])  # no instant: the time it was received, which is later
    assert db.execute("SELECT state FROM bay_states").fetchone()[0] == "occupied"
    store.close()


def test_sqlite_consumers_starting_together_on_an_older_consumer_s_database_all_open(tmp_path):
    """Each saw ``health.received_at`` missing on 0.14.0's database and added it: until 2026-12-05 all but one failed
    "duplicate column name" (5 runs of 5 here), the schema set-up was not one transaction (PostgreSQL's is, locked)."""
    db = tmp_path / "c.sqlite"
    SqliteStore(db).close()
    old = sqlite3.connect(db)  # the tables as 0.14.0's consumer made them (6c9d8e8): no received_at
    old.execute("DROP INDEX health_received")
    old.execute("ALTER TABLE health DROP COLUMN received_at")
    old.close()
    start, errors = threading.Barrier(6), []

    def consumer() -> None:
        start.wait()
        try:
            SqliteStore(db).close()
        except sqlite3.Error as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=consumer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.postgres
def test_postgres_store_is_idempotent(pg_db):
    import psycopg

    store = PostgresStore(pg_db)
    with psycopg.connect(pg_db) as conn:
        _check_store(store, lambda q: conn.execute(q).fetchone()[0])
    store.close()
