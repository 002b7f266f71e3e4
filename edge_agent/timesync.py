"""Is the system clock synchronised? The kernel's own answer, read without privileges.

Why the kernel: chrony, systemd-timesyncd and ntpd all steer the clock through ``adjtimex(2)`` and
clear its ``STA_UNSYNC`` flag once they trust a source; ``timedatectl``'s ``NTPSynchronized`` is that
same flag, fetched over D-Bus from timedated. Asking directly is one system call (microseconds), needs
no daemon, no subprocess and no new package, and works in a container (the host's kernel answers). A
clock set by ``settimeofday`` (a Pi without RTC at boot, fake-hwclock) starts unsynchronised; the kernel
marks it so again when no daemon has steered it for hours (its maximum error passes 16 s).

``modes = 0`` only reads, which needs no ``CAP_SYS_TIME``; but systemd's ``ProtectClock=yes`` (kept in
``deploy/edge-agent.service``) forbids even the read (systemd issue #26413). Refused, the probe asks
systemd-timesyncd instead (Raspberry Pi OS's and Ubuntu's default): it creates
``/run/systemd/timesync/synchronized`` once it has set the clock, and ``/run`` starts empty at every
boot. With neither answer (chrony or ntpd under that unit) the state is unknown, never "synced".
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

TIME_ERROR = 5  # adjtimex(2) return value: the clock is not synchronised
TIMEX_BYTES = 512  # more than struct timex on any ABI (208 bytes on 64-bit Linux); zeroed: modes = 0, read only

# No clock that reads a day before this was ever set: this code did not exist yet (like systemd's
# TIME_EPOCH, which keeps a booting clock from running earlier than the build). Raise it at a release.
EARLIEST_DAY = date(2026, 1, 1)
TIMESYNCD = Path("/run/systemd/timesync")  # systemd-timesyncd's run-time folder: "synchronized" once it set the clock

Adjtimex = Callable[[Any], int]


class KernelSyncProbe:
    """``probe()`` → True / False as the kernel says, None when it cannot be asked (not Linux, no
    ``adjtimex`` in the C library, a sandbox that forbids the call).

    ``adjtimex`` and the timesyncd folder are injected in tests; by default the C library's call,
    looked up once here, and ``TIMESYNCD``.
    """

    def __init__(self, adjtimex: Adjtimex | None = None, timesyncd: Path = TIMESYNCD) -> None:
        self._adjtimex = adjtimex if adjtimex is not None else libc_adjtimex()
        self._timesyncd = timesyncd

    def __call__(self) -> bool | None:
        if self._adjtimex is not None:
            buf = ctypes.create_string_buffer(TIMEX_BYTES)
            try:
                state = int(self._adjtimex(buf))
            except OSError:
                state = -1
            if state >= 0:  # -1: EPERM (seccomp, ProtectClock=yes) or ENOSYS
                return state != TIME_ERROR
        return self._timesyncd_says()

    def _timesyncd_says(self) -> bool | None:
        """True once timesyncd set the clock this boot, False while it runs without, None without it."""
        try:
            if (self._timesyncd / "synchronized").exists():
                return True
            return False if self._timesyncd.is_dir() else None
        except OSError:
            return None


def libc_adjtimex() -> Adjtimex | None:
    """The C library's ``adjtimex`` (glibc and musl both have it), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn
