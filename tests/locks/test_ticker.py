"""The threaded tick next to a bus publisher on another thread: no deadlock, no lost events."""

from __future__ import annotations

import math
import threading

from edge_agent.bays.feed import BayFeed
from edge_agent.clock import FakeClock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, BayVision, EventType
from edge_agent.locks import build_locks
from edge_agent.locks.interlock import TICK_FAILS
from edge_agent.locks.ticker import LockTicker
from tests.locks.conftest import BAY, agent_config, sim_lock


def test_ticker_thread_and_bay_monitor_thread_do_not_deadlock():
    clock, bus, feed = FakeClock(), EventBus(), BayFeed()
    # a stress of the threads, not of the motor: its duty limit (max_moves) out of the way
    manager = build_locks(agent_config(sim_lock(reverse_delay_s=0, max_moves=200, max_moves_window_s=10)), bus, clock,
                          vision=feed)
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

    # spells of cars and doubt (a car every 3rd frame, an unsure one every 5th), each followed by the bay seen free,
    # confidently, for auto_raise_delay_s and 40 frames more: every raise, a remote lock too, needs that watch
    # (probe review74), so the locks of those 40 frames move the arm
    frame_s, doubt = 0.7, 15
    period = doubt + math.ceil(manager._unit(BAY).controller.cfg.auto_raise_delay_s / frame_s) + 40

    def camera_thread() -> None:
        for i in range(1500):
            mixed = i % period < doubt
            with monitor_lock:  # the monitor publishes states and vision (whose watchers judge at once) under its lock
                bus.publish_state(BayState(BAY, "free" if i % 3 or not mixed else "occupied", since=iso(clock.now())))
                feed.publish_vision(BAY, BayVision(clock.monotonic(), None, False, i % 5 != 0 or not mixed, "ok"))
            (manager.unlock if i % 2 else manager.lock)(BAY, "stress", "t")
            clock.advance(frame_s)
        done.set()

    worker = threading.Thread(target=camera_thread, daemon=True)
    worker.start()
    worker.join(timeout=30)
    # on a deadlock the (daemon) threads are left behind: stop() would block on the same lock
    assert done.is_set(), "deadlock between the lock tick thread and the bay-state publisher"
    ticker.stop()
    assert ticker._thread is None and len(moved) > 100


def test_a_lock_whose_tick_fails_is_stopped_and_faulted_and_the_others_still_tick(caplog):
    """One lock whose driver raises on every read (a GPIO chip gone) ended the manager's tick before the locks
    after it: their motors ran on with nobody watching their timeouts. Now that lock alone stops, latches
    ``tick_failed`` (logged once), and the next lock's arm still reaches its end."""
    from edge_agent.config.load import parse_config

    cfg = parse_config({
        "site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": "0"},
        "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]]},
                 {"id": "B2", "polygon": [[200, 0], [300, 0], [300, 100]]}],
        "occupancy": {"classify_every_s": 0.5},
        "locks": [sim_lock(id="L1", bay="B1", simulator={"travel_time_s": 3.0, "start": "up"}),
                  sim_lock(id="L2", bay="B2", simulator={"travel_time_s": 3.0, "start": "up"})],
    })
    clock, bus = FakeClock(), EventBus()
    manager = build_locks(cfg, bus, clock, vision=BayFeed())
    faults: list[dict] = []
    bus.subscribe(lambda ev: faults.append(ev.data), {EventType.LOCK_FAULT})
    manager.start()
    broken = manager.driver("B1")

    def gone() -> None:
        raise OSError("GPIO chip gone")

    assert manager.unlock("B1", "test", "t").ok and manager.unlock("B2", "test", "t").ok
    for _ in range(5):  # both arms on their way down
        clock.advance(0.1)
        manager.tick()
    assert broken.arm.drive == "down"
    broken.read_switches = gone  # type: ignore[method-assign]
    for _ in range(60):  # 6 s of ticks: the 3 s stroke and then some
        clock.advance(0.1)
        manager.tick()
    assert manager.state("B2") == "down"  # ticked, whatever B1 did
    assert manager.state("B1") == "fault" and [f["code"] for f in faults] == ["tick_failed"]
    assert "GPIO chip gone" in faults[0]["message"]
    assert broken.arm.drive is None and 0 < broken.arm.position < 1  # its motor stopped where it was
    # tried again at the next ticks (one transient error is no fault), latched at the third: said that often, no more
    assert caplog.text.count("its tick failed") == TICK_FAILS and caplog.text.count("fault latched") == 1
