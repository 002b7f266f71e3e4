"""What the live page's note says of a lock (``LockManager.lock_notes``) against what the lock did: no "overdue,
check the wiring" for a lowering merely due before the next tick, and no refusal from before a reset left standing
after it. Real pins (gpiozero's MockFactory), the lock stage as the agent builds it."""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, DOWN
from tests.locks.test_motor_write_failed import failing


def test_a_lowering_due_before_the_next_tick_is_not_a_failed_write(make_rig):
    """After a rise stopped for a car the lowering waits ``reverse_delay_s``; for up to a tick past that it is due
    and not yet started. The page said then "owed since …: the motor line did not take it, tried again at every
    tick; check the lock's driver and wiring" of a lock whose every write worked (review42)."""
    rig = make_rig("gpio", position=0.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.watch_free()
    assert rig.manager.lock(BAY, "test raise", "ops").ok
    rig.step(1.0)
    rig.set_vehicle(True)  # a car noses in: the rise stops, the lowering waits reverse_delay_s
    note = rig.manager.lock_notes()[BAY]
    assert note.lowering_in_s == rig.lock_cfg.reverse_delay_s and not note.lowering_retried
    rig.clock.advance(rig.lock_cfg.reverse_delay_s + 0.05)  # due; the lock's tick has not run yet
    note = rig.manager.lock_notes()[BAY]
    assert note.lowering_in_s == 0.0 and not note.lowering_retried
    rig.step(0.1)
    assert rig.down_active() and rig.manager.lock_notes()[BAY].lowering_in_s is None  # started at the tick
    rig.step(4)
    rig.safe()


def test_a_lowering_whose_write_failed_is_said_retried_until_it_starts(make_rig):
    rig = make_rig("gpio", position=1.0)
    failing(rig.pin(DOWN), True, times=None)  # the DOWN line's writes fail (a GPIO chip's I/O error)
    assert rig.manager.unlock(BAY, "visitor", "ops").ok
    for _ in range(3):  # retried at each tick, failing each time: said so at every look
        note = rig.manager.lock_notes()[BAY]
        assert note.lowering_in_s == 0.0 and note.lowering_retried and note.lowering_since
        rig.step(0.1)
    del rig.pin(DOWN)._set_state  # the chip works again
    rig.step(0.1)
    assert rig.down_active() and rig.manager.lock_notes()[BAY].lowering_in_s is None


def test_a_reset_ends_the_refusals_said_before_it(make_rig):
    """A reset refused while the sensor was lost said "presence sensor still lost"; once the sensor was back and the
    reset done, the page went on saying that refusal (the arm already down, nothing moved it) for as long as a car
    then stayed: the operator read the reset as failed (review42). The events are as they were."""
    rig = make_rig("gpio", position=0.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.inject("lose_presence", True)
    rig.step(2)  # past presence.stale_s
    assert rig.manager.status()[BAY]["fault"] == "presence_unknown"
    assert not rig.manager.reset(BAY, "ops").ok  # still lost: refused
    assert rig.manager.lock_notes()[BAY].refused is None  # the fault says it, not "refused" beside it
    rig.inject("lose_presence", False)
    rig.step(1)
    assert rig.manager.reset(BAY, "ops").ok and rig.state == "down"
    rig.bay("occupied")
    rig.see(occupied=True, p_occupied=0.95)
    rig.set_vehicle(True)
    rig.step(60)
    note = rig.manager.lock_notes()[BAY]
    assert note.fault is None and note.refused is None, note
    assert [e.data["code"] for e in rig.of(EventType.LOCK_REFUSED)] == ["presence_unknown"]  # said once, as before
    assert rig.manager.lock(BAY, "test raise", "ops").data["code"] == "vehicle_present"  # a new refusal: said
    assert rig.manager.lock_notes()[BAY].refused == "vehicle_present"
    rig.safe()
