"""Rate limit for repeated ``lock_refused`` events on their way into the outbox.

Why: each refused remote ``lock`` adds a *protected* (never dropped) event to the outbox, so
a flood of commands the interlock refuses — a stuck backend retrying, or an attacker with
publish rights — could fill the disk with copies of one fact. The first refusal of a key
(bay, reason code) goes through; identical ones within ``interval_s`` are counted, and the
next one let through carries ``suppressed``: how many were left out since the previous one.
A refusal with another code or for another bay is news and is never held back; so is the agent's own (no
operator: the policy's held raise, said once an episode) after a command's answer of the same code, and back.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from edge_agent.clock import Clock
from edge_agent.events.types import Event, EventType


class RefusalLimiter:
    def __init__(self, clock: Clock, interval_s: float) -> None:
        self._clock = clock
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[tuple[str | None, str, bool], float] = {}  # key -> monotonic time let through
        self._held: dict[tuple[str | None, str, bool], int] = {}
        self.suppressed_total = 0

    def admit(self, event: Event) -> Event | None:
        """The event to store (maybe with ``data.suppressed``), or None when it is a repeat."""
        if event.type != EventType.LOCK_REFUSED or self.interval_s <= 0:
            return event
        # a command's answer and the agent's own word apart: the policy's held raise, said once an episode, was
        # swallowed by a command's refusal of the code within interval_s (locks40)
        key = (event.bay_id, str(event.data.get("code")), "operator" in event.data)
        now = self._clock.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                self.suppressed_total += 1
                return None
            self._last[key] = now
            held = self._held.pop(key, 0)
            if len(self._last) > 10_000:  # many keys: forget those whose interval is over
                self._last = {k: t for k, t in self._last.items() if now - t < self.interval_s}
        if not held:
            return event
        return replace(event, data={**event.data, "suppressed": held})
