"""Consumer throughput and end-to-end latency on loopback: ``python -m edge_agent.consumer.bench [--db URL]``.

A paho publisher sends N event payloads (QoS 1) stamped with their send time; one consumer writes them;
latency = commit time − send time, read back from the database. Prints events/s and latency median / p99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import open_store
from edge_agent.events.broker import LocalBroker


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--db", help="database URL (default: a temp SQLite file)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="events per second (0: as fast as possible — a burst measures throughput, a steady rate "
                         "measures latency without a backlog)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, LocalBroker(Path(d) / "broker") as broker:
        db = args.db or str(Path(d) / "bench.sqlite")
        consumer = Consumer(broker.url(), open_store(db), group="bench", client_id="bench-1").start()
        consumer.wait_ready()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(100)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        t0 = time.perf_counter()
        infos = []
        for i in range(args.events):
            ts = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            body = {"event_id": str(uuid.uuid4()), "type": "vehicle_arrived", "ts": ts, "bay_id": "A",
                    "visit_id": None, "evidence_id": None, "data": {"i": i}}
            infos.append(pub.publish("edge/bench/dev/events", json.dumps(body), qos=1))
            if args.rate > 0:
                time.sleep(max(0.0, t0 + (i + 1) / args.rate - time.perf_counter()))
        for info in infos:
            info.wait_for_publish(30)
        while consumer.counters.written < args.events and time.perf_counter() - t0 < 120:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        pub.loop_stop()
        pub.disconnect()
        consumer.stop()
        store = open_store(db)
        rows = store.conn.execute("SELECT ts, received_at FROM events").fetchall()  # type: ignore[attr-defined]
        store.close()
    lat = sorted((datetime.fromisoformat(str(r)).timestamp() - datetime.fromisoformat(str(t)).timestamp()) * 1000
                 for t, r in rows)
    p99 = lat[int(0.99 * (len(lat) - 1))]
    print(f"consumer bench: {len(rows)}/{args.events} events in {elapsed:.2f} s = {len(rows) / elapsed:.0f} events/s "
          f"into {'PostgreSQL' if db.startswith('postgres') else 'SQLite'}"
          f"{f' at {args.rate:g}/s offered' if args.rate else ' (burst)'}; end-to-end latency median "
          f"{statistics.median(lat):.1f} ms, p99 {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
