"""A bay's retained state delivered while the card was full: its row could not be deleted (SQLite needs WAL room for
that too) and is kept out of the sending (chaos36). It still counted as "a newer one waiting in the outbox" at the
next connect, so the agent did not say that bay's state again — and the pump never sends it either. A broker
restarted without persistence (mosquitto's default) meanwhile had forgotten it: that bay had no state for any backend
or Home Assistant until it next changed (probe review63). A row already delivered waits for nothing."""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import BayState
from tests.events.conftest import _need_mosquitto
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
B1, B2 = f"{PREFIX}/bays/B1/state", f"{PREFIX}/bays/B2/state"


def test_a_state_delivered_on_a_full_card_is_said_again_after_a_broker_restart(tmp_path, tiny_disk):  # noqa: F811
    _need_mosquitto()
    disk = tiny_disk(3)
    broker = LocalBroker(tmp_path / "broker")
    broker.config = broker.config_text().replace("persistence true", "persistence false")
    broker.start()
    bus = EventBus()
    cfg = make_config(broker.url(), disk, reconnect_min_s=1, reconnect_max_s=1, outbox={"reserve_mb": 0})
    link = build_mqtt(cfg, bus, RecordingControl(), FakeClock(), no_health)
    link.start()
    filler = None
    sub = None
    try:
        wait_until(lambda: link.status().connected, what="the first connect")
        bus.publish_state(BayState("B1", "free", "2026-01-01T08:00:00.000+08:00"))
        bus.publish_state(BayState("B2", "free", "2026-01-01T08:00:00.000+08:00"))
        wait_until(lambda: link.outbox.depth() == 0, what="delivery")
        broker.stop()
        wait_until(lambda: not link.status().connected, what="the link to notice")
        bus.publish_state(BayState("B1", "occupied", "2026-01-01T08:05:00.000+08:00", visit_id="v-1"))
        assert link.outbox.depth() == 1
        assert link.outbox._db is not None
        link.outbox._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: the deletion needs new pages
        filler = fill(disk)  # the card full: the row is delivered at the reconnect, its deletion refused
        broker.start()
        wait_until(lambda: link.outbox.removals_held == 1, 20, "the delivery the full card cannot delete")
        broker.stop()  # forgets every retained message
        wait_until(lambda: not link.status().connected, what="the link to notice")
        broker.start()
        sub = Subscriber(broker.port, f"{PREFIX}/#").start()
        wait_until(lambda: link.status().connects == 3, 20, "the reconnect")
        wait_until(lambda: sub.on(B2), 10, "the states said again at the connect (B1's before B2's)")
        got = [m.payload for m in sub.on(B1)]
    finally:
        if sub is not None:
            sub.stop()
        link.stop()
        broker.stop()
        if filler is not None:
            filler.unlink()
    assert got and b'"visit_id":"v-1"' in got[-1]
