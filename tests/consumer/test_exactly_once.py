"""Two consumers in one group, a real agent link sending 2,000 events, one consumer SIGKILLed mid-stream
and the broker restarted once: every event_id lands exactly once in PostgreSQL, none lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import PostgresStore
from tests.events.helpers import ChildAgent, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2000


class ConsumerProcess:
    """``edge-agent consume`` as a real process (SIGKILL = a crash between receive and commit)."""

    def __init__(self, broker_url: str, db: str, client_id: str, log: Path) -> None:
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "consume", "--broker", broker_url, "--db", db,
             "--group", "backend", "--client-id", client_id],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log)  # fmt: skip
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode().strip())

    def ready(self) -> None:
        wait_until(lambda: any(line.startswith("consuming") for line in self.lines), 30, "the consumer to subscribe")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self._log.close()
        return next((line for line in self.lines if line.startswith("stopped")), "")


@pytest.mark.broker
@pytest.mark.postgres
def test_every_event_lands_exactly_once_through_a_consumer_crash_and_a_broker_restart(broker, pg_db, tmp_path):
    import psycopg

    def rows() -> int:
        with psycopg.connect(pg_db) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]

    log = tmp_path / "consumers.log"
    c1 = ConsumerProcess(broker.url(), pg_db, "c1", log)
    c2 = ConsumerProcess(broker.url(), pg_db, "c2", log)
    c1.ready()
    c2.ready()
    ids_file = tmp_path / "ids.txt"
    agent = ChildAgent(write_config(tmp_path / "agent.yaml", broker.url(), tmp_path / "data"), EVENTS, ids_file)
    try:
        agent.wait_line("produced", 60)
        wait_until(lambda: rows() >= EVENTS // 5, 60, "a fifth of the events in the database")
        c1.kill()  # mid-stream: messages it received but had not committed come back to it
        wait_until(lambda: rows() >= EVENTS // 2, 60, "half of the events")
        broker.stop()
        broker.start()
        c1 = ConsumerProcess(broker.url(), pg_db, "c1", log)  # same client id: its session waits for it
        c1.ready()
        wait_until(lambda: rows() >= EVENTS, 120, f"all {EVENTS} events in the database")
    finally:
        agent.kill()
        said = [c1.stop(), c2.stop()]
    produced = set(ids_file.read_text().split())
    with psycopg.connect(pg_db) as conn:
        stored = [r[0] for r in conn.execute("SELECT event_id FROM events")]
        per_device = conn.execute("SELECT site, device, count(*) FROM events GROUP BY site, device").fetchall()
    assert len(produced) == EVENTS
    assert len(stored) == len(set(stored)) == EVENTS  # no duplicates …
    assert set(stored) == produced  # … and nothing lost or invented
    assert per_device == [("s1", "dev1", EVENTS)]
    print(f"events sent {EVENTS}, rows {len(stored)}, duplicates 0, lost 0; consumers said: {said}")


class DatabaseDown:
    """A store whose database is unreachable: every write fails (the consumer must not acknowledge)."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def write(self, batch: list) -> None:
        self.batch_sizes.append(len(batch))
        raise ConnectionError("database down")

    def close(self) -> None:
        pass


@pytest.mark.broker
def test_nothing_is_acknowledged_before_it_is_committed(broker, tmp_path):
    """Messages received while the database is down are not PUBACKed: after a crash they come back."""
    import socket

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_agent.consumer.service import Consumer
    from edge_agent.consumer.store import SqliteStore

    down = DatabaseDown()
    crashed = Consumer(broker.url(), down, group="g", client_id="c1").start()
    assert crashed.wait_ready()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    for i in range(20):
        body = f'{{"event_id": "00000000-0000-0000-0000-{i:012d}", "type": "t", "ts": "2026-01-01T08:00:00Z"}}'
        pub.publish("edge/s1/d1/events", body, qos=1).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()
    wait_until(lambda: max(down.batch_sizes, default=0) + crashed._q.qsize() >= 20, 10, "all 20 at the consumer")
    crashed.client.loop_stop()  # a crash: no DISCONNECT, no PUBACK
    crashed.client.socket().shutdown(socket.SHUT_RDWR)

    crashed.stop()  # its writer gives up the failing batch without acknowledging it

    store_path = tmp_path / "e.sqlite"
    again = Consumer(broker.url(), SqliteStore(store_path), group="g", client_id="c1").start()
    try:
        wait_until(lambda: again.counters.written >= 20, 20, "the 20 unacknowledged messages to come back")
    finally:
        again.stop()
    import sqlite3

    assert sqlite3.connect(store_path).execute("SELECT count(DISTINCT event_id) FROM events").fetchone()[0] == 20


@pytest.mark.broker
@pytest.mark.postgres
def test_a_postgres_server_that_restarted_is_written_to_again(broker, pg_cluster):
    """A PostgreSQL restart (an upgrade, a failover, a crash) closed the consumer's connection for good: every
    retry wrote to it again ("the connection is closed") and the messages waited until the consumer itself was
    restarted. Now each retry opens a new connection; the messages held meanwhile land, once each."""
    import psycopg

    consumer = Consumer(broker.url(), PostgresStore(pg_cluster.dsn), group="g", client_id="c-pg-restart").start()
    assert consumer.wait_ready(10)
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="device-sim", protocol=mqtt.MQTTv5)
    device.connect("127.0.0.1", broker.port)
    device.loop_start()

    def _doc(i: int) -> str:
        return json.dumps({"event_id": f"e-{i}", "type": "vehicle_arrived", "ts": "2026-01-01T08:00:00.000+08:00",
                           "bay_id": "A", "data": {}})

    try:
        device.publish("edge/s1/d1/events", _doc(0), qos=1).wait_for_publish(10)
        wait_until(lambda: consumer.counters.written == 1, 20, "the first event written")
        pg_cluster.stop()
        for i in range(1, 6):
            device.publish("edge/s1/d1/events", _doc(i), qos=1).wait_for_publish(10)
        pg_cluster.start()
        wait_until(lambda: consumer.counters.written == 6, 30, "the events held while the server was down")
    finally:
        device.disconnect()
        device.loop_stop()
        consumer.stop()
    with psycopg.connect(pg_cluster.dsn) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (6, 6)
