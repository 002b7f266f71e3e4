"""Durable outbox: every message the backend must get is on disk before it is published.

Why: paho keeps QoS 1 messages published while disconnected only in memory, so a power cut
or a SIGKILL during a broker outage would lose them. Rows are written here first (SQLite in
WAL mode, ``synchronous=FULL`` by default so a committed row survives a power cut), handed
to the MQTT client in ``seq`` order, and deleted only when the broker's PUBACK arrives.
After a restart every row left is sent again, in order; consumers de-duplicate by
``event_id``, so the cost of a crash is a few repeats, never a loss.

Bounded: at ``max_rows`` the overflow policy drops an *unprotected* row (the oldest, or the
new one) and counts it; protected rows (violation, lock-fault … events, retained bay
states) are never dropped — the bound is exceeded instead, loudly. Each overflow updates one
protected notice row (``notice`` callback) so the backend learns how many were dropped.

Rows with a ``key`` coalesce: a newer retained bay state replaces a pending older one.

With ``lazy`` (the MQTT link's outbox) only what a power cut must not take is synced (SD-card wear,
docs/deployment.md#sd-card-writes-and-wear): an event,
a notice, an empty retained message (it clears a removed bay, and nothing says it again) commit with the
connection's ``synchronous``; a delivered row's deletion and a non-empty retained document (a bay state, the daily
statistics: every start publishes each anew) commit at ``NORMAL``. In WAL mode that keeps the database whole and
in order and costs only those commits after the last synced one: a deletion lost is a row sent again (consumers
de-duplicate on ``event_id``), a retained document lost is replaced by the next start's. The next synced commit
syncs them with it. On a busy two-bay hour the outbox's syncs went 290 → 66. A notification sink's outbox is not
lazy: a WeCom / DingTalk group cannot de-duplicate, and a deletion a power cut took posted the alert to it again.

A full disk loses nothing silently: the outbox keeps a small reserve file beside its database
(``reserve_bytes``) and releases it the first time a write fails for space, so the event goes
in after all; a write that still fails is counted (``lost()``), logged and reported through
``on_lost`` at once, and as a protected notice row (``lost_notice``) once rows fit again.
The reserve is re-made when the disk has room.
The rows a damaged file's salvage lost are counted there too, and told once by a protected notice row of their own
(``damage_notice``, written at the open that finds them unannounced): the counter and a log line alone never reached
the backend (probe chaos39).

A disk too full even to open the file (SQLite cannot grow the WAL or its shared memory) is no
damage: the file stays where it is with its messages, the outbox runs closed — every message
meanwhile is a counted loss, as above — and opens it at the next ``put`` / ``pending`` /
``retry_open`` that finds room. Only a damaged file is moved aside (``outbox_open.py``).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal

from edge_agent.events.outbox_open import IDENTITY, IDENTITY_UNREAD, UNANNOUNCED, open_outbox_db
from edge_agent.events.outbox_space import SpaceKeeper
from edge_agent.events.types import OutboxSeen
from edge_agent.owndb import NotOwnFile
from edge_agent.sqlite_damage import is_no_space

log = logging.getLogger(__name__)

NOTICE_KEY = "__overflow__"
LOST_KEY = "__lost__"
DAMAGE_KEY = "__damaged__"
MISSING_KEY = "__missing__"
MISSING_TOLD = "missing_told"  # counter: the identity of the vanished outbox whose loss this one told (once)
Notice = Callable[[int], "tuple[str, bytes] | None"]  # dropped_total / lost_total -> (topic, payload)
_disk_full = is_no_space  # SQLITE_FULL or SQLITE_IOERR: a full disk surfaces as either


def _free_kb(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free // 1024
    except OSError:
        return -1


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


#: events whose id ``taken`` keeps (at least; up to 63 more between two prunes)
TAKEN_KEPT = 256


class Outbox:
    """Thread-safe: the bus thread writes, the publisher thread reads and deletes."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 100_000,
        overflow: Literal["drop_oldest", "drop_newest"] = "drop_oldest",
        synchronous: Literal["full", "normal"] = "full",
        notice: Notice | None = None,
        reserve_bytes: int = 0,
        lost_notice: Notice | None = None,
        on_lost: Callable[[int], None] | None = None,
        lazy: bool = False,
        damage_notice: Notice | None = None,
    ) -> None:
        """``lazy``: deletions and superseded retained documents commit unsynced (module docstring) — only where
        every row sent again is de-duplicated by its receiver and every retained document is published anew."""
        self.path = Path(path)
        self.lazy = lazy
        self.max_rows = max_rows
        self.overflow = overflow
        self._notice = notice
        self._lost_notice = lost_notice
        self._on_lost = on_lost
        self._damage_notice = damage_notice
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        # why the file cannot be opened now (a full disk; a link or FIFO put in its place meanwhile)
        self.unavailable: sqlite3.Error | OSError | None = None
        self.synced_commits = 0  # commits at the connection's ``synchronous`` (FULL: each a sync of the WAL)
        self.unsynced_commits = 0  # commits at NORMAL: deletions of delivered rows, superseded retained documents
        self._over_logged = 0
        self._lost_unsaved = 0  # lost while nothing could be written; saved with the next row that fits
        # delivered rows whose deletion a full disk refused: never offered again, deleted with a later batch
        self._undeleted: set[int] = set()
        self._reopen(first=True)
        self.space = SpaceKeeper(self.path, reserve_bytes, self._fold_wal)

    def _reopen(self, first: bool = False) -> bool:
        """Open the file if it is not open (under the lock, or before threads exist). A full disk
        leaves it closed — never moved aside — and is retried by every ``put``, ``pending`` and
        ``retry_open``; meanwhile messages are counted as lost, as for any write that does not fit. So does a link,
        FIFO or device put at its name meanwhile (``owndb.NotOwnFile``); at the ``first`` open it is raised."""
        if self._db is not None:
            return True
        try:
            db = open_outbox_db(self.path, self._synchronous)
            depth = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except NotOwnFile as exc:  # swapped in while the file was closed (a full disk): refused, never followed
            if first:  # the start refuses it (exit 2, ``runtime.preflight``)
                raise
            if self.unavailable is None:
                log.error("outbox %s: %s; new messages are counted as lost until it is removed", self.path,
                          exc.strerror)
            self.unavailable = exc
            return False
        except sqlite3.Error as exc:
            if not is_no_space(exc):
                raise
            if self.unavailable is None:
                log.error("outbox %s cannot be opened: disk full (%s, %d KB free); the file and its messages "
                          "are kept, retrying; new messages are counted as lost until it opens",
                          self.path, exc, _free_kb(self.path.parent))
            self.unavailable = exc
            return False
        self._db, self._depth = db, depth
        self._announce_damage()
        if self.unavailable is not None:
            log.warning("outbox %s opened after the disk had room again: %d message(s) waiting", self.path, depth)
            self.unavailable = None
        return True

    def _announce_damage(self) -> None:
        """The rows a salvage lost (``outbox_open.UNANNOUNCED``), told by one protected notice row (``DAMAGE_KEY``,
        replacing one still waiting) and the count cleared in the same transaction; a full disk leaves it owed to the
        next open."""
        if self._damage_notice is None:
            return
        row = self._x("SELECT value FROM counters WHERE name = ?", (UNANNOUNCED,)).fetchone()
        if not row or not row[0]:
            return
        try:
            with self._commits(synced=True), self._transaction(recount=True):
                notice = self._damage_notice(self._lost_total())
                if notice is not None:
                    self._depth -= self._x("DELETE FROM outbox WHERE key = ?", (DAMAGE_KEY,)).rowcount
                    self._insert(notice[0], notice[1], 1, False, True, DAMAGE_KEY)
                self._x("DELETE FROM counters WHERE name = ?", (UNANNOUNCED,))
        except sqlite3.Error as exc:
            if not _disk_full(exc):
                raise
            log.warning("outbox %s: the %d message(s) its salvage lost not announced yet (%s): at the next open",
                        self.path, row[0], exc)

    def _x(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """Run ``sql`` on the open file (every caller has checked ``_reopen``)."""
        assert self._db is not None
        return self._db.execute(sql, args)

    def retry_open(self) -> bool:
        """True when the outbox is open (opening it now if the disk has room again)."""
        with self._lock:
            return self._reopen()

    # -- writing ---------------------------------------------------------------------
    def put(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        protected: bool = False,
        key: str | None = None,
        event_id: str | None = None,
    ) -> int | None:
        """Store one message; returns its ``seq``, or None when the overflow policy refused it or
        the disk is full even after releasing the reserve (then it is counted in ``lost()``). ``event_id``: noted
        as taken in the same transaction (``taken``), whether the bound kept the row or not."""
        with self._lock:
            if not self._reopen():
                assert self.unavailable is not None
                self._lose(topic, self.unavailable, retain)
                return None
            remedies = iter((self.space.fold_wal, self.space.release))  # each tried once, in order
            superseded = retain and bool(payload) and key is not None  # the next start publishes it anew
            while True:
                try:
                    seq = self._put(topic, payload, qos, retain, protected, key, superseded, event_id)
                except sqlite3.Error as exc:
                    if not _disk_full(exc):
                        raise
                    if any(remedy(exc) for remedy in remedies):  # stops at the first that freed space
                        continue
                    self._lose(topic, exc, retain)
                    return None
                self.space.after_write()
                return seq

    def _put(self, topic: str, payload: bytes, qos: int, retain: bool, protected: bool, key: str | None,
             superseded: bool = False, event_id: str | None = None) -> int | None:
        """One transaction: the message, and the count of what was lost before it (if any). Unsynced only for a
        ``superseded`` document alone: a lost count to save, or a drop the bound may force, is synced."""
        saving = self._lost_unsaved
        with self._commits(synced=not superseded or bool(saving) or self._depth >= self.max_rows):
            return self._put_tx(topic, payload, qos, retain, protected, key, saving, event_id)

    @contextmanager
    def _commits(self, synced: bool) -> Iterator[None]:
        """The transactions inside commit synced (the connection's setting) or at ``NORMAL`` (see the module).
        SQLite takes the setting only outside a transaction, so it is set before ``BEGIN`` and put back after."""
        lazy = self.lazy and not synced and self._synchronous == "full"
        if lazy:
            self._x("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            if lazy:
                self._x("PRAGMA synchronous=FULL")
        if lazy:
            self.unsynced_commits += 1
        else:
            self.synced_commits += 1

    @contextmanager
    def _transaction(self, recount: bool = False) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; on any error rolled back, so no transaction is left open (``_commits``
        puts its pragma back only outside one), and with ``recount`` the row count read again (the rows the rollback
        took back)."""
        self._x("BEGIN IMMEDIATE")
        try:
            yield
            self._x("COMMIT")
        except BaseException:
            if self._db is not None and self._db.in_transaction:
                self._x("ROLLBACK")
            if recount:
                self._depth = self._x("SELECT COUNT(*) FROM outbox").fetchone()[0]
            raise

    def _put_tx(self, topic: str, payload: bytes, qos: int, retain: bool, protected: bool, key: str | None,
                saving: int, event_id: str | None = None) -> int | None:
        with self._transaction(recount=True):
            if saving:
                self._save_lost(saving)
            if key is not None:
                self._depth -= self._x("DELETE FROM outbox WHERE key = ?", (key,)).rowcount
            dropped = 0
            seq = None
            if self._depth >= self.max_rows:
                dropped = self._make_room(protected)
            if dropped < 0:  # the new unprotected row itself is the one dropped
                self._count_drop(1)
            else:
                seq = self._insert(topic, payload, qos, retain, protected, key)
                if dropped:
                    self._count_drop(dropped)
            if event_id is not None:
                self._note_taken(event_id)
        if saving:
            self._lost_unsaved -= saving
            log.warning("outbox writable again: %d message(s) lost in all, the backend is told", self._lost_total())
        return seq

    def _note_taken(self, event_id: str) -> None:
        n = self._x("INSERT INTO taken (event_id) VALUES (?)", (event_id,)).lastrowid or 0
        if n % 64 == 0:  # the newest TAKEN_KEPT or so are kept; pruned now and then, not at every event
            self._x("DELETE FROM taken WHERE n <= ?", (n - TAKEN_KEPT,))

    def note_taken(self, *event_ids: str) -> None:
        """Note events taken without a row: one the link holds back on purpose (a repeated ``lock_refused``), those
        the start must never compare (``events/unsent.py``), so that the next start does not take them for ones a
        kill kept out (``MqttLink.put_missing``). Unsynced where ``lazy``: a note a power cut takes costs one refusal
        sent. A full disk skips it (the same cost)."""
        with self._lock:
            if not self._reopen():
                return
            try:
                with self._commits(synced=False), self._transaction():
                    for event_id in event_ids:
                        self._note_taken(event_id)
            except sqlite3.Error as exc:
                if not _disk_full(exc):
                    raise

    def taken(self, event_ids: Iterable[str]) -> set[str] | None:
        """Which of ``event_ids`` this outbox took among its newest ``TAKEN_KEPT`` events; None where the file
        cannot be opened (a full disk)."""
        ids = list(event_ids)
        with self._lock:
            if not self._reopen():
                return None
            marks = ",".join("?" * len(ids))
            return {r[0] for r in self._x(f"SELECT event_id FROM taken WHERE event_id IN ({marks})", tuple(ids))}

    def start_mark(self) -> tuple[str, int] | None:
        """(recorded start of the run, violation log's last rowid then) noted by the last start (``note_start``);
        None where none did (a fresh or replaced outbox, one from before the note) or the file cannot be opened."""
        with self._lock:
            if not self._reopen():
                return None
            row = self._x("SELECT started, log_upto FROM start_mark").fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def note_start(self, started: str, log_upto: int) -> None:
        """This run (its start as the run ledger records it) takes the events the violation log writes after its
        row ``log_upto``. Synced: one commit a start. A full disk skips it: the next start then tells nothing."""
        with self._lock:
            if not self._reopen():
                return
            try:
                with self._commits(synced=True):
                    self._x("INSERT OR REPLACE INTO start_mark (one, started, log_upto) VALUES (1, ?, ?)",
                            (started, log_upto))
            except sqlite3.Error as exc:
                if not _disk_full(exc):
                    raise
                log.warning("outbox %s: this start not noted (%s): the next start cannot tell which events a kill "
                            "kept from it", self.path, exc)

    def seen(self) -> OutboxSeen | None:
        """This file's identity, the newest event it took and its events waiting; None where it cannot be opened.
        Events only: a retained document (a bay state, the daily statistics) is published anew by every start, and
        counted here a vanished outbox's ``lost_total`` told a backend of a lost event for each bay (probe chaos42)."""
        with self._lock:
            if not self._reopen():
                return None
            row = self._x("SELECT value FROM counters WHERE name = ?", (IDENTITY,)).fetchone()
            last = self._x("SELECT event_id FROM taken ORDER BY n DESC LIMIT 1").fetchone()
            events = int(self._x("SELECT COUNT(*) FROM outbox WHERE retain = 0").fetchone()[0])
            return None if row is None else OutboxSeen(int(row[0]), None if last is None else str(last[0]), events)

    def loss_told(self, identity: int) -> bool:
        """Whether the outbox named ``identity`` (the ledger's) is no loss to tell: this one told it already
        (``announce_missing``), or this one is it, salvaged without its name (``IDENTITY_UNREAD``)."""
        with self._lock:
            if not self._reopen():
                return False
            rows = dict(self._x("SELECT name, value FROM counters WHERE name IN (?, ?)", (MISSING_TOLD, IDENTITY_UNREAD)))
            return rows.get(MISSING_TOLD) == identity or IDENTITY_UNREAD in rows

    def announce_missing(self, count: int, notice: Notice, identity: int | None = None) -> None:
        """The outbox a run used is not this one (``MqttLink.check_outbox``): ``count`` messages counted lost and
        told by one protected notice row (``MISSING_KEY``), in one synced transaction, with the vanished outbox's
        ``identity`` noted as told (the ledger still names it where this run's start could not be recorded). A full
        disk: counted as a message lost, and said in the log."""
        with self._lock:
            if not self._reopen():
                return
            try:
                with self._commits(synced=True), self._transaction(recount=True):
                    if identity is not None:
                        self._x("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (MISSING_TOLD, identity))
                    self._x("INSERT INTO counters (name, value) VALUES ('lost', ?) "
                            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (count,))
                    made = notice(self._lost_total())
                    if made is not None:
                        self._depth -= self._x("DELETE FROM outbox WHERE key = ?", (MISSING_KEY,)).rowcount
                        self._insert(made[0], made[1], 1, False, True, MISSING_KEY)
            except sqlite3.Error as exc:
                if not _disk_full(exc):
                    raise
                log.error("outbox %s: the vanished outbox's loss not announced (%s)", self.path, exc)

    # -- a full disk -------------------------------------------------------------------
    def _fold_wal(self) -> None:
        if self._db is not None:
            self._x("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    @property
    def reserve_path(self) -> Path:
        return self.space.reserve_path

    @property
    def reserve_used(self) -> int:
        return self.space.used

    def _lose(self, topic: str, exc: sqlite3.Error | OSError, retain: bool = False) -> None:
        """An event that did not fit: counted and announced. A retained document is no event and not counted: the link
        says each from memory (``MqttLink._put_retained``: at once when connected, and at every connect; a removed
        bay's clearing at the next start); counted, ``lost_total`` told a backend of events it looked for in vain
        (probe chaos42)."""
        if retain:
            log.warning("outbox cannot write (%s): retained message to %s not stored, said from memory instead", exc,
                        topic)
            return
        self._lost_unsaved += 1
        total = self._lost_total()
        if total == 1 or total % 100 == 0 or self._lost_unsaved == 1:
            log.error("outbox cannot write (%s): message to %s lost, %d lost so far", exc, topic, total)
        if self._on_lost is not None:
            try:
                self._on_lost(total)
            except Exception:  # noqa: BLE001 - an announcement must not turn a loss into a crash
                log.exception("announcing a lost outbox message failed")

    def _lost_total(self) -> int:
        """Saved + unsaved; the saved count includes rows of a transaction in progress (so a
        notice written inside one reads its own addition, and ``_lost_unsaved`` is lowered after COMMIT)."""
        try:
            row = self._x("SELECT value FROM counters WHERE name = 'lost'").fetchone() if self._db else None
        except sqlite3.Error:
            row = None
        return (int(row[0]) if row else 0) + self._lost_unsaved

    def _save_lost(self, n: int) -> None:
        """Inside a transaction: add ``n`` unsaved losses to the counter and (re)write the notice row."""
        self._x(
            "INSERT INTO counters (name, value) VALUES ('lost', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (n,))
        total = self._x("SELECT value FROM counters WHERE name = 'lost'").fetchone()[0]
        notice = self._lost_notice(total) if self._lost_notice else None
        if notice is not None:
            self._depth -= self._x("DELETE FROM outbox WHERE key = ?", (LOST_KEY,)).rowcount
            self._insert(notice[0], notice[1], 1, False, True, LOST_KEY)

    def _insert(self, topic: str, payload: bytes, qos: int, retain: bool, protected: bool, key: str | None) -> int:
        cur = self._x(
            "INSERT INTO outbox (topic, payload, qos, retain, protected, key) VALUES (?, ?, ?, ?, ?, ?)",
            (topic, payload, qos, int(retain), int(protected), key),
        )
        self._depth += 1
        return int(cur.lastrowid or 0)  # always set after an INSERT

    def _make_room(self, protected: bool) -> int:
        """Drop one unprotected row per policy: 1 dropped, 0 none (exceed), -1 refuse the new row."""
        row = None
        if self.overflow == "drop_oldest":
            row = self._x("SELECT seq FROM outbox WHERE protected = 0 ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            if not protected:
                return -1
            if self._over_logged % 1000 == 0:
                log.error(
                    "outbox at %d messages (limit %d): keeping this protected one anyway, the disk is the limit",
                    self._depth,
                    self.max_rows,
                )
            self._over_logged += 1
            return 0
        self._x("DELETE FROM outbox WHERE seq = ?", (row[0],))
        self._depth -= 1
        return 1

    def _count_drop(self, n: int) -> None:
        self._x(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (n,),
        )
        total = self._x("SELECT value FROM counters WHERE name = 'dropped'").fetchone()[0]
        if total == n or total % 1000 == 0:
            log.error("outbox full (%d rows): %d unprotected message(s) dropped so far", self.max_rows, total)
        notice = self._notice(total) if self._notice else None
        if notice is not None:
            self._depth -= self._x("DELETE FROM outbox WHERE key = ?", (NOTICE_KEY,)).rowcount
            self._insert(notice[0], notice[1], 1, False, True, NOTICE_KEY)

    # -- reading / acknowledging ---------------------------------------------------------
    def pending(self, after: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Rows with ``seq > after`` in order (the publisher's cursor)."""
        with self._lock:
            if not self._reopen():
                return []
            rows = self._x(
                "SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit + len(self._undeleted)),
            ).fetchall()
            gone = set(self._undeleted)  # delivered, their deletion waiting for room (``remove``)
        return [OutboxRow(s, t, bytes(p), q, bool(r)) for s, t, p, q, r in rows if s not in gone][:limit]

    def pending_keys(self) -> set[str]:
        """The keys of the rows waiting (a retained topic with a newer document still to go out). A row delivered
        whose deletion waits for room (``remove``) waits for nothing: counted, the connect did not say that topic
        again and the pump never sends it — a broker restarted without persistence kept no state for that bay
        (probe review63)."""
        with self._lock:
            if not self._reopen():
                return set()
            rows = self._x("SELECT seq, key FROM outbox WHERE key IS NOT NULL").fetchall()
            return {k for s, k in rows if s not in self._undeleted}

    def last(self) -> OutboxRow | None:
        """The newest row (a log of moved-aside messages shows its latest at start)."""
        with self._lock:
            if not self._reopen():
                return None
            row = self._x("SELECT seq, topic, payload, qos, retain FROM outbox ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else OutboxRow(row[0], row[1], bytes(row[2]), row[3], bool(row[4]))

    def remove(self, seqs: Iterable[int]) -> int:
        """Delete delivered rows (one transaction for a batch of PUBACKs), unsynced: a deletion a power cut takes
        is a row sent again, which the consumers' de-duplication absorbs; the next synced commit syncs it.

        A full disk refuses a deletion too (SQLite writes it to its WAL first): the rows are then kept out of
        ``pending`` — the broker has them — and deleted with a later batch once there is room; said once per
        episode. Why: the error went up into the pump's thread as a traceback, and the next connection sent the
        rows again (probe chaos36). A restart meanwhile sends them again, as after a power cut."""
        with self._lock:
            batch = [(s,) for s in {*seqs, *self._undeleted}]
            if not batch or self._db is None:
                return 0
            try:
                with self._commits(synced=False), self._transaction():
                    n = 0
                    for args in batch:
                        n += self._x("DELETE FROM outbox WHERE seq = ?", args).rowcount
            except sqlite3.Error as exc:
                if not _disk_full(exc):
                    raise
                if not self._undeleted:
                    log.warning("outbox %s: %d delivered message(s) not deleted (%s): not sent again, deleted "
                                "once the disk has room", self.path, len(batch), exc)
                self._undeleted.update(s for (s,) in batch)
                return 0
            if self._undeleted:
                log.warning("outbox %s: the %d delivered message(s) a full disk kept are deleted now", self.path,
                            len(self._undeleted))
                self._undeleted.clear()
            self._depth -= n
        return n

    def depth(self) -> int:
        with self._lock:
            return self._depth

    def retry_removals(self) -> int:
        """Delete the delivered rows a full disk kept (``remove``) if it has room now; any error leaves them held,
        tried again at the next call: they are delivered, so a failure costs nothing but a resend after a restart,
        and the caller (the pump, at each wake) must go on to its sending whatever it is."""
        try:
            return self.remove(())
        except sqlite3.Error as exc:
            log.debug("outbox %s: held deletions not retried now: %s", self.path, exc)
            return 0

    @property
    def removals_held(self) -> int:
        """Delivered rows whose deletion a full disk refused, waiting for room (``remove``, with any batch, an empty
        one too: the pump asks at each wake, so a quiet site does not keep them until its next PUBACK)."""
        with self._lock:
            return len(self._undeleted)

    def lost(self) -> int:
        """Events that could not be written at all (disk full; a damaged file's salvage; a vanished outbox's), since
        the file was created."""
        with self._lock:
            return self._lost_total()

    def dropped(self) -> int:
        with self._lock:
            if self._db is None:
                return 0
            row = self._x("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self.unavailable = None  # closed on purpose: no retries

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
