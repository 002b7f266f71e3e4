"""A sink's dead letters: events its endpoint refused for good, moved aside so the events behind them go on.

Why on disk and not just logged: a refused event is still a violation or a fault someone should
hear about; the operator reads the file, fixes the receiver and re-sends by hand. Each row is one
JSON document — ``{at, sink, status, reason, tries, event}`` (``payload`` instead of ``event`` for
a row that was not even readable) — in the same durable ``Outbox`` file format the sink queues in,
``{data_dir}/notify-dead/<sink>.sqlite`` (a folder of its own: no sink name can collide with it).
The reason is the already-scrubbed answer: no key, token or signature is ever written here.
Beyond ``max_rows`` the oldest are dropped (counted by the outbox and logged).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edge_agent.events.outbox import Outbox

log = logging.getLogger(__name__)


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """What the heartbeat shows of the latest dead letter."""
    event = doc.get("event") if isinstance(doc.get("event"), dict) else {}
    return {"event_id": event.get("event_id"), "type": event.get("type"), "status": doc.get("status"),
            "reason": doc.get("reason"), "at": doc.get("at")}


class DeadLetters:
    def __init__(self, path: str | Path, max_rows: int) -> None:
        self.path = Path(path)
        self._box = Outbox(self.path, max_rows=max_rows, overflow="drop_oldest")
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
        if self._box.put(str(event_id or "?"), json.dumps(doc, ensure_ascii=False).encode()) is None:
            return False
        self.last = _summary(doc)
        return True

    def count(self) -> int:
        return self._box.depth()

    def close(self) -> None:
        self._box.close()
