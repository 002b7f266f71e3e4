"""A bay's state is published again with the same ``since`` when its lock moves or a plate is read; consumers
sharing a group (``$share``) commit one bay's messages in any order. Ordered by ``since`` alone, the table kept
whichever came last: two consumers left 120 of 200 bays ``lock: moving`` after their lock went down. The agent
stamps each state with ``ts`` (contract 1.6.0) and the store keeps, for one ``since``, the latest ``ts``."""

from __future__ import annotations

import json
import sqlite3

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.config import parse_config
from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import PostgresStore, Record, SqliteStore
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import BayState
from tests.events.helpers import RecordingControl, Subscriber, config_dict, make_config, wait_until

PREFIX = "edge/s1/dev1"


def _agent_states(broker, tmp_path) -> list[dict]:  # noqa: ANN001
    """What a real agent link publishes while bay B1's NEV is identified and its lock lowers."""
    clock = FakeClock()
    bus = EventBus()
    backend = Subscriber(broker.port, [f"{PREFIX}/bays/+/state", f"{PREFIX}/status"]).start()
    link = build_mqtt(make_config(broker.url(), tmp_path / "data"), bus, RecordingControl(), clock,
                      lambda: HealthFigures(5.0, 40.0, True))
    link.start()
    since = iso(clock.now())
    try:  # connected first: a state still in the outbox is replaced by the bay's next one
        backend.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online")
        for n, lock in enumerate(("up", "moving", "down"), 1):  # seconds apart, as an arm moves
            bus.publish_state(BayState("B1", "identified", since, "v1", "粤BD12345", "green", True, "green plate", lock))
            wait_until(lambda n=n: len(backend.on(f"{PREFIX}/bays/B1/state")) == n, what=f"state {n}")
            clock.advance(1.5)
    finally:
        link.stop()
        backend.stop()
    return [m.json() for m in backend.on(f"{PREFIX}/bays/B1/state")]


def _check(store, lock) -> None:  # noqa: ANN001
    """Each of the agent's states committed in the reverse order: the bay reads as last published."""
    states = _check.states  # type: ignore[attr-defined]
    assert [s["lock"] for s in states] == ["up", "moving", "down"] and len({s["since"] for s in states}) == 1
    for doc in reversed(states):
        store.write([Record("s1", "dev1", "state", "B1", doc)])
    assert lock() == "down"
    # a later state wins whatever its ts (a restart's clock, a device without ts)
    store.write([Record("s1", "dev1", "state", "B1", {"bay_id": "B1", "state": "free", "lock": "up",
                                                        "since": "2099-01-01T00:00:00+00:00"})])
    assert lock() == "up"


@pytest.mark.broker
def test_republished_states_keep_the_latest_whatever_order_they_are_committed_in(broker, tmp_path):
    _check.states = _agent_states(broker, tmp_path)  # type: ignore[attr-defined]
    ts = [s["ts"] for s in _check.states]  # type: ignore[attr-defined]
    assert ts == sorted(ts) and len(set(ts)) == 3
    db = tmp_path / "c.sqlite"
    _check(SqliteStore(db), lambda: json.loads(sqlite3.connect(db).execute("SELECT doc FROM bay_states")
                                               .fetchone()[0])["lock"])


@pytest.mark.broker
@pytest.mark.postgres
def test_postgres_keeps_the_latest_of_one_since(broker, tmp_path, pg_db):
    import psycopg

    _check.states = _agent_states(broker, tmp_path)  # type: ignore[attr-defined]

    def lock() -> str:
        with psycopg.connect(pg_db) as conn:
            return conn.execute("SELECT doc->>'lock' FROM bay_states").fetchone()[0]

    _check(PostgresStore(pg_db), lock)


@pytest.mark.broker
def test_a_bay_the_device_took_out_of_its_config_leaves_the_consumers_table(broker, tmp_path):
    """The agent clears the retained state of a bay a reload removed (an empty message on its topic): the
    consumer deleted nothing and refused the empty message as "not standard JSON", so ``bay_states`` kept a
    bay that no longer exists as ``free`` for ever."""
    db = tmp_path / "c.sqlite"
    consumer = Consumer(broker.url(), SqliteStore(db), group="g", client_id="c-removed").start()
    assert consumer.wait_ready(10)
    bus, clock = EventBus(), FakeClock()
    raw = config_dict(broker.url(), tmp_path / "data")
    ids = [b["id"] for b in raw["bays"]]
    assert len(ids) >= 2
    link = build_mqtt(parse_config(raw, base_dir=tmp_path), bus, RecordingControl(), clock,
                      lambda: HealthFigures(5.0, 40.0, True))

    def bays() -> set[str]:
        return {r[0] for r in sqlite3.connect(db).execute("SELECT bay_id FROM bay_states")}

    try:
        link.start()
        for b in ids:
            bus.publish_state(BayState(b, "free", iso(clock.now())))
        wait_until(lambda: bays() == set(ids), what="every bay stored")
        link.config_applied(parse_config({**raw, "bays": raw["bays"][:1]}, base_dir=tmp_path), [])
        wait_until(lambda: bays() == {ids[0]}, what="the removed bays' rows deleted")
        assert consumer.counters.rejected == 0
    finally:
        link.stop()
        consumer.stop()
