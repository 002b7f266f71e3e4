"""Deleted rows that named a plate are overwritten, not left in the file's free pages: every connection to a file that
holds plates turns ``secure_delete`` on itself, because python.org and uv builds of SQLite leave it off (Debian's
build has it on, so the tests below open every connection as such a build would)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.consumer.store import SqliteStore
from edge_agent.events.outbox import Outbox
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog
from edge_agent.notify.dead_letters import DeadLetters


@pytest.fixture(autouse=True)
def _built_without_secure_delete(monkeypatch):  # noqa: ANN001, ANN202
    real = sqlite3.connect

    def connect(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        db = real(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")  # a python.org / uv build's default
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)


def _on(db: sqlite3.Connection) -> bool:
    return db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_the_evidence_index_and_the_violation_log_overwrite_what_they_delete(tmp_path: Path) -> None:
    clock = FakeClock()
    store = EvidenceStore(tmp_path / "evidence", clock)
    log = ViolationLog(tmp_path / "evidence" / "evidence.db", clock)
    try:
        assert _on(store._db) and _on(log._db)
    finally:
        log.close()
        store.close()


def test_the_mqtt_outbox_the_notify_queues_and_the_dead_letters_overwrite_what_they_delete(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "notify-chat.sqlite")
    dead = DeadLetters(tmp_path / "notify-dead" / "chat.sqlite", max_rows=10)
    try:
        box.put("t/events", '{"plate": "粤BD12345"}'.encode())
        assert dead.add("chat", b'{"plate": "BD12345"}', status=400, reason="refused", tries=1, at="now")
        assert box._db is not None and dead._box._db is not None
        assert _on(box._db) and _on(dead._box._db)
    finally:
        box.close()
        dead.close()


def test_the_backend_store_overwrites_what_it_deletes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "edge-events.sqlite")
    try:
        assert _on(store.conn)
    finally:
        store.close()
