"""While the database refuses writes the consumer retries every 2 s; each retry logged a whole traceback, 1,800
an hour, so the journal of a consumer whose database was down overnight held little else (and rotated away what
came before the outage). The first failure is logged with its traceback, then one line a minute, then the
recovery, with the outage's length."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from tests.consumer.device import one_event, publish_as_device
from tests.events.helpers import wait_until


@pytest.mark.broker
def test_a_locked_database_is_said_once_then_once_a_minute_then_its_recovery(broker, tmp_path, caplog):
    db = tmp_path / "c.sqlite"
    store = SqliteStore(db)
    store.conn.execute("PRAGMA busy_timeout = 0")  # "database is locked" at once, not after 5 s
    locker = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database (a migration, a backup, a VACUUM)
    attempts, write = [0], store.write

    def attempt(batch):  # noqa: ANN001, ANN202 - the store's own write; the lock goes at the 8th attempt
        attempts[0] += 1
        if attempts[0] == 8:
            locker.execute("COMMIT")
        return write(batch)

    store.write = attempt  # type: ignore[method-assign]
    ticks = [0]

    def clock() -> float:
        """The writer reads the clock at each failure and once written: 30 s apart."""
        if threading.current_thread().name != "consumer-writer":
            return 0.0
        ticks[0] += 1
        return 30.0 * ticks[0]

    consumer = Consumer(broker.url(), store, group="g", client_id="c-locked", clock=clock)
    consumer.retry_s = 0.01
    consumer.start()
    assert consumer.wait_ready(10)
    publish_as_device(broker.port, one_event())
    try:
        wait_until(lambda: consumer.counters.written == 1, 40, "the event once the lock is released")
    finally:
        consumer.stop()
    said = [r for r in caplog.records if r.name == "edge_agent.consumer.service"]
    assert sum(r.exc_info is not None for r in said) == 1, [r.getMessage() for r in said]
    still = [r.getMessage() for r in said if "still failing" in r.getMessage()]
    assert [m.split(":")[1] for m in still] == [" writes still failing after 60 s", " writes still failing after 120 s",
                                                " writes still failing after 180 s"], still
    assert "database is locked" in still[0]
    assert any("written again after 210 s" in r.getMessage() for r in said), [r.getMessage() for r in said]
