"""A motor start noted while the latch file's writes back off (chaos37) is a change: tried at once (review69).

chaos37 backed off what "only waits" (a rest, a start) to at most every 60 s while writes fail. But a new start of an
owed lowering (a reversal, a retry, one the duty held) is written with the lowering's record, which already stands:
under the back-off it waited up to 60 s after the card had room again, and a kill then lost it. The next start read a
duty short of those starts: more motor starts per window than ``max_moves`` in a crash loop. Only a rest or start the
last failed try already carried backs off now: a new start is tried at once (at most ``max_moves`` a window)."""

from __future__ import annotations

import errno
import os
from datetime import timedelta

from edge_agent.clock import FakeClock
from edge_agent.locks import latches
from edge_agent.locks.latches import LATCH_FILE, LatchFile


def _broken():  # noqa: ANN202
    def write(target, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        write.calls += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    write.calls = 0
    return write


def test_a_start_after_room_returns_is_on_disk_before_a_kill(tmp_path, monkeypatch, clock):
    path = tmp_path / LATCH_FILE
    owner = LatchFile.open(path, ["L1"], clock, boot_id="boot-1")
    owner.set_lowering("L1", True)  # a lowering owed, its record on disk
    broken = _broken()
    monkeypatch.setattr(latches, "write_durably", broken)
    owner.note_start("L1", 5)  # its motor starts on the full card: the start waits
    owner.set_lowering("L1", True)
    for _ in range(600):  # 150 s of decisions' ends: the back-off reaches its cap
        clock.advance(0.25)
        owner.set_lowering("L1", True)
    assert broken.calls <= 12, broken.calls  # chaos37's back-off itself holds
    monkeypatch.undo()  # room again
    clock.advance(0.25)
    owner.note_start("L1", 5)  # the lowering reversed and driven again: a second start
    owner.set_lowering("L1", True)  # the decision's end
    # killed now: the next process reads the file
    later = FakeClock(clock.now() + timedelta(seconds=1), monotonic_start=5.0)
    restarted = LatchFile.open(path, ["L1"], later, boot_id="boot-2")
    assert len(restarted.starts("L1")) == 2  # 0 before: both waited up to 60 s more


def test_nothing_new_still_backs_off(tmp_path, monkeypatch, clock):
    """chaos37's case: an arm at rest with a start waiting, no new one: the tries stay few."""
    path = tmp_path / LATCH_FILE
    owner = LatchFile.open(path, ["L1"], clock, boot_id="boot-1")
    owner.set_lowering("L1", True)
    broken = _broken()
    monkeypatch.setattr(latches, "write_durably", broken)
    owner.note_start("L1", 5)
    for _ in range(440):
        owner.set_lowering("L1", True)
        clock.advance(0.25)
    assert broken.calls <= 10, broken.calls
