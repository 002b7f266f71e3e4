"""The threaded tick next to a bus publisher on another thread: no deadlock, no lost events."""

from __future__ import annotations

import threading

from edge_agent.bays.feed import BayFeed
from edge_agent.clock import FakeClock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, BayVision, EventType
from edge_agent.locks import build_locks
from edge_agent.locks.ticker import LockTicker
from tests.locks.conftest import BAY, agent_config, sim_lock


def test_ticker_thread_and_bay_monitor_thread_do_not_deadlock():
    clock, bus, feed = FakeClock(), EventBus(), BayFeed()
    manager = build_locks(agent_config(sim_lock(reverse_delay_s=0)), bus, clock, vision=feed)
    # like the bay monitor: its frame loop holds its own lock while publishing states; its
    # lock_moved handler (bus thread of whoever publishes) copies the state without that lock
    monitor_lock = threading.RLock()
    moved: list[str] = []

    def copy_lock_state(ev) -> None:  # noqa: ANN001 - what the bay monitor does on lock_moved
        moved.append(ev.data["state"])
        bus.publish_state(BayState(BAY, "free", since=iso(clock.now()), lock=ev.data["state"]))

    bus.subscribe(copy_lock_state, {EventType.LOCK_MOVED})
    ticker = LockTicker(manager, tick_s=0.0005, thread=True)
    ticker.start()
    done = threading.Event()

    def camera_thread() -> None:
        for i in range(1500):
            with monitor_lock:  # the monitor publishes states and vision (whose watchers judge at once) under its lock
                bus.publish_state(BayState(BAY, "free" if i % 3 else "occupied", since=iso(clock.now())))
                feed.publish_vision(BAY, BayVision(clock.monotonic(), None, False, i % 5 != 0, "ok"))
            (manager.unlock if i % 2 else manager.lock)(BAY, "stress", "t")
            clock.advance(0.7)
        done.set()

    worker = threading.Thread(target=camera_thread, daemon=True)
    worker.start()
    worker.join(timeout=30)
    # on a deadlock the (daemon) threads are left behind: stop() would block on the same lock
    assert done.is_set(), "deadlock between the lock tick thread and the bay-state publisher"
    ticker.stop()
    assert ticker._thread is None and len(moved) > 100
