"""The evidence photos written off the frame loop, in order, on one thread with a bounded queue.

Why: the bus runs its subscribers on the publishing thread, so a photo's save (the file and its crop synced, their
folder synced, the index row at ``synchronous=FULL``: four or five syncs) held the frame loop at every identification
and violation. On a worn SD card (~1 s a sync) that was 4-5 s of frames not judged per photo, and a lock asked to
rise meanwhile was refused ``occupancy_stale`` (probe evidence20, ``docs/deployment.md`` "SD card").

The id and the time are fixed on the loop (``EvidenceStore.save``), so the event naming the photo is published
unchanged, at once; the writer writes the files and then the row, as before, so the index never names a photo that
is not on disk. Until it is written the page says so ("photo not saved yet"). What it costs:

- a clean stop drains the queue (``drain``, a step of ``run``'s stop plan before "close databases");
- a process killed with photos queued loses those photos (their events name ids no row has; the page says the photo
  was not saved), never the index's consistency;
- a full queue (the card stalled for minutes) drops the oldest photo, a plain one before a violation's, counted
  (``dropped``, and in the store's ``space.skipped``: the ``evidence_skipped`` metric) and logged: never an event,
  never the loop's time, never memory without bound;
- a photo the card refuses after its event went out (full, read-only) is counted as before; its event names an id
  with no photo. A row another program's lock keeps out (a backup) is no error: the store holds it on disk and
  writes it once the lock goes, and the sweep spares its photo (``held_rows.py``). Any other error (a folder gone)
  is logged with its traceback and counted (``errors``: the ``edge_agent_evidence_failed`` metric). Short of space, a photo with nothing queued ahead of it is written on the loop as before, so the
  event names no photo the store skips.

The violation log's and the outbox's synced rows stay on the loop: they are the exactly-once guarantee.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from edge_agent.evidence.store import INDEX_SLACK, PROTECTED_KINDS, RESTORED_FACTOR, EvidenceSkipped, EvidenceStore

log = logging.getLogger(__name__)

# photos waiting at most: ~4 visits' identification and violation photos of a 1080p bay photo (~100-300 KB each,
# with its crop), a few MB on a 1 GB device; a card stalled longer than that loses the oldest, not the loop
MAX_PENDING = 16



def _size(job: tuple[Any, ...]) -> int:
    """A queued photo's bytes (the frame's and the crop's JPEG: ``EvidenceStore.write``'s 6th and 7th arguments)."""
    return len(job[5] or b"") + len(job[6] or b"")


class PhotoWriter:
    """Attached to ``store`` (``store.writer``): ``take`` queues a photo ``save`` has given its id, the thread
    writes them in order. ``thread=False``: nothing runs until ``drain`` writes them on the caller's thread (tests,
    deterministic). ``drain`` waits until every photo queued is written (or ``timeout``): tests join the writer with
    it, never with a sleep."""

    def __init__(self, store: EvidenceStore, *, thread: bool = True, max_pending: int = MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.store = store
        self.max_pending = max_pending
        self.dropped = 0  # photos dropped from a full queue
        self.failed = 0  # photos the writer could not write (a bug, or the card refused them)
        # of those, the ones not counted in the store's ``space.skipped`` (a full or read-only card): "database is
        # locked", a folder gone. Before, only here: no metric showed them (``edge_agent_evidence_failed``)
        self.errors = 0
        self.written = 0
        self._q: deque[tuple[Any, ...]] = deque()
        self._bytes = 0  # queued photos' bytes: counted against the store's free-space reserve
        self._busy = False  # a photo taken from the queue is being written
        self._current: str | None = None  # its id
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._run, name="evidence-writer", daemon=True)
            self._thread.start()
        store.writer = self

    @property
    def pending(self) -> int:
        """Photos queued or being written."""
        with self._cond:
            return len(self._q) + self._busy

    def holds(self, eid: str) -> bool:
        """Photo ``eid`` is queued or being written: the page says "being written" for it, and for no other
        photo its index lacks (retention deleted it, or it was dropped, skipped or lost with a process)."""
        with self._cond:
            return self._current == eid or any(j[0] == eid for j in self._q)

    def take(self, job: tuple[Any, ...]) -> bool:
        """Queue ``job`` (``EvidenceStore.write``'s arguments); False: write it now instead (the writer is closed,
        or the card is short of space and nothing is queued: the store then prunes or skips it on the caller's
        thread as before, so a skipped photo's event names none). Never waits for the card."""
        size = _size(job)
        with self._cond:
            if self._closed:
                return False
            if not self._q and not self._busy and self._short_of_space(size):
                return False
            if len(self._q) >= self.max_pending:
                # the oldest plain photo goes first: a violation's is the case under review (the store prunes in the
                # same order, ``_make_room``); only a queue of violation photos loses its oldest
                at = next((i for i, j in enumerate(self._q) if j[4] not in PROTECTED_KINDS), 0)
                old = self._q[at]
                del self._q[at]
                self._bytes -= _size(old)
                self.dropped += 1
                self.store.space.skipped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    log.warning("evidence photos wait for a stalled card: %d queued, the oldest (%s of %s) dropped "
                                "(%d dropped so far); its event stays", self.max_pending, old[4], old[2] or "-",
                                self.dropped)
            self._q.append(job)
            self._bytes += size
            self._cond.notify_all()
        return True

    def _short_of_space(self, size: int) -> bool:
        """A cheap look (``statvfs``, no sync): writing this would bring the card near the store's reserve."""
        store = self.store
        if store.min_free_bytes <= 0:
            return False
        try:
            free = store._free()
        except OSError:
            return True
        return free - size - INDEX_SLACK - self._bytes < store.min_free_bytes * RESTORED_FACTOR

    def drain(self, timeout: float | None = None) -> bool:
        """Every photo queued written: on the thread (waiting up to ``timeout``), or here without one. True when
        none is left."""
        if self._thread is None:
            while (job := self._next(block=False)) is not None:
                self._write(job)
            return True
        with self._cond:
            return self._cond.wait_for(lambda: not self._q and not self._busy, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """``drain``, then no more queueing (later photos are written by the caller) and the thread ends once
        idle. True when nothing was left queued."""
        done = self.drain(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None and done:
            self._thread.join(timeout)
        return done

    def _next(self, block: bool) -> tuple[Any, ...] | None:
        with self._cond:
            while not self._q:
                if self._closed or not block:
                    return None
                self._cond.wait()
            job = self._q.popleft()
            self._bytes -= _size(job)
            self._busy = True
            self._current = job[0]
            return job

    def _write(self, job: tuple[Any, ...]) -> None:
        try:
            self.store.write(*job)
            self.written += 1
        except EvidenceSkipped:  # counted and logged by the store; the event went out naming it
            self.failed += 1
        except Exception:  # noqa: BLE001 - one photo must not end the writer
            self.failed += 1
            self.errors += 1
            log.exception("writing evidence %s (%s) failed", job[0], job[4])
        finally:
            with self._cond:
                self._busy, self._current = False, None
                self._cond.notify_all()

    def _run(self) -> None:
        while (job := self._next(block=True)) is not None:
            self._write(job)
