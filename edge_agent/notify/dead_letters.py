"""A sink's dead letters: events its endpoint refused for good, moved aside so the events behind them go on.

Why on disk and not just logged: a refused event is still a violation or a fault someone should
hear about; the operator reads the file, fixes the receiver and re-sends by hand. Each row is one
JSON document — ``{at, sink, status, reason, tries, event}`` (``payload`` instead of ``event`` for
a row that was not even readable) — in the same durable ``Outbox`` file format the sink queues in,
``{data_dir}/notify-dead/<sink>.sqlite`` (a folder of its own: no sink name can collide with it).
The reason is the already-scrubbed answer: no key, token or signature is ever written here.
Beyond ``max_rows`` the oldest are dropped (counted by the outbox and logged), and none is kept longer than the
evidence (``evidence.max_age_days``, ``expire`` in the agent's hourly pass): each names a plate, a place and a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_agent.events.outbox import Outbox

log = logging.getLogger(__name__)


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """What the heartbeat shows of the latest dead letter."""
    event = doc.get("event") if isinstance(doc.get("event"), dict) else {}
    return {"event_id": event.get("event_id"), "type": event.get("type"), "status": doc.get("status"),
            "reason": doc.get("reason"), "at": doc.get("at")}


def _added_at(payload: bytes) -> float:
    """A row's ``at`` as epoch seconds; infinity (never old) when it cannot be read."""
    try:
        return datetime.fromisoformat(json.loads(payload)["at"]).timestamp()
    except (ValueError, TypeError, KeyError, AttributeError):
        return float("inf")


class DeadLetters:
    def __init__(self, path: str | Path, max_rows: int, monotonic: Callable[[], float] | None = None) -> None:
        self.path = Path(path)
        self._box = Outbox(self.path, max_rows=max_rows, overflow="drop_oldest")
        self._monotonic = monotonic
        self._added: dict[int, float] = {}  # this process's rows: seq → monotonic time added (``expire``)
        self.last: dict[str, Any] | None = None
        row = self._box.last()
        if row is not None:
            try:
                self.last = _summary(json.loads(row.payload))
            except (ValueError, AttributeError):
                log.warning("dead letters %s: the newest row is not readable", self.path)

    def add(self, sink: str, payload: bytes, *, status: int | None, reason: str, tries: int, at: str) -> bool:
        """Keep one refused row; False when it could not be written (the caller keeps it queued then)."""
        doc: dict[str, Any] = {"at": at, "sink": sink, "status": status, "reason": reason, "tries": tries}
        try:
            doc["event"] = json.loads(payload)
        except ValueError:
            doc["payload"] = payload.decode("utf-8", errors="replace")
        event_id = doc["event"].get("event_id") if isinstance(doc.get("event"), dict) else None
        seq = self._box.put(str(event_id or "?"), json.dumps(doc, ensure_ascii=False).encode())
        if seq is None:
            return False
        if self._monotonic is not None:
            self._added[seq] = self._monotonic()
        self.last = _summary(doc)
        return True

    def expire(self, now: float, max_age_s: float, batch: int = 500) -> int:
        """Delete the rows added (``at``) more than ``max_age_s`` before ``now`` (epoch); returns how many went.

        ``at`` is the wall clock's, which NTP steps: a row this process added also waits until ``max_age_s`` have
        passed on the monotonic clock, so a clock stepped forward cannot take a letter of minutes ago (the
        evidence store's rule). A row whose ``at`` cannot be read is kept (``max_rows`` still bounds it)."""
        mono = self._monotonic() if self._monotonic is not None else None
        self._added = {k: t for k, t in self._added.items() if mono is None or mono - t < max_age_s}
        doomed: list[int] = []
        after = 0
        while rows := self._box.pending(after, batch):
            for row in rows:
                if row.seq not in self._added and _added_at(row.payload) < now - max_age_s:
                    doomed.append(row.seq)
            after = rows[-1].seq
        n = self._box.remove(doomed)
        if n:
            newest = self._box.last()
            try:
                self.last = _summary(json.loads(newest.payload)) if newest is not None else None
            except (ValueError, AttributeError):
                self.last = None
        return n

    def count(self) -> int:
        return self._box.depth()

    def close(self) -> None:
        self._box.close()
