"""The agent's own SQLite databases are refused when a link, FIFO or device stands at their name when opened.

Why: ``run`` refuses such a file before it starts, then opened ``evidence.db`` and the outboxes by name seconds
later; SQLite follows a link there, and a link swapped in meanwhile had every table of the evidence index (plates,
violations, the page's audit) written into the database it led to (measured: a real ``run`` with a link planted right
after the check, exit 0, seven tables in the other program's file). Each store is opened here on such a name."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.outbox import Outbox
from edge_agent.events.replay import ReplayMemory
from edge_agent.evidence.runs import RunLedger
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog
from edge_agent.owndb import NotOwnFile, connect_own
from edge_agent.web.sessions import SessionTable


def _clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, tzinfo=timezone.utc))


STORES = {
    "evidence index": lambda p: EvidenceStore(p.parent, _clock(), 30, 1 << 30),
    "violation log": lambda p: ViolationLog(p, _clock()),
    "run ledger": lambda p: RunLedger(p, _clock()),
    "page sessions": lambda p: SessionTable(p, _clock(), 3600),
    "outbox": lambda p: Outbox(p),
    "replay memory": lambda p: ReplayMemory(p, _clock()),
}


def _victim(tmp_path: Path) -> Path:
    """Another program's database, which the link leads to."""
    victim = tmp_path / "elsewhere" / "other.db"
    victim.parent.mkdir()
    with sqlite3.connect(victim) as db:
        db.execute("CREATE TABLE other_program (x)")
    db.close()
    return victim


def _tables(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        db.close()


@pytest.mark.parametrize("store", STORES)
def test_a_link_at_a_stores_name_is_refused_and_nothing_written_where_it_leads(tmp_path, store):
    victim = _victim(tmp_path)
    name = tmp_path / "data" / "evidence" / "evidence.db"
    name.parent.mkdir(parents=True)
    name.symlink_to(victim)
    with pytest.raises(NotOwnFile) as caught:
        STORES[store](name)
    assert caught.value.filename == str(name) and "planted?" in str(caught.value)
    assert _tables(victim) == ["other_program"]
    assert sorted(os.listdir(victim.parent)) == ["other.db"]  # no WAL or shm made beside it either


@pytest.mark.parametrize("store", STORES)
def test_a_fifo_at_a_stores_name_is_refused_as_planted(tmp_path, store):
    """Before: "disk I/O error" (or "disk full" at the start), naming nothing."""
    name = tmp_path / "data" / "evidence.db"
    name.parent.mkdir()
    os.mkfifo(name)
    with pytest.raises(NotOwnFile) as caught:
        STORES[store](name)
    assert caught.value.filename == str(name)


def test_its_own_file_and_a_linked_folder_are_opened(tmp_path):
    """A folder that is a link (``evidence/`` moved to a larger disk) is the operator's: only the name is judged."""
    disk = tmp_path / "big-disk"
    disk.mkdir()
    (tmp_path / "evidence").symlink_to(disk)
    db = connect_own(tmp_path / "evidence" / "evidence.db", isolation_level=None)
    db.execute("CREATE TABLE t (x)")
    db.close()
    assert _tables(disk / "evidence.db") == ["t"]
    db = connect_own(disk / "evidence.db")
    assert db.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
    db.close()


def test_a_descriptor_on_a_fifo_is_refused(tmp_path, monkeypatch):
    """The name SQLite resolved is its own, but what it holds open there is no regular file (swapped in between
    SQLite's look at the name and its open): refused by the descriptor's own type, read from ``/proc/self/fd``."""
    import stat

    import edge_agent.owndb as owndb

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        modes = owndb._modes_open_on(str(fifo))
    finally:
        os.close(fd)
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc here")
    assert len(modes) == 1 and stat.S_ISFIFO(modes[0])
    monkeypatch.setattr(owndb, "_modes_open_on", lambda name: modes)
    with pytest.raises(NotOwnFile):
        connect_own(tmp_path / "evidence.db")


def test_names_an_operator_may_give_are_opened(tmp_path, monkeypatch):
    """Names SQLite opens as the kernel does are no plant: a name that is not UTF-8 (a data dir given on the command
    line, read with Python's surrogate escapes; SQLite's name for it failed to decode: "Could not decode to UTF-8",
    the start refused), ``..`` after a linked folder (the kernel goes up from where the link leads, as SQLite does,
    where a lexical ``abspath`` went up from the link: refused as a planted link), and a database in memory (no file
    at all: refused as ``':memory:'`` being a link)."""
    raw = os.fsdecode(os.fsencode(str(tmp_path)) + b"/evid\xffence.db")
    db = connect_own(raw, isolation_level=None)
    db.execute("CREATE TABLE t (x)")
    db.close()
    assert os.fsencode(str(tmp_path)) + b"/evid\xffence.db" in [os.fsencode(str(p)) for p in tmp_path.iterdir()]
    deep = tmp_path / "ssd" / "agent"
    deep.mkdir(parents=True)
    (tmp_path / "data").symlink_to(deep)
    monkeypatch.chdir(tmp_path)
    for name in (tmp_path / "data" / ".." / "up.db", Path("data/../rel.db")):
        connect_own(name, isolation_level=None).execute("CREATE TABLE t (x)")
    assert _tables(tmp_path / "ssd" / "up.db") == ["t"] and _tables(tmp_path / "ssd" / "rel.db") == ["t"]
    memory = connect_own(":memory:")
    assert memory.execute("SELECT 1").fetchone() == (1,)
    memory.close()
