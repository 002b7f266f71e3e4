"""Whether the wall clock is synchronised: the kernel's answer through adjtimex, injected into the clock."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock, SystemClock, utc_offset
from edge_agent.timesync import TIME_ERROR, KernelSyncProbe, libc_adjtimex


def fake_adjtimex(result: int, seen: list[bytes]):
    def call(buf) -> int:  # noqa: ANN001 - a ctypes buffer
        seen.append(bytes(buf))
        return result

    return call


@pytest.mark.parametrize(("state", "synced"), [(0, True), (1, True), (3, True), (4, True), (TIME_ERROR, False),
                                               (-1, None)])
def test_the_kernel_state_says_synced_unsynced_or_unknown(state, synced, tmp_path):
    # 0..4: TIME_OK, INS, DEL, OOP, WAIT (leap-second states of a synchronised clock); 5: TIME_ERROR
    # (STA_UNSYNC: never set by NTP, or unsteered for hours); -1: the call was refused (EPERM, ENOSYS).
    seen: list[bytes] = []
    assert KernelSyncProbe(fake_adjtimex(state, seen), tmp_path / "no-timesyncd")() is synced
    assert seen and seen[0][:4] == b"\0\0\0\0"  # modes = 0: read only, needs no CAP_SYS_TIME


def test_no_adjtimex_or_a_failing_one_is_unknown(tmp_path):
    def refuse(buf) -> int:  # noqa: ANN001
        raise OSError("seccomp")

    assert KernelSyncProbe(refuse, tmp_path / "none")() is None
    probe = KernelSyncProbe(timesyncd=tmp_path / "none")
    probe._adjtimex = None  # as off Linux
    assert probe() is None


def test_a_refused_adjtimex_asks_timesyncd(tmp_path):
    """The shipped unit's ProtectClock=yes refuses adjtimex (-1, EPERM): systemd-timesyncd's flag file answers."""
    run = tmp_path / "timesync"
    probe = KernelSyncProbe(fake_adjtimex(-1, []), run)
    assert probe() is None  # no timesyncd: unknown, never "synced"
    run.mkdir()
    assert probe() is False  # timesyncd runs, has not set the clock this boot
    (run / "synchronized").touch()
    assert probe() is True
    assert KernelSyncProbe(fake_adjtimex(TIME_ERROR, []), run)() is False  # the kernel's answer comes first


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex is Linux's")
def test_the_real_kernel_answers_without_privileges():
    assert libc_adjtimex() is not None
    assert KernelSyncProbe()() in (True, False, None)  # None only where a sandbox refuses the call
    assert SystemClock().synced() in (True, False, None)


def test_the_probe_travels_with_the_clock():
    answers = iter([False, True])
    clock = SystemClock(ZoneInfo("Asia/Shanghai"), sync=lambda: next(answers))
    assert (clock.synced(), clock.synced()) == (False, True)
    fake = FakeClock()
    assert fake.synced() is None  # a fake clock has no NTP unless a test says so
    fake.set_synced(False)
    assert fake.synced() is False


@pytest.mark.parametrize(("offset_min", "text"), [(480, "+08:00"), (0, "+00:00"), (-210, "-03:30"), (345, "+05:45")])
def test_utc_offset_is_written_as_iso_8601(offset_min, text):
    assert utc_offset(datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=offset_min)))) == text
    with pytest.raises(ValueError):
        utc_offset(datetime(2026, 1, 1))
