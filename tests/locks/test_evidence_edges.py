"""Every change of the camera's evidence that can refuse a raise is judged at once, not at the next tick (lock37).

The feed told the locks of new evidence only when its code, verdict, confidence or probability changed: ``changed``
(the bay no longer looks as it did empty: a person, a bicycle, a box — rule ``bay_changed``) was left out. A person
stepping into the bay during a rise, the classifier still calling it empty, went unheard until the lock's next tick:
the UP line stayed on after the refusing evidence was published (a tick is 0.1 s on the agent; a tick thread that
stalls — a slow SD write in the same process — stretches it).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

from tests.locks.conftest import BAY


def test_a_person_in_the_bay_stops_a_rise_when_the_camera_says_so(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(1)
    assert rig.up_active() and 0 < rig.arm.position < 1
    rig.changed = True  # a person walks in: the classifier still says empty, the empty picture does not match
    rig.measure()  # the frame loop publishes it (no tick of the lock between)
    rig.sync()
    assert not rig.up_active(), "the rise went on after the camera said the bay changed"
    rig.step(3)
    assert rig.state == "down"
    rig.safe()
