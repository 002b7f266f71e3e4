"""The outbox syncs the SD card only for what a power cut must not take (docs/deployment.md#sd-card-writes-and-wear).

Measured on a simulated busy hour (two bays, 12 visits, 6 violations, broker up): 102 rows went in (55 of them bay
states, which the next start publishes anew anyway) and 90 PUBACK batches came out, each a commit with
``synchronous=FULL`` — 290 syncs of the outbox's WAL; now 66. The syncs are counted here as the kernel sees them:
the operations run in a child process under ``strace`` (SQLite's ``fdatasync`` is C code that no Python hook sees),
each operation between two marker lines on stdout."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.outbox import Outbox
from edge_agent.events.types import Event, EventType
from tests.events.helpers import RecordingControl, make_config, wait_until

STATE = "t/bays/A/state"
CHILD = """
import os, sys
from edge_agent.events.outbox import Outbox
box = Outbox(sys.argv[1], lazy=True)
def mark(name):
    os.write(1, f"@@{name}\\n".encode())
mark("event"); e1 = box.put("t/events", b'{"type": "vehicle_arrived"}')
mark("state"); s1 = box.put("t/bays/A/state", b'{"state": "occupied"}', retain=True, protected=True, key="t/bays/A/state")
mark("state again"); s2 = box.put("t/bays/A/state", b'{"state": "free"}', retain=True, protected=True, key="t/bays/A/state")
mark("clear"); c1 = box.put("t/bays/Z/state", b"", retain=True, protected=True, key="t/bays/Z/state")
mark("protected event"); e2 = box.put("t/events", b'{"type": "violation_started"}', protected=True)
mark("acks"); box.remove([e1]); box.remove([s2]); box.remove([c1, e2])
mark("end")
box.close()
"""


def _wal_syncs_per_step(tmp_path: Path) -> dict[str, int]:
    log = tmp_path / "strace.log"
    subprocess.run(["strace", "-f", "-y", "-qq", "-e", "trace=write,fsync,fdatasync", "-o", str(log),
                    sys.executable, "-c", CHILD, str(tmp_path / "o.sqlite")], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[2])
    counts: dict[str, int] = {}
    step = "open"
    for line in log.read_text(errors="replace").splitlines():
        marker = re.search(r'write\(1<[^>]*>, "@@([^\\"]+)', line)
        if marker:
            step = marker.group(1)
            counts.setdefault(step, 0)
        elif re.search(r"f(data)?sync\(\d+<[^>]*o\.sqlite-wal>\)", line):
            counts[step] = counts.get(step, 0) + 1
    return counts


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is needed (deploy/dev-deps.sh installs it)")
def test_only_events_notices_and_clears_sync_the_card(tmp_path):
    """Before: every commit synced — the bay states (1 + 1) and each of the 3 PUBACK batches too (12 in all)."""
    counts = _wal_syncs_per_step(tmp_path)
    assert counts["event"] == 1
    assert counts["protected event"] == 1
    assert counts["clear"] == 1  # an empty retained message clears a removed bay: nothing says it again
    assert counts["state"] == 0 and counts["state again"] == 0  # every start publishes each bay's state anew
    assert counts["acks"] == 0  # a deletion lost in a power cut is a row sent again, de-duplicated downstream


def test_a_state_lost_before_the_next_event_is_synced_with_it(tmp_path):
    """The unsynced commits stay in the WAL in order: the next synced one carries them, and a reopened outbox has
    them (the file is whole; a power cut takes at most what came after the last synced commit)."""
    path = tmp_path / "o.sqlite"
    with Outbox(path, lazy=True) as box:
        e1 = box.put("t/events", b"e1")
        box.put(STATE, b"occupied", retain=True, protected=True, key=STATE)
        box.remove([e1])
        box.put("t/events", b"e2")
        assert (box.synced_commits, box.unsynced_commits) == (2, 2)
    with Outbox(path, lazy=True) as box:
        assert [r.payload for r in box.pending(0, 10)] == [b"occupied", b"e2"]
        assert box._db is not None and box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again


def test_a_state_that_carries_a_lost_count_or_a_drop_is_synced(tmp_path):
    """A bay state's transaction may also save the count of messages lost to a full disk, or drop an unprotected
    row at the bound (counted, with a protected notice): both must survive, so that commit is synced."""
    with Outbox(tmp_path / "o.sqlite", max_rows=1, lazy=True) as box:
        box.put("t/events", b"e1")
        box._lost_unsaved = 1  # as a write refused by a full disk leaves it
        box.put(STATE, b"occupied", retain=True, protected=True, key=STATE)
        assert (box.synced_commits, box.unsynced_commits) == (2, 0)
        assert box.lost() == 1 and box.dropped() == 1


class _Contended:
    """The outbox's lock, telling when a second thread has to wait for it."""

    def __init__(self, turn: threading.Event) -> None:
        self._lock, self._turn = threading.Lock(), turn

    def __enter__(self) -> "_Contended":
        if not self._lock.acquire(blocking=False):
            self._turn.set()  # the other thread waits: it cannot commit inside the NORMAL window
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@pytest.mark.parametrize("lazy", ["deletion", "bay state"])
def test_an_event_never_commits_while_another_thread_has_the_connection_at_normal(tmp_path, lazy):
    """The pump's thread deletes and the stats thread puts a retained document at ``NORMAL`` on the connection the
    loop's events use. Deterministic: right after the pragma says NORMAL, the loop puts an event and this thread
    waits until that put either waits for the outbox's lock or has committed. Had the switch and its transaction
    not been under one lock, the event's COMMIT would run at NORMAL (synchronous 1) — an event a power cut takes."""
    box = Outbox(tmp_path / "o.sqlite", lazy=True)
    e1 = box.put("t/events", b"e1")
    turn = threading.Event()
    box._lock = _Contended(turn)  # type: ignore[assignment]
    run, seen, started = box._x, [], []
    loop = threading.Thread(target=lambda: (box.put("t/events", b"e2"), turn.set()), name="loop")

    def x(sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        seen.append((threading.current_thread().name, sql, run("PRAGMA synchronous").fetchone()[0]))
        cur = run(sql, args)
        if sql == "PRAGMA synchronous=NORMAL" and not started:
            started.append(loop.start())
            assert turn.wait(10)
        return cur

    box._x = x  # type: ignore[method-assign]
    if lazy == "deletion":
        box.remove([e1])
    else:
        box.put(STATE, b"occupied", retain=True, protected=True, key=STATE)
    loop.join(10)
    box._x = run  # type: ignore[method-assign]
    assert started and not loop.is_alive()
    loops = [(sql, level) for name, sql, level in seen if name == "loop"]
    assert ("COMMIT", 2) in loops and all(level == 2 for _, level in loops)  # FULL: the event is on the card
    assert box.synced_commits == 2 and box.unsynced_commits == 1
    box.close()


def test_the_agents_mqtt_link_deletes_what_the_broker_took_unsynced(broker, tmp_path):
    """The MQTT link is the one outbox made lazy (its consumers de-duplicate on event_id); the event's row is synced.
    A real mosquitto takes 3 events; their rows are gone and none of the deletions synced the card."""
    link = build_mqtt(make_config(broker.url(), tmp_path / "data"), (bus := EventBus()), RecordingControl(),
                      FakeClock(), no_health)
    link.start()
    try:
        wait_until(lambda: link.status().connected, what="the link to connect")
        synced = link.outbox.synced_commits
        for _ in range(3):
            bus.publish(Event.make(EventType.VEHICLE_ARRIVED, FakeClock(), bay_id="B1"))
        wait_until(lambda: link.outbox_depth() == 0, what="the broker's PUBACKs")
        assert link.outbox.lazy and link.outbox.synced_commits - synced == 3 and link.outbox.unsynced_commits >= 1
    finally:
        link.stop(flush_s=0.5)


def test_a_deletion_that_fails_leaves_no_transaction_open_and_the_connection_synced(tmp_path, monkeypatch):
    """review23: ``remove`` left its transaction open when a DELETE failed, so the ``FULL`` put back after it did not
    take (SQLite changes the setting only outside a transaction) and the next event would have committed in it."""
    box = Outbox(tmp_path / "o.sqlite", lazy=True)
    try:
        seq = box.put("t/events", b'{"type": "vehicle_arrived"}')
        assert seq is not None
        real = box._x

        def failing(sql: str, *args):  # noqa: ANN202 - the outbox's own helper's shape
            if sql.startswith("DELETE"):
                raise sqlite3.OperationalError("disk I/O error")
            return real(sql, *args)

        monkeypatch.setattr(box, "_x", failing)
        assert box.remove([seq]) == 0  # a full disk's error (chaos36): kept for a later batch, not raised
        monkeypatch.setattr(box, "_x", real)
        assert box._db is not None and not box._db.in_transaction
        assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
        assert box.depth() == 1 and box.remove([seq]) == 1
    finally:
        box.close()
