"""``lock-latches.json`` on a card kept full (another program's log filling it as fast as space comes back): a refused
rise left a flag saying "starts unsaved", so every decision's end (each tick, each lock) wrote the whole file again
and logged the failure — 3,412 error lines in 104 s of a real ``run`` on an 8 MB tmpfs (probe chaos36), into the
journal of the very card that was full. The failure is said once per episode, counted, and the write that succeeds
again says so; and a refused rise no longer leaves anything to write."""

from __future__ import annotations

import errno
import json
import logging
import os

from edge_agent.events.types import EventType
from edge_agent.locks import latches
from edge_agent.locks.latches import LATCH_FILE
from tests.locks.conftest import BAY


def _broken(err: int):  # noqa: ANN202
    def write(target, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        write.calls += 1
        raise OSError(err, os.strerror(err))

    write.calls = 0
    return write


def _latch_errors(caplog) -> list[logging.LogRecord]:  # noqa: ANN001
    return [r for r in caplog.records if r.name == latches.__name__ and r.levelno >= logging.ERROR]


def test_a_refused_rise_on_a_full_card_is_no_write_and_no_error_line_per_tick(
    make_rig, kind, tmp_path, monkeypatch, caplog
):
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=0.0, latches_at=path, auto_raise_delay_s=20)
    rig.step(1)
    before = path.read_bytes() if path.exists() else None
    broken = _broken(errno.ENOSPC)
    monkeypatch.setattr(latches, "write_durably", broken)
    caplog.set_level(logging.DEBUG)
    rig.watch_free()  # ~19 s of ticks on the full card: every raise waits for the bay watched free (review74)
    d = rig.manager.lock(BAY, reason="reserve", operator="ops")
    assert not d.ok and d.data["code"] == "rise_unrecorded"
    # the policy's raise fell due with the command (the watch's end) and is refused at every tick: with the watch's,
    # about 84 decisions as before (the command came at 1 s, the policy's raise due at 20 s, stepped to 22 s)
    rig.step(2, dt=0.25)
    assert not rig.up_active() and rig.state == "down"
    assert len(_latch_errors(caplog)) <= 1, [r.getMessage()[:80] for r in _latch_errors(caplog)][:3]
    assert broken.calls <= 20  # the rises the policy tried (10 here), not a rewrite at every decision's end (95-179)
    monkeypatch.undo()
    rig.step(latches.RISE_RETRY_MAX_S + 5)  # the policy's rise, backed off, is tried within the cap (chaos38)
    assert rig.state == "up" and path.read_bytes() != before
    rig.safe()


def test_a_change_the_full_card_cannot_take_is_said_once_then_written_when_it_can(
    make_rig, kind, tmp_path, monkeypatch, caplog
):
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=1.0, latches_at=path)
    rig.step(1)
    broken = _broken(errno.ENOSPC)
    monkeypatch.setattr(latches, "write_durably", broken)
    caplog.set_level(logging.DEBUG)
    d = rig.manager.unlock(BAY, reason="nev", operator="ops")  # DOWN is always allowed, the disk full or not
    assert d.ok
    rig.step(30, dt=0.25)  # the arm comes to rest down: its rest and the motor's start wait in memory
    assert rig.state == "down"
    errors = _latch_errors(caplog)
    assert len(errors) == 1 and "No space left on device" in errors[0].getMessage()
    monkeypatch.undo()
    caplog.clear()
    rig.step(latches.UNSAVED_RETRY_MAX_S + 1)  # what only waits is tried within its back-off's cap (chaos37)
    doc = json.loads(path.read_text())
    assert doc["rest"]["L1"]["position"] == "down" and doc["starts"]["L1"]
    again = [r for r in caplog.records if r.name == latches.__name__ and "written again" in r.getMessage()]
    assert len(again) == 1
    rig.safe()


