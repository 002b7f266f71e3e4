"""A per-device quota on what the consumer stores: a token bucket of bytes per (site, device).

Why: nothing bounded what one device's credentials could make the database keep. Each new ``event_id`` is a row
kept for ever (or ``--event-days``), each new bay a ``bay_states`` row, a heartbeat every ``--health-every-s`` a row
for ``--health-days``, each up to ``MAX_DOCUMENT_BYTES``: one device publishing 1 MB events stored 300 of them
(416 MB of SQLite) in 5.5 s on loopback, a disk of 50 GB full in about 15 minutes, every other device's events
waiting behind them. An agent sends a few MB a day (a heartbeat of ~1.5 kB a minute, events of ~1 kB), and its
outbox replays at most ``mqtt.outbox.max_rows`` (100,000) after an outage: the default quota holds that burst.

A message costs its payload plus ``ROW_COST`` (a row's keys and indexes), so a flood of tiny documents is bounded
too. Every message but a cleared bay state costs. Over the quota, a device's messages are refused (acknowledged, not stored, counted) until its bucket refills
at ``mib_per_day`` a day; the other devices' messages are not touched. The bucket is per consumer instance: the
instances of a group share a device's messages, so a group of N stores at most N times the quota from one device.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: bytes a stored message costs beyond its payload: its row's keys, columns and index entries
ROW_COST = 512
#: MiB a device may have stored a day, and at once (the bucket's size) by default
MIB_PER_DAY = 256.0
#: buckets kept before the full ones (a device under its quota) are forgotten: a full bucket is a new one
TRACKED = 4096


@dataclass
class _Bucket:
    tokens: float
    at: float
    refused: int = 0  # messages refused since the device went over its quota
    refused_bytes: int = 0
    health_at: float | None = None  # when a heartbeat last cost (one that may have become a row)


class DeviceQuota:
    """``take(key, nbytes, now)``: whether the device may store a message of ``nbytes`` at ``now`` (monotonic s)."""

    def __init__(self, mib_per_day: float = MIB_PER_DAY) -> None:
        if not 0 < mib_per_day <= 1_000_000:
            raise ValueError("mib_per_day is over 0, at most 1000000")
        self.size = mib_per_day * (1 << 20)
        self.rate = self.size / 86400.0  # bytes a second
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._forget_at = TRACKED

    def take(self, key: tuple[str, str], nbytes: int, now: float,
             row_every_s: float | None = None) -> tuple[bool, int, int]:
        """Spend ``nbytes + ROW_COST`` of the device's bucket if it holds them. Returns whether it did, and the
        messages and payload bytes refused: on a refusal, since the device went over its quota (1: it just did);
        on the first message taken after refusals, how many there were (for the log), else 0.

        ``row_every_s`` (a heartbeat): the store keeps one row per device that often and only updates the
        device's latest otherwise, so a message within that time of the last one that cost is free."""
        cost = nbytes + ROW_COST
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                if len(self._buckets) >= self._forget_at:
                    self._forget_full(now)
                b = self._buckets[key] = _Bucket(self.size, now)
            b.tokens = min(self.size, b.tokens + max(0.0, now - b.at) * self.rate)
            b.at = now
            if row_every_s is not None:
                if b.health_at is not None and 0 <= now - b.health_at < row_every_s:
                    return True, 0, 0
            if b.tokens < cost:
                b.refused += 1
                b.refused_bytes += nbytes
                return False, b.refused, b.refused_bytes
            b.tokens -= cost
            if row_every_s is not None:
                b.health_at = now
            refused, refused_bytes, b.refused, b.refused_bytes = b.refused, b.refused_bytes, 0, 0
            return True, refused, refused_bytes

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled: a device under its quota needs no memory of it. Next time at twice
        what is left, so that many devices over their quota at once cost no pass per new device."""
        self._buckets = {k: b for k, b in self._buckets.items()
                         if b.tokens + max(0.0, now - b.at) * self.rate < self.size}
        self._forget_at = max(TRACKED, 2 * len(self._buckets))
