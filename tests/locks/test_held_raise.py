"""A raise the policy wants, held back by something that is no vehicle, is said.

Every code but a vehicle's restarts the policy's free timer, so the raise never falls due and nothing is refused. A bay
held ``bay_changed`` (its picture differs from its empty picture: rain, a swaying shadow or a lamp that came on keep
something moving in it, so the change never stands still ``still_confirm_s``) is named neither by the heartbeat's
``bays_unseen`` nor by any event: the arm stayed down for as long as it lasted, with nothing said.
"""

from __future__ import annotations

from edge_agent.events.types import EventType


def refusals(rig) -> list[tuple[str, str | None]]:  # noqa: ANN001
    return [(e.data["code"], e.data.get("operator")) for e in rig.of(EventType.LOCK_REFUSED)]


def test_a_raise_held_by_a_changed_bay_is_said_once(make_rig):
    rig = make_rig("gpio", position=0.0)
    rig.see(p_occupied=0.05)
    rig.changed = True
    rig.step(10 * 60)
    assert rig.state == "down" and rig.arm.position == 0.0  # held: something may be in the bay
    assert refusals(rig) == [("bay_changed", None)], "the held raise must be said, once"
    rig.changed = False  # it looks as it did when last seen empty again: the bay's own wait, then up
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up"
    assert not rig.violations


def test_a_short_hold_or_a_vehicle_says_nothing(make_rig):
    """Held for less than a free bay waits anyway, or by a car in the bay: nothing to say."""
    rig = make_rig("gpio", position=0.0)
    rig.see(p_occupied=0.05)
    rig.changed = True
    rig.step(rig.lock_cfg.auto_raise_delay_s - 5)
    rig.changed = False
    rig.vehicle_arrives("粤B1234X", nev=False)
    rig.step(10 * 60)
    assert refusals(rig) == []
    assert not rig.violations


def test_a_hold_that_comes_and_goes_is_said(make_rig):
    """Something moving in the bay on and off (changed 15 s, plain 10 s: each shorter than ``auto_raise_delay_s``):
    every plain spell ended the held episode and every changed one the free timer, so the arm stayed down for good
    and nothing was said."""
    rig = make_rig("gpio", position=0.0)
    rig.see(p_occupied=0.05)
    for _ in range(12):  # 5 minutes
        rig.changed = True
        rig.step(15)
        rig.changed = False
        rig.step(10)
    assert rig.state == "down"
    assert refusals(rig) == [("bay_changed", None)]
    assert not rig.violations


def test_a_hold_is_counted_from_when_the_policy_waits_for_a_raise(make_rig):
    """A hold begun while the arm was up or the bay in maintenance was said the moment the policy began to wait (an
    unlock, maintenance off), though a free bay would have waited ``admit_window_s`` / ``auto_raise_delay_s`` then."""
    rig = make_rig("gpio", position=1.0)
    rig.see(p_occupied=0.05)
    rig.step(5)
    assert rig.state == "up"
    rig.changed = True
    rig.step(120)
    assert rig.manager.unlock("B1", reason="visitor", operator="ops").ok
    rig.step(rig.lock_cfg.admit_window_s - 5)
    assert refusals(rig) == [], "said inside the visitor's admit window"
    rig.step(10)
    assert refusals(rig) == [("bay_changed", None)]
    rig.manager.set_maintenance("B1", True)
    rig.step(120)
    rig.manager.set_maintenance("B1", False)
    rig.step(rig.lock_cfg.auto_raise_delay_s - 5)
    assert refusals(rig) == [("bay_changed", None)], "said again at once after maintenance"
    rig.step(10)
    assert refusals(rig) == [("bay_changed", None)] * 2
    assert not rig.violations


def test_a_second_hold_after_a_car_is_said_again(make_rig):
    """The held raise was said through the interlock's refusal, which keeps quiet about the code it refused last: with
    no rise between (a car parked and left while the arm was down), the next episode of ``bay_changed`` was swallowed."""
    rig = make_rig("gpio", position=0.0)
    rig.see(p_occupied=0.05)
    rig.changed = True
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert refusals(rig) == [("bay_changed", None)]
    rig.vehicle_arrives("粤B1234X", nev=False)
    rig.step(60)
    rig.vehicle_leaves()
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "down"
    assert refusals(rig) == [("bay_changed", None)] * 2
    assert not rig.violations


def test_a_commands_refusal_does_not_stand_for_the_policys_hold(make_rig):
    """An operator's ``lock`` refused ``occupancy_unsure`` in a free spell of a held episode ("raise in 28s if it stays
    so") counted as the policy's word: the reading went unsure again, the arm stayed down 120 s, and the last word a
    backend had was that promise (probe cmdwatch; locks40). A command's answer is the command's; the hold is said."""
    rig = make_rig("gpio", position=0.0)
    rig.see(confident=False)  # unsure: the held episode begins
    rig.step(5)
    rig.see(confident=True)  # a free spell: the episode goes on
    rig.step(2)
    r = rig.manager.lock("B1", "night", "ops")
    assert (r.ok, r.data.get("code")) == (False, "occupancy_unsure") and "raise in" in r.message
    rig.see(confident=False)
    rig.step(120)
    assert rig.state == "down"
    assert refusals(rig) == [("occupancy_unsure", "ops"), ("occupancy_unsure", None)]
    held = rig.of(EventType.LOCK_REFUSED)[-1]
    assert "the policy's raise" in held.data["request"] and "raise in" not in held.data["reason"]
    assert not rig.violations
