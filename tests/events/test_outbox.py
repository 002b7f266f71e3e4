"""The SQLite outbox on its own: order, persistence, coalescing, the overflow policy."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3

import pytest

from edge_agent.events.outbox import NOTICE_KEY, Outbox


def notice(total: int) -> tuple[str, bytes]:
    return "t/events", json.dumps({"type": "outbox_overflow", "dropped_total": total}).encode()


def payloads(box: Outbox) -> list[str]:
    return [r.payload.decode() for r in box.pending(0, 10_000)]


def test_rows_come_back_in_order_and_survive_reopening(tmp_path):
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        seqs = [box.put("t/events", f"e{i}".encode()) for i in range(5)]
        box.put("t/bays/B1/state", b"s", retain=True, protected=True, key="t/bays/B1/state")
        assert box.depth() == 6
        assert box.remove(seqs[:2]) == 2
        assert [r.payload for r in box.pending(after=seqs[2], limit=2)] == [b"e3", b"e4"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Outbox(path) as box:  # a restarted process finds what was not acked
        assert box.depth() == 4
        rows = box.pending(0, 10)
        assert [r.payload for r in rows] == [b"e2", b"e3", b"e4", b"s"]
        assert rows[-1].retain and not rows[0].retain


def test_a_newer_state_replaces_a_pending_one(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as box:
        box.put("t/events", b"e0")
        box.put("t/bays/B1/state", b"occupied", retain=True, protected=True, key="B1")
        box.put("t/events", b"e1")
        box.put("t/bays/B1/state", b"violation", retain=True, protected=True, key="B1")
        assert payloads(box) == ["e0", "e1", "violation"]
        assert box.depth() == 3


def test_drop_oldest_keeps_protected_rows_and_announces_the_loss(tmp_path, caplog):
    with Outbox(tmp_path / "o.sqlite", max_rows=10, notice=notice) as box:
        for i in range(8):
            box.put("t/events", f"u{i}".encode())
        box.put("t/events", b"p0", protected=True)
        box.put("t/events", b"p1", protected=True)
        for i in range(8, 13):
            assert box.put("t/events", f"u{i}".encode()) is not None
        rows = payloads(box)
        assert rows[:10] == ["u5", "u6", "u7", "p0", "p1", "u8", "u9", "u10", "u11", "u12"]
        assert json.loads(rows[10]) == {"type": "outbox_overflow", "dropped_total": 5}  # one notice, updated
        assert box.dropped() == 5 and box.depth() == 11
    assert "unprotected message(s) dropped" in caplog.text
    with Outbox(tmp_path / "o.sqlite", max_rows=10, notice=notice) as box:
        assert box.dropped() == 5  # the count survives restarts


def test_drop_newest_refuses_new_unprotected_rows_only(tmp_path):
    with Outbox(tmp_path / "o.sqlite", max_rows=10, overflow="drop_newest", notice=notice) as box:
        for i in range(10):
            box.put("t/events", f"u{i}".encode())
        assert box.put("t/events", b"late") is None
        assert box.put("t/events", b"violation", protected=True) is not None
        rows = payloads(box)
        assert rows[:10] == [f"u{i}" for i in range(10)] and "violation" in rows and "late" not in rows
        assert box.dropped() == 1


def test_protected_rows_exceed_the_bound_rather_than_vanish(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    with Outbox(tmp_path / "o.sqlite", max_rows=10, notice=notice) as box:
        for i in range(15):
            box.put("t/events", f"p{i}".encode(), protected=True)
        assert box.put("t/events", b"u") is None  # nothing unprotected to drop but the new row
        rows = payloads(box)
        assert [r for r in rows if r.startswith("p")] == [f"p{i}" for i in range(15)]
        assert box.dropped() == 1
    assert "keeping this protected one anyway" in caplog.text


def test_a_corrupt_file_is_moved_aside_not_fatal(tmp_path, caplog):
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with Outbox(path) as box:
        box.put("t/events", b"e")
        assert box.depth() == 1
    assert list(tmp_path.glob("o.sqlite.corrupt-*"))
    assert "damaged" in caplog.text


def test_notice_key_is_reserved(tmp_path):
    with Outbox(tmp_path / "o.sqlite", max_rows=10, notice=notice) as box:
        for i in range(12):
            box.put("t/events", f"u{i}".encode())
        keys = sqlite3.connect(tmp_path / "o.sqlite").execute("SELECT key FROM outbox WHERE key IS NOT NULL").fetchall()
        assert keys == [(NOTICE_KEY,)]


@pytest.mark.parametrize("sync", ["full", "normal"])
def test_synchronous_setting_applies(tmp_path, sync):
    with Outbox(tmp_path / "o.sqlite", synchronous=sync) as box:
        level = box._db.execute("PRAGMA synchronous").fetchone()[0]
    assert level == {"full": 2, "normal": 1}[sync]


def test_a_data_dir_deleted_under_a_running_outbox_raises_nothing(tmp_path):
    """``rm -rf`` of the data folder while the agent runs: SQLite keeps writing its open file, but the
    free-space check after each write asked a folder that was gone and raised out of ``put``, after
    the commit: every event was a traceback in the bus and the pump was never woken to send it."""
    folder = tmp_path / "data"
    box = Outbox(folder / "o.sqlite", reserve_bytes=64 * 1024)
    assert box.put("t", b"before") == 1
    shutil.rmtree(folder)
    assert [box.put("t", b"x") for _ in range(2)] == [2, 3]
    assert [r.payload for r in box.pending()] == [b"before", b"x", b"x"]  # still deliverable while running
    box.close()
