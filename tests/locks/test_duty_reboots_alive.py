"""The motor's duty over reboots a few minutes apart, the wall clock never known right (review73).

A start of another boot whose wall clock was not synchronised at both ends counts as no older than the newest start
the wall can place (probe lock38: ``test_duty_unsynced_boots.py``). Counted as just made at every boot, however long
that boot had lived, a Pi that reboots every few minutes (a marginal supply, a watchdog) with its clock never
synchronised (no time server on the site; chrony under the unit's ``ProtectClock=yes``, which nobody can ask) held its
duty for ever: the lowering of an arm found up after a rise nobody saw end was never driven, over 11 boots and 40
minutes (0.26.0, which read those starts on a right but unsynchronised wall clock: driven at the second boot). Each
write of the latch file now says how long its boot had lived (``alive``), written at least every fifth of a window while
the duty holds: the next boot credits the starts with it, a lower bound of their age (the duty is never undercounted).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

from edge_agent.clock import iso
from tests.locks.conftest import Rig
from tests.locks.test_crash_loop_duty import _down_starts, _most_in_a_window
from tests.locks.test_duty_one_boot import _pushed_down_while_stopped

BOOT_S = 15.0


def _saved_full_duty(path, clock, rising: bool) -> None:  # noqa: ANN001
    """A latch file whose lock made ``max_moves`` (12) starts in the last 20 s of a boot whose clock was not synced."""
    old = clock.now() - timedelta(seconds=20)
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "locks": {"L1": {"rising": {"since": iso(old)}}} if rising else {},
                "starts": {"L1": [iso(old + timedelta(seconds=i)) for i in range(12)]},
                "start_marks": {"L1": [{"boot": "old", "mono": 100.0 + i} for i in range(12)]},
            }
        )
    )


def _reboot(rig: Rig, boot: str) -> None:
    rig.arm.set_drive(None)  # the power went: its motor lines released
    rig.clock.advance(BOOT_S)
    rig.boot_id = boot
    rig.restart(killed=True)


def test_a_never_synced_pi_rebooting_every_few_minutes_drives_the_held_lowering(make_rig, kind, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    _saved_full_duty(path, clock, rising=True)
    clock.set_synced(None)  # nobody can tell: never synchronised
    rig = make_rig(kind, position=1.0, latches_at=path, boot_id="b0")
    t0 = clock.monotonic()
    window = rig.lock_cfg.max_moves_window_s
    for i in range(1, 12):
        rig.step(200, dt=0.5)  # each boot lives 200 s, under the 300 s window
        if _down_starts(rig, t0):
            break
        _reboot(rig, f"b{i}")
    starts = _down_starts(rig, t0)
    assert starts and starts[0] - t0 <= 2 * window, starts  # 415 s; before: never, 11 boots
    assert json.loads(path.read_text())["alive"]["boot"] == rig.boot_id
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    # lowered to its down switch (then raised again by the policy: the bay is free)
    assert [d for t, d in rig.arm.history if t >= starts[0]][:2] == ["down", None] and rig.of("lock_moved")
    rig.safe()


def _random_reboots(rig: Rig, boots: int, seed: int) -> None:
    """``boots`` times: a boot that lives a random while (a few seconds to over a window), or until a random part of
    the drive it starts; the clock never synchronised."""
    rnd = random.Random(seed)
    for i in range(boots):
        life, lived = rnd.uniform(5.0, 1.5 * rig.lock_cfg.max_moves_window_s), 0.0
        while lived < life and not rig.down_active():
            rig.step(0.5, dt=0.5)
            lived += 0.5
        if rig.down_active():
            rig.step(rnd.uniform(0.3, rig.lock_cfg.motor_timeout_s - 0.1))
        _reboot(rig, f"r{seed}-{i}")


def test_reboots_of_any_length_keep_to_the_motor_duty_and_end_the_hold(make_rig, kind, tmp_path, clock):
    """The credit is a lower bound of each start's age: whatever each boot lives, the motor starts at most
    ``max_moves`` times a window; and the held drive happens."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    clock.set_synced(False)
    t0 = clock.monotonic()
    for seed in (1, 2, 3):
        _random_reboots(rig, 25, seed)
    starts = _down_starts(rig, t0)
    assert _most_in_a_window(starts, rig.lock_cfg.max_moves_window_s) <= rig.lock_cfg.max_moves, starts
    assert len(starts) > 12, starts
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    rig.safe()
