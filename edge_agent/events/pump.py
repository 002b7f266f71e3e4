"""Moves outbox rows to the MQTT client in order and deletes them when the broker acks.

One thread owns the ``mid → seq`` map, fed by a queue: paho calls ``on_publish`` on its
network thread while holding its own message lock, so doing the bookkeeping there (or
taking our lock around ``publish``) invites a deadlock, and a PUBACK can even arrive before
``publish()`` has returned its mid. Queued, the ack is handled after the mid is recorded.

Rows are handed over only while connected, at most ``window`` unacked at a time, so a long
outage fills the disk, not paho's memory. Rows already handed over stay with paho across a
reconnect (paho re-sends its unacked QoS 1 messages, in order, after CONNACK); a restarted
process starts from the first row on disk.

A row the broker refuses (a failed PUBACK: ACL, quota) or cannot take (over its announced
maximum packet size) stays on disk, counted in ``held``, and is offered again at the next
connection: the cursor rewinds on every connect and skips rows paho still holds. Deleting it
would lose the event for good the moment a broker was misconfigured, which the outbox exists
to survive; holding it back blocks nothing behind it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

from edge_agent.events.connection import PacketTooLarge
from edge_agent.events.outbox import Outbox

log = logging.getLogger(__name__)

# (topic, payload, qos, retain) -> mid; raises ValueError for a topic paho refuses
PublishFn = Callable[[str, bytes, int, bool], int]


class OutboxPump:
    def __init__(self, outbox: Outbox, publish: PublishFn, window: int = 200,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._outbox = outbox
        self._monotonic = monotonic
        self._publish = publish
        self._window = window
        self._q: queue.Queue[tuple[str, object]] = queue.Queue()
        self._inflight: dict[int, int] = {}  # mid -> seq, pump thread only
        self._cursor = 0
        self._online = False
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._held: set[int] = set()  # seqs refused or too large since the last connect; written by the pump thread
        self.published = 0
        self.rejected = 0
        # since when messages have waited for a PUBACK on this connection with none coming (None: none in flight, or
        # offline): the link drops a connection that acknowledges nothing (``MqttLink.tick``). Pump thread writes
        self.unacked_since: float | None = None

    # -- called from any thread ---------------------------------------------------------

    @property
    def held(self) -> int:
        """Rows refused or too large since the last connect (the heartbeat's ``outbox_refused``).
        Read live: a copy refreshed once per batch lagged ``rejected``, so a heartbeat sent between
        a refusal and the batch's end said 2 held of 5 refused."""
        return len(self._held)

    @property
    def in_flight(self) -> int:
        """Messages handed to paho and not yet answered (read from any thread: a count, not the map)."""
        return len(self._inflight)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._q.put(("stop", None))
            self._thread.join(10)
            self._thread = None

    def wake(self) -> None:
        """New rows are on disk."""
        self._q.put(("wake", None))

    def connected(self, up: bool) -> None:
        self._q.put(("up" if up else "down", None))

    def acked(self, mid: int, ok: bool) -> None:
        self._q.put(("ack" if ok else "nack", mid))

    def flush(self, timeout: float) -> bool:
        """Wait until every row on disk has been acked (True) or ``timeout`` passes (False). The pump is woken first:
        delivered rows a full disk kept (``Outbox.removals_held``) are deleted now if it has room."""
        self.wake()
        with self._idle:
            return self._idle.wait_for(lambda: self._outbox.depth() == 0, timeout)

    # -- pump thread --------------------------------------------------------------------
    def _run(self) -> None:
        running = True
        while running:
            items = [self._q.get()]
            while True:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            done: list[int] = []
            answered = False  # a PUBACK of a row of ours, or a connection change (a QoS 0 heartbeat's is not)
            for kind, arg in items:
                if kind == "stop":
                    running = False
                elif kind in ("up", "down"):
                    self._online = kind == "up"
                    answered = True
                    if self._online:  # offer the held rows again: the broker may take them now
                        self._cursor = 0
                        self._held.clear()
                elif kind in ("ack", "nack"):
                    seq = self._inflight.pop(arg, None) if isinstance(arg, int) else None
                    answered = answered or seq is not None
                    if seq is not None and kind == "ack":
                        done.append(seq)
                    elif seq is not None:  # refused: kept on disk for the next connection
                        self._held.add(seq)
                        self.rejected += 1
            try:
                if done:
                    self._outbox.remove(done)
                elif self._outbox.removals_held:  # delivered rows a full disk kept go once it has room, not at the
                    self._outbox.retry_removals()  # next PUBACK: a quiet site kept them, counted as waiting, and the
                    # next start sent them again (review63); never raises, so the sending below goes on
            except Exception:  # a disk error must not kill the thread, nor stop the sending: the window has room
                # again all the same. Before, a read-only card's failed deletion of a batch of PUBACKs skipped the
                # fill, and with no new row to wake it the rows behind the window waited for a reconnect (review66)
                log.exception("outbox pump: delivered rows not deleted")
            try:
                if running and self._online:
                    self._fill()
            except Exception:  # a disk error must not kill the thread; the next item retries
                log.exception("outbox pump failed")
            self._note_unacked(answered)
            with self._idle:
                self._idle.notify_all()

    def _note_unacked(self, fresh: bool) -> None:
        """``unacked_since``: restarted by an answer or a connection change, set when the first message goes out."""
        if not (self._online and self._inflight):
            self.unacked_since = None
        elif fresh or self.unacked_since is None:
            self.unacked_since = self._monotonic()

    def _fill(self) -> None:
        room = self._window - len(self._inflight)
        if room <= 0:
            return
        with_paho = set(self._inflight.values())  # after a rewind: paho sends these again itself
        for row in self._outbox.pending(self._cursor, room + len(with_paho)):
            if room <= 0:
                break
            self._cursor = row.seq
            if row.seq in with_paho:
                continue
            room -= 1
            self._held.discard(row.seq)
            try:
                mid = self._publish(row.topic, row.payload, row.qos, row.retain)
            except PacketTooLarge as exc:
                self._held.add(row.seq)
                self.rejected += 1
                if len(self._held) == 1 or len(self._held) % 100 == 0:
                    log.error("outbox row %d to %r is %s; kept on disk and offered again at the next connection "
                              "(%d held)", row.seq, row.topic, exc, len(self._held))
            except ValueError as exc:  # a topic paho refuses would block the queue for ever
                log.error("outbox row %d to %r cannot be published (%s); discarded", row.seq, row.topic, exc)
                self._outbox.remove([row.seq])
                self.rejected += 1
            else:
                self._inflight[mid] = row.seq
                self.published += 1
