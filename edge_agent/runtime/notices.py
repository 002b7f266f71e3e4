"""Health events about the device's own data: still images the decoder had to truncate, reduce
or refuse, the evidence index rebuilt after corruption, the disk short of the outbox's reserve.

Why a separate piece: these are read from counters the camera and evidence stages keep (they
have no bus), and each must be said once per change — a full disk must not fill itself
with notices, a folder of bad images must not flood the backend.
"""

from __future__ import annotations

from typing import Any

from edge_agent.clock import Clock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType

DECODE_WARNING_EVERY_S = 600.0  # after the first of a kind, its running count at most this often


class DeviceNotices:
    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self.bus, self.clock = bus, clock
        self._decode_told: dict[str, tuple[int, float]] = {}  # kind → (count announced, when)
        self._storage_low = False

    def started(self, evidence: Any) -> None:
        """At start, with the sinks listening: the backend must learn the index was rebuilt."""
        recovered = getattr(evidence, "recovered", None)
        if recovered:
            self.bus.publish(Event.make(EventType.EVIDENCE_INDEX_RESET, self.clock, data=dict(recovered)))

    def check(self, source: Any, evidence: Any) -> None:
        """Once per loop turn: cheap reads of two counters."""
        self._check_decode(getattr(source, "decode_counts", None))
        self._check_storage(evidence)

    def figures(self, source: Any, evidence: Any) -> dict[str, int]:
        """For the heartbeat's ``extra``."""
        out: dict[str, int] = {}
        counts = getattr(source, "decode_counts", None)
        if counts is not None:
            out.update({f"images_{k}": n for k, n in counts.snapshot().items() if n})
        space = getattr(evidence, "space", None)
        if space is not None:
            out.update(evidence_pruned=space.pruned, evidence_skipped=space.skipped)
        return out

    def _check_decode(self, counts: Any) -> None:
        if counts is None:
            return
        now = self.clock.monotonic()
        for kind, n in counts.snapshot().items():
            told, at = self._decode_told.get(kind, (0, float("-inf")))
            if n > told and (told == 0 or now - at >= DECODE_WARNING_EVERY_S):
                self._decode_told[kind] = (n, now)
                self.bus.publish(Event.make(EventType.CAMERA_IMAGE_WARNING, self.clock, data={
                    "kind": kind, "count": n, "detail": counts.last.get(kind, "")[:200]}))

    def _check_storage(self, evidence: Any) -> None:
        space = getattr(evidence, "space", None)
        if space is None or space.low == self._storage_low:
            return
        self._storage_low = space.low
        kind = EventType.STORAGE_LOW if space.low else EventType.STORAGE_RESTORED
        self.bus.publish(Event.make(kind, self.clock, data={
            "free_mb": space.free_mb, "reserve_mb": round(evidence.min_free_bytes / 1e6, 1),
            "evidence_pruned": space.pruned, "evidence_skipped": space.skipped}))
