"""Opening the outbox: a full disk is no corruption (the file and its events are kept, and opened
once there is room); a really damaged file is moved aside and its readable rows carried over."""

from __future__ import annotations

import sqlite3

import pytest

from edge_agent.events import outbox as outbox_mod
from edge_agent.events.outbox import Outbox
from edge_agent.sqlite_damage import is_corruption, is_no_space
from tests.damage import damage_pages
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)


def _eight(path) -> None:  # noqa: ANN001
    with Outbox(path) as box:
        for i in range(8):
            box.put("t/events", f'{{"event_id": "e{i}"}}'.encode())


def _payloads(box: Outbox) -> list[bytes]:
    return [r.payload for r in box.pending(0, 1000)]


@pytest.mark.parametrize("leave_kb", [0, 8, 20])
def test_a_nearly_full_disk_keeps_the_outbox_and_opens_it_when_room_returns(tiny_disk, leave_kb, caplog):  # noqa: F811
    disk = tiny_disk(1)
    path = disk / "mqtt-outbox.sqlite"
    _eight(path)
    filler = fill(disk, leave_kb * 1024)  # SQLite cannot make its WAL / shared memory: SQLITE_FULL or IOERR
    lost: list[int] = []
    box = Outbox(path, on_lost=lost.append)
    try:
        assert box.unavailable is not None and is_no_space(box.unavailable)
        assert not list(disk.glob("*.corrupt-*")) and path.exists()  # kept, not quarantined
        assert "disk full" in caplog.text and "kept" in caplog.text
        assert box.put("t/events", b"during") is None and box.lost() == 1 and lost == [1]  # counted, not silent
        assert box.pending() == [] and not box.retry_open()
        filler.unlink()  # room again
        assert box.retry_open() and box.unavailable is None
        assert _payloads(box) == [f'{{"event_id": "e{i}"}}'.encode() for i in range(8)]  # every event still there
        assert box.put("t/events", b"after") is not None and box.lost() == 1  # and the loss is now on disk
    finally:
        box.close()


def test_a_space_error_at_open_never_moves_the_file(tmp_path, monkeypatch):
    """The same rule without a tmpfs: the error SQLite gives when the -shm cannot grow."""
    path = tmp_path / "o.sqlite"
    _eight(path)
    real = outbox_mod.open_outbox_db
    err = sqlite3.OperationalError("disk I/O error")
    err.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE
    calls = []

    def flaky(*args):  # noqa: ANN002, ANN202
        calls.append(args)
        if len(calls) == 1:
            raise err
        return real(*args)

    monkeypatch.setattr(outbox_mod, "open_outbox_db", flaky)
    with Outbox(path) as box:
        assert box.unavailable is err and box.depth() == 0
        assert box.retry_open() and box.depth() == 8
    assert [p.name for p in tmp_path.iterdir() if "corrupt" in p.name] == []


def test_a_damaged_index_is_quarantined_and_every_readable_row_carried_over(tmp_path, caplog):
    path = tmp_path / "o.sqlite"
    _eight(path)
    db = sqlite3.connect(path)
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox_unprotected'").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as f:  # scribble over the index's page: the table itself is intact
        f.seek((page - 1) * size)
        f.write(b"\xff" * size)
    with Outbox(path) as box:
        assert _payloads(box) == [f'{{"event_id": "e{i}"}}'.encode() for i in range(8)]
        assert box.put("t/events", b"next") is not None
    assert len([p for p in tmp_path.glob("o.sqlite.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]) == 1
    assert "damaged" in caplog.text and "8 readable message(s)" in caplog.text


def test_the_rule_reads_codes_and_on_python_3_10_the_messages():
    def err(msg: str, code: int | None = None) -> sqlite3.DatabaseError:
        e = sqlite3.DatabaseError(msg)
        if code is not None:
            e.sqlite_errorcode = code
        return e

    assert is_corruption(err("database disk image is malformed", 11))
    assert is_corruption(err("file is not a database", 26)) and is_corruption(err("file is not a database"))
    for space in (err("database or disk is full", 13), err("disk I/O error", 4874), err("disk I/O error"),
                  OSError(28, "No space left on device")):
        assert is_no_space(space) and not is_corruption(space)
    assert not is_no_space(err("unable to open database file", 14)) and not is_corruption(err("x", 14))


def test_a_card_that_keeps_damaging_the_outbox_keeps_only_the_newest_damaged_copies(tmp_path):
    """Every quarantine left its copy for ever: a card damaging the file at each restart filled up with them."""
    path = tmp_path / "o.sqlite"
    for n in range(4):  # four earlier starts each set a damaged copy aside (with its WAL)
        (tmp_path / f"o.sqlite.corrupt-{1000 + n}").write_bytes(b"damaged" * 1000)
        (tmp_path / f"o.sqlite.corrupt-{1000 + n}-wal").write_bytes(b"wal")
    (tmp_path / "o.sqlite.reserve").write_bytes(b"\0")  # not a damaged copy
    path.write_bytes(b"this is not an sqlite file" * 100)
    with Outbox(path) as box:
        assert box.put("t/events", b"next") is not None
    left = sorted(p.name for p in tmp_path.iterdir())
    copies = [n for n in left if ".corrupt-" in n and not n.endswith("-wal")]
    assert len(copies) == 3 and "o.sqlite.corrupt-1002" in copies and "o.sqlite.corrupt-1003" in copies
    assert "o.sqlite.corrupt-1000-wal" not in left and "o.sqlite.corrupt-1003-wal" in left  # with their WAL
    assert "o.sqlite.reserve" in left and "o.sqlite" in left


def test_two_salvages_in_one_second_keep_both_damaged_copies(tmp_path, monkeypatch):
    """The copy set aside was named by the second (``.corrupt-<time>``): a second salvage in the same second (a
    crash-looping start on a failing card) replaced the first copy, the one holding the events it could not read."""
    from edge_agent.events import outbox_open

    monkeypatch.setattr(outbox_open.time, "time", lambda: 1_700_000_000.0)
    path = tmp_path / "o.sqlite"
    for n in range(2):
        path.write_bytes(f"damaged start {n} ".encode() * 200)
        with Outbox(path) as box:
            assert box.put("t/events", b"next") is not None
    copies = sorted(p.read_bytes()[:15] for p in tmp_path.glob("o.sqlite.corrupt-*")
                    if not p.name.endswith(("-wal", "-shm")))
    assert copies == [b"damaged start 0", b"damaged start 1"]


def test_a_damaged_page_in_the_middle_loses_its_own_rows_not_every_row_after_it(tmp_path, caplog):
    """A card's bad block in the outbox table (a leaf page of four 1 KB events, here the 25th of 50). The salvage read
    in ``seq`` order and stopped at the first unreadable page: 96 of 200 waiting events carried over, the 100 behind the
    damage lost, uncounted (probe chaos38). It now reads on past the damage: 196, the 4 on the page counted lost."""
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for i in range(200):
            box.put("t/events", (f'{{"event_id": "e{i:03d}", "pad": "' + "x" * 900 + '"}').encode())
    damage_pages(path, "outbox")
    lost: list[int] = []
    with Outbox(path, on_lost=lost.append) as box:
        got = [r.payload[14:18].decode() for r in box.pending(0, 1000)]
        assert len(got) >= 190, len(got)  # every page but the damaged one (4 events on it)
        assert got == sorted(got) and got[-1] == "e199"  # in their order, the last one too
        assert box.lost() == 200 - len(got)  # the rows the damage took are counted, as a full disk's are


def test_a_salvage_logs_its_loss_once(tmp_path, caplog):
    """The salvage counts what a damaged page took twice (``lost`` and the count still to be announced) and said it
    at each: one loss of 4 read as two error lines, "about 4 … lost" each (probe updown37)."""
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for i in range(200):
            box.put("t/events", (f'{{"event_id": "e{i:03d}", "pad": "' + "x" * 900 + '"}').encode())
    damage_pages(path, "outbox", 20)
    with Outbox(path) as box:
        lost = box.lost()
    said = [r for r in caplog.records if "on damaged pages lost" in r.getMessage()]
    assert lost > 0 and len(said) == 1, [r.getMessage() for r in said]


@pytest.mark.parametrize(("delivered", "which"), [(150, (0,)), (0, (0,)), (150, (-1,)), (0, (-1,)), (0, (0, -1))])
def test_the_lost_count_after_a_damaged_page_is_the_rows_it_took_not_the_delivered_ones(tmp_path, delivered, which):
    """``lost`` (health's ``outbox_lost``, the backend's count) after a salvage is the waiting rows the damage took.
    Counted as the gap in ``seq``, the 150 events delivered and deleted long before counted as lost when the first
    leaf was damaged (154 for 3 lost), and a damaged last leaf (the newest events) was not counted at all (0 for 4).
    Both damaged: the table's end unknown, nothing past the first page was read (0 of 200 kept, 0 counted lost)
    (probe review80)."""
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for i in range(200):
            box.put("t/events", (f'{{"event_id": "e{i:03d}", "pad": "' + "x" * 900 + '"}').encode())
        assert box.remove(r.seq for r in box.pending(0, delivered)) == delivered
    damage_pages(path, "outbox", *which)
    with Outbox(path) as box:
        kept = len(box.pending(0, 1000))
        assert 200 - delivered - 6 * len(which) <= kept < 200 - delivered  # the damaged pages' rows lost
        assert box.lost() == 200 - delivered - kept


KILLED_IN_SALVAGE = """
import os, signal, sys
from pathlib import Path
from edge_agent import sqlite_damage
from edge_agent.events import outbox_open
from edge_agent.events.outbox import Outbox

real = outbox_open.rows_past_damage
def dying(*args, **kw):
    for n, row in enumerate(real(*args, **kw)):
        if n == 50:
            os.kill(os.getpid(), signal.SIGKILL)  # a power cut in the middle of the copy
        yield row
def moved(*args, **kw):
    aside = real_move(*args, **kw)
    os.kill(os.getpid(), signal.SIGKILL)  # a power cut once the damaged file is aside
    return aside
real_move = sqlite_damage.move_aside
if sys.argv[2] == "copy":
    outbox_open.rows_past_damage = dying
else:
    sqlite_damage.move_aside = moved
Outbox(Path(sys.argv[1]))
"""


@pytest.mark.parametrize("when", ["copy", "move"])
def test_a_kill_in_the_middle_of_a_salvage_loses_nothing_the_next_start_salvages_again(tmp_path, when):
    """The damaged file went aside and a fresh, empty outbox took its name before the copy; a kill during the copy
    (seconds for 100,000 rows on a Pi: one lookup a row) left that empty outbox, which the next start found healthy:
    196 waiting events stayed in the copy set aside, none sent, none counted lost (probe review80). The fresh outbox is
    now built beside it and takes the name only once complete: the next start salvages again, or names the complete
    one if the kill came after the damaged file went aside."""
    import subprocess
    import sys

    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for i in range(200):
            box.put("t/events", (f'{{"event_id": "e{i:03d}", "pad": "' + "x" * 900 + '"}').encode())
    damage_pages(path, "outbox", 20)
    child = subprocess.run([sys.executable, "-c", KILLED_IN_SALVAGE, str(path), when], capture_output=True, timeout=60)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    with Outbox(path) as box:
        kept = len(box.pending(0, 1000))
        assert kept >= 190 and box.lost() == 200 - kept


HOLDING_THE_WAL = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint=0")
for i in range(200, 210):
    db.execute("INSERT INTO outbox (topic, payload, qos, retain, protected) VALUES ('t/events', ?, 1, 0, 0)",
               (('{"event_id": "e%03d"}' % i).encode(),))
print("ready", flush=True)
sys.stdin.read()
"""

KILLED_INSIDE_THE_MOVE = """
import os, signal, sys
from pathlib import Path
from edge_agent.events.outbox import Outbox

real = Path.replace
def replace(self, target):
    done = real(self, target)
    if self.name == "o.sqlite":  # the damaged file went aside, its -wal and -shm not yet
        os.kill(os.getpid(), signal.SIGKILL)
    return done
Path.replace = replace
Outbox(Path(sys.argv[1]))
"""


def test_a_kill_inside_the_move_aside_never_lays_the_damaged_wal_over_the_fresh_outbox(tmp_path):
    """The damaged file is moved aside before its ``-wal`` and ``-shm``; a kill between the renames left them at the
    name, where the next start put the complete fresh outbox, and SQLite read that WAL into it whatever its header
    said: the damaged file's pages over the salvage's, four events twice (their WAL kept whole by another program
    holding the file open: a shell, a backup). Real processes, a real kill."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for i in range(200):
            box.put("t/events", (f'{{"event_id": "e{i:03d}", "pad": "' + "x" * 900 + '"}').encode())
    damage_pages(path, "outbox", 20)
    holder = subprocess.Popen([sys.executable, "-c", HOLDING_THE_WAL, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        child = subprocess.run([sys.executable, "-c", KILLED_INSIDE_THE_MOVE, str(path)], capture_output=True,
                               timeout=60)
        assert child.returncode == -9, child.stderr.decode()[-2000:]
    finally:
        holder.communicate(timeout=30)
    assert Path(f"{path}-wal").stat().st_size > 0  # the damaged file's WAL, left at the name
    with Outbox(path) as box:
        ids = [json.loads(r.payload)["event_id"] for r in box.pending(0, 1000)]
        assert len(ids) == len(set(ids)) == 206 and box.lost() == 4  # the salvage's: e080-e083 on the bad page
    copy = next(p for p in tmp_path.glob("o.sqlite.corrupt-*") if not p.name.endswith(("-wal", "-shm")))
    assert Path(f"{copy}-wal").exists()  # the copy keeps its WAL for whoever investigates


def test_a_half_built_salvage_left_beside_a_healthy_outbox_is_deleted(tmp_path):
    """A kill during a salvage leaves the half-built fresh outbox (``….salvage``), its messages naming plates; when the
    next start finds the file readable after all (a card's transient error) nothing else would ever delete it."""
    path = tmp_path / "o.sqlite"
    _eight(path)
    (tmp_path / "o.sqlite.salvage").write_bytes(b"half a copy, plates in it")
    with Outbox(path) as box:
        assert len(_payloads(box)) == 8
    assert not (tmp_path / "o.sqlite.salvage").exists()
