"""Outbox benchmark for ``make bench``: write latency and PUBACKed throughput.

- write latency: one event on the bus → one committed SQLite row (``synchronous=full``:
  an fsync per event, the price of surviving a power cut); median and p95 over ``events``.
- throughput: a backlog of ``events`` rows (as after an outage) drained through the real
  MQTT link to a local mosquitto, counted when the last PUBACK has removed the last row.

    python -m edge_agent.events.bench [--events N] [--sync full|normal]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_agent.clock import SystemClock
from edge_agent.config import parse_config
from edge_agent.control import ControlError, ControlResult
from edge_agent.events.broker import BrokerError, LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event, EventType


class _NoControl:
    """The benchmark sends no commands; anything that arrives is refused."""

    def bay_ids(self) -> list[str]:
        return ["B1"]

    def __getattr__(self, name: str) -> Any:
        def refuse(*_a: Any, **_k: Any) -> ControlResult:
            raise ControlError("unavailable", "benchmark agent")

        return refuse


def _config(url: str, data_dir: Path, sync: str) -> Any:
    return parse_config({
        "site": {"site_id": "bench", "device_id": "bench1"},
        "camera": {"source": "none"},
        "bays": [{"id": "B1", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}],
        "data_dir": str(data_dir),
        "mqtt": {"enabled": True, "brokers": [url], "outbox": {"synchronous": sync, "max_rows": 1_000_000}},
    })  # fmt: skip


def run_outbox_bench(events: int = 2000, synchronous: str = "full", timeout_s: float = 120.0) -> dict[str, Any]:
    """Returns ``outbox_write_median_ms``, ``outbox_write_p95_ms``, ``publish_events_per_s``
    (None with ``publish_skipped`` when mosquitto is not installed) and the parameters."""
    out: dict[str, Any] = {"events": events, "synchronous": synchronous}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        root = Path(tmp)
        broker = LocalBroker(root / "broker")
        clock, bus = SystemClock(), EventBus()
        link = build_mqtt(_config(broker.url(), root / "data", synchronous), bus, _NoControl(), clock, no_health)
        try:
            lat = []
            for i in range(events):  # not started yet: rows pile up as during an outage
                e = Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="B1", data={"seq": i, "plate": "京AD12345"})
                t = time.perf_counter()
                bus.publish(e)
                lat.append((time.perf_counter() - t) * 1000)
            out["outbox_write_median_ms"] = round(statistics.median(lat), 3)
            out["outbox_write_p95_ms"] = round(statistics.quantiles(lat, n=20)[-1], 3)
            try:
                broker.start()
            except BrokerError as exc:
                out.update(publish_events_per_s=None, publish_skipped=str(exc))
                return out
            t0 = time.perf_counter()
            link.start()
            deadline = t0 + timeout_s
            while link.outbox_depth() > 0 and time.perf_counter() < deadline:
                time.sleep(0.005)  # polling a real broker's progress; the measurement is wall time
            elapsed = time.perf_counter() - t0
            left = link.outbox_depth()
            out["publish_events_per_s"] = round((events - left) / elapsed, 1)
            out["publish_seconds"] = round(elapsed, 3)
            out["undelivered"] = left
        finally:
            link.stop(flush_s=0)
            broker.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--sync", choices=["full", "normal"], default="full")
    args = ap.parse_args(argv)
    print(json.dumps(run_outbox_bench(args.events, args.sync), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