def test_a_record_waiting_for_room_is_tried_with_a_back_off_not_at_every_decision(
    make_rig, kind, tmp_path, monkeypatch
):
    """What waits (a rest, a motor start) was tried again at every decision's end: 2,888 silent writes of the whole
    file, each one a temporary file and an fsync on the full card, in one episode (probe chaos36). A change still
    tries at once; what only waits backs off, doubling to ``UNSAVED_RETRY_MAX_S`` (chaos37)."""
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=1.0, latches_at=path)
    rig.step(1)
    broken = _broken(errno.ENOSPC)
    monkeypatch.setattr(latches, "write_durably", broken)
    assert rig.manager.unlock(BAY, reason="nev", operator="ops").ok
    rig.step(110, dt=0.25)  # under the admit window (120 s): 440 decisions, the arm at rest down
    assert rig.state == "down" and not rig.of(EventType.LOCK_REFUSED)  # no rise tried meanwhile
    assert broken.calls <= 15, broken.calls  # 443 (gpio) and 881 (sim) before
    monkeypatch.undo()
    rig.step(latches.UNSAVED_RETRY_MAX_S + 1)  # room again: written within the back-off's cap (the policy may raise)
    assert json.loads(path.read_text())["starts"]["L1"]
    rig.safe()


def test_the_policys_rise_on_a_card_kept_full_backs_off_and_rises_once_there_is_room(
    make_rig, kind, tmp_path, monkeypatch
):
    """The policy asks for its rise again at every refusal; with the rise's record refused by a full card each ask was a
    temporary file and an fsync: 1,921 refused writes in 10 minutes of a real ``run`` (note45, "left alone"). The
    policy's own rise now backs off as what waits does (1 s, 2 s … ``RISE_RETRY_MAX_S``); a commanded one is tried at
    once (someone waits for its answer), and the rise comes within the cap once the card has room."""
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=0.0, latches_at=path, auto_raise_delay_s=20)
    rig.step(1)
    broken = _broken(errno.ENOSPC)
    monkeypatch.setattr(latches, "write_durably", broken)
    rig.step(600, dt=0.1)  # the bay free all along: the policy's raise falls due at 20 s and is refused from then on
    assert not rig.up_active() and rig.state == "down"
    assert broken.calls <= 600 / latches.RISE_RETRY_MAX_S + 10, broken.calls
    calls = broken.calls
    d = rig.manager.lock(BAY, reason="reserve", operator="ops")  # a command: tried at once, backed off or not
    assert not d.ok and d.data["code"] == "rise_unrecorded" and broken.calls == calls + 1
    monkeypatch.undo()
    rig.step(latches.RISE_RETRY_MAX_S + 5)
    assert rig.state == "up" and broken.calls == calls + 1
    rig.safe()


def test_a_backed_off_rise_says_this_episodes_failure_not_one_the_card_got_over(tmp_path, monkeypatch):
    """The policy's backed-off rise is refused with its record's last failure. Kept past the write that succeeded
    again, a later episode's other failure (a worn card's I/O error, days after a full card's) refused the rise
    untried as "No space left on device" (probe review80): the operator was sent to free space on a failing card."""
    from edge_agent.clock import FakeClock

    clock = FakeClock()
    lf = latches.LatchFile.open(tmp_path / LATCH_FILE, ["L1"], clock)
    monkeypatch.setattr(latches, "write_durably", _broken(errno.ENOSPC))
    try:
        lf.set_rising("L1", True, backed_off=True)
        raise AssertionError("the rise's record was written on a full card")
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    monkeypatch.undo()
    clock.advance(20)
    lf.set_rising("L1", True, backed_off=True)  # written again: the card had room
    lf.set_rising("L1", False)
    clock.advance(86400)
    broken = _broken(errno.EIO)
    monkeypatch.setattr(latches, "write_durably", broken)
    lf.set_rest("L1", "down")  # another write fails, days later: the back-off starts again
    try:
        lf.set_rising("L1", True, backed_off=True)
        raise AssertionError("the rise's record was written on a failing card")
    except OSError as exc:
        assert exc.errno == errno.EIO, exc
