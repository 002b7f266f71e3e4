"""The free timer across a long pause in the camera's evidence.

A short pause (a still scene's picture repeated between key frames, up to ~9 s at 10 s key frames) neither starts
nor restarts the timer. A pause as long as ``auto_raise_delay_s`` is no pause in a watch: with it spanned, the arm
rose on the first fresh frame after 10 minutes of silence, the bay seen free for 2 s of the 30 s it must be.
"""

from __future__ import annotations

import pytest

from tests.locks.conftest import Rig


def silent(rig: Rig, seconds: float) -> None:
    """The camera's evidence stops (a stalled loop, a bay's picture hung under a ticking clock): nothing says blind."""
    rig.see(measuring=False)
    rig.step(seconds, dt=0.25)
    assert rig.state == "down" and not rig.up_active()
    rig.see(measuring=True)


@pytest.mark.parametrize("gap", [30.0, 600.0])
def test_a_long_pause_restarts_the_free_timer(make_rig, kind, gap):
    rig = make_rig(kind, position=0.0, bay_state="free")
    delay = rig.lock_cfg.auto_raise_delay_s
    rig.step(2)  # the bay seen free for 2 s of the delay
    silent(rig, gap)
    rig.step(delay - 1, dt=0.25)
    assert rig.state == "down", "raised before the bay was seen free for auto_raise_delay_s after the pause"
    rig.step(1.5, dt=0.25)
    assert rig.state == "moving" and rig.up_active()
    rig.step(4)
    assert rig.state == "up"
    assert not rig.violations


def test_a_short_pause_is_spanned(make_rig, kind):
    """Pauses shorter than the delay (key frames 10 s apart) still count toward it: no arm kept down for good."""
    rig = make_rig(kind, position=0.0, bay_state="free")
    delay = rig.lock_cfg.auto_raise_delay_s
    rig.step(2)
    for _ in range(3):
        silent(rig, 9.5)
        rig.step(0.5, dt=0.25)
    assert 2 + 3 * 10 > delay  # the bay was watched, pauses included, for longer than the delay
    rig.step(1, dt=0.25)
    assert rig.state in ("moving", "up")
    assert not rig.violations


def test_pictures_that_keep_coming_a_delay_apart_say_why_the_arm_never_rises(make_rig, kind):
    """leftovers30: a camera whose new pictures of a still bay come ``auto_raise_delay_s`` or more apart (a frame a
    minute, or a still scene's key frames under a raised ``camera.frozen_after_s``) restarts the free timer at each,
    so the arm never rises. Before, the one word was a ``lock_refused`` ``occupancy_stale`` at the first due: the arm
    stayed down for good with nothing naming the cause. Now the policy's raise is refused ``occupancy_sparse``, the
    gap and the delay in its reason (once an episode); pictures at the camera's rate again end it and it rises."""
    rig = make_rig(kind, position=0.0, bay_state="free")
    delay = rig.lock_cfg.auto_raise_delay_s
    rig.step(2)
    for _ in range(6):
        silent(rig, delay + 10)
        rig.step(0.25, dt=0.25)
    assert rig.state == "down"
    sparse = [e for e in rig.of("lock_refused") if e.data["code"] == "occupancy_sparse"]
    assert len(sparse) == 1, [e.data for e in rig.of("lock_refused")]
    assert f"come {delay + 10:.0f}s apart" in sparse[0].data["reason"] and f"({delay:g}s)" in sparse[0].data["reason"]
    rig.step(delay + 1, dt=0.25)  # pictures at the camera's rate again: watched free for the delay, it rises
    assert rig.state in ("moving", "up")
    assert not rig.violations


def test_one_long_pause_is_no_sparse_camera(make_rig, kind):
    rig = make_rig(kind, position=0.0, bay_state="free")
    rig.step(2)
    silent(rig, 600)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 1, dt=0.25)
    assert rig.state in ("moving", "up")
    assert not [e for e in rig.of("lock_refused") if e.data["code"] == "occupancy_sparse"]
