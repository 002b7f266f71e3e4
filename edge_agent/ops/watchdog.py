"""systemd readiness and watchdog: ``sd_notify`` plus a watchdog that pings only while every loop makes progress.

Why a hand-written ``sd_notify``: the protocol is one datagram of ``KEY=value`` lines sent to the
AF_UNIX socket named by ``$NOTIFY_SOCKET``; a dependency (systemd-python, sdnotify) would add a
compiled package or an unmaintained one for ten lines of code. Outside systemd (no
``$NOTIFY_SOCKET``) every call is a no-op, so the agent runs the same from a shell.

Why per-loop progress: a process whose main thread is alive but whose camera reader or perception
loop is stuck must be restarted. ``Watchdog.tick()`` sends ``WATCHDOG=1`` only when every
registered loop reported progress within its own deadline; one stuck loop stops the pings and
systemd (``WatchdogSec=``) kills and restarts the service.

Runtime hooks::

    notifier = Notifier.from_env()
    wd = Watchdog(notifier, clock)
    cam = wd.register("camera", deadline_s=10)      # in the camera reader: cam.progress() per frame
    per = wd.register("perception", deadline_s=10)  # in the perception loop: per.progress() per cycle
    notifier.ready(status="running")               # once everything is started
    wd.start()                                     # background thread calling wd.tick()
    ...
    notifier.stopping(); wd.stop()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from edge_agent.clock import Clock, SystemClock

log = logging.getLogger(__name__)

#: the ticking thread's wake this many periods late (and at least ``MIN_PAUSE_S``): the process did not run
PAUSE_PERIODS = 4
MIN_PAUSE_S = 5.0


def _address(path: str) -> str | bytes:
    # A leading '@' names a socket in the Linux abstract namespace (systemd uses these too).
    return "\0" + path[1:] if path.startswith("@") else path


class Notifier:
    """Sends ``sd_notify`` datagrams to one socket; a no-op when there is none."""

    def __init__(self, socket_path: str | None) -> None:
        self.socket_path = socket_path or None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Notifier":
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def send(self, *lines: str) -> bool:
        """Send one datagram; returns False (and logs) on failure — notification never crashes the agent."""
        if not self.socket_path:
            return False
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(_address(self.socket_path))
                s.sendall(payload)
            return True
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.socket_path, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        # systemd ≥ 253 wants the monotonic time with RELOADING=1; older ones ignore the extra line.
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str | None = None, extend_s: float | None = None) -> bool:
        """``extend_s``: the stop may take this long — systemd (≥ 236) then waits at least that, whatever the
        unit's ``TimeoutStopSec=`` (it only ever lengthens the wait)."""
        extend = [f"EXTEND_TIMEOUT_USEC={round(extend_s * 1e6)}"] if extend_s is not None else []
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []), *extend)

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The ping period systemd asks for: half of ``$WATCHDOG_USEC`` (None when the watchdog is off).

    ``$WATCHDOG_PID``, when set, must be this process — a child that inherited the variables must not ping.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    wpid = env.get("WATCHDOG_PID")
    if wpid and int(wpid) != (os.getpid() if pid is None else pid):
        return None
    try:
        return max(int(usec) / 1e6 / 2, 0.01)
    except ValueError:
        return None


@dataclass
class LoopHandle:
    """What a loop holds: call ``progress()`` once per iteration that did real work."""

    name: str
    deadline_s: float
    _watchdog: "Watchdog"

    def progress(self) -> None:
        self._watchdog.progress(self.name)


class Watchdog:
    """Pings systemd only while every registered loop has reported progress within its deadline."""

    def __init__(self, notifier: Notifier, clock: Clock | None = None, interval_s: float | None = None,
                 on_stuck: Callable[[list[str]], None] | None = None) -> None:
        self.notifier = notifier
        #: called once per stuck episode with the stuck loops that had run before (their names), from the
        #: ticking thread: where no service manager's watchdog reads the pings, the caller must end the process
        #: itself (OpsRuntime does)
        self.on_stuck = on_stuck
        self.clock = clock or SystemClock()
        self.interval_s = interval_s if interval_s is not None else (watchdog_interval() or 5.0)
        self._lock = threading.Lock()
        self._loops: dict[str, tuple[float, float]] = {}  # name -> (deadline_s, last progress)
        self._last_ping: float | None = None
        self._last_stuck: tuple[str, ...] = ()
        self._progressed: set[str] = set()  # loops that reported progress at least once
        self._reported = False  # on_stuck called for the current stuck episode
        self._tick_lock = threading.Lock()  # the ping thread and a caller may both tick
        #: how often ``tick`` is called (``start`` sets it): a tick much later than that means the process was not
        #: running (None: ticks come when a caller pleases, nothing is inferred from their spacing)
        self.period_s: float | None = None
        self._last_tick: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, name: str, deadline_s: float) -> LoopHandle:
        """Watch a loop; it counts as fresh from now, so a slow start is covered by its deadline."""
        if deadline_s <= 0:
            raise ValueError("deadline_s must be > 0")
        with self._lock:
            self._loops[name] = (deadline_s, self.clock.monotonic())
        return LoopHandle(name, deadline_s, self)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._loops.pop(name, None)

    def progress(self, name: str) -> None:
        with self._lock:
            if name not in self._loops:
                raise KeyError(f"loop {name!r} is not registered with the watchdog")
            deadline, _ = self._loops[name]
            self._loops[name] = (deadline, self.clock.monotonic())
            self._progressed.add(name)

    def stuck(self) -> list[str]:
        """Names of loops whose last progress is older than their deadline."""
        now = self.clock.monotonic()
        with self._lock:
            return sorted(n for n, (dl, last) in self._loops.items() if now - last > dl)

    def tick(self) -> bool:
        """Ping when every loop is healthy and a ping is due; returns whether ``WATCHDOG=1`` was sent.

        A newly stuck (or recovered) set of loops is reported once in ``STATUS=`` so
        ``systemctl status`` shows which loop stopped the pings before systemd restarts the agent.
        """
        with self._tick_lock:
            return self._tick()

    def _tick(self) -> bool:
        self._credit_pause()
        stuck = tuple(self.stuck())
        if stuck != self._last_stuck:
            self._last_stuck = stuck
            if stuck:
                log.error("watchdog: loop(s) stuck, pings stopped: %s", ", ".join(stuck))
                self.notifier.status(f"stuck: {', '.join(stuck)}")
            else:
                log.info("watchdog: all loops progressing again")
                self.notifier.status("running")
        if stuck:
            self._report_stuck(stuck)
            return False
        self._reported = False
        now = self.clock.monotonic()
        if self._last_ping is not None and now - self._last_ping < self.interval_s:
            return False
        self._last_ping = now
        return self.notifier.watchdog()

    def _credit_pause(self) -> None:
        """Time in which this process did not run at all counts against no loop's deadline.

        Why: a ``docker pause``, a SIGSTOP (Ctrl-Z in a terminal) or a suspended VM stops every thread, and the
        monotonic clock runs on. On resuming, the ticking thread found each loop "silent" for the whole pause and,
        where no service manager watches, ended the agent (exit 1) although nothing was stuck. The ticks come
        every ``period_s``: one ``PAUSE_PERIODS`` periods late says the process was stopped, and each loop's last
        progress moves on by the time lost. A loop stuck while the process runs is still found, within its
        deadline of running time."""
        now = self.clock.monotonic()
        last, self._last_tick = self._last_tick, now
        if self.period_s is None or last is None:
            return
        gap = now - last
        if gap <= max(PAUSE_PERIODS * self.period_s, MIN_PAUSE_S):
            return
        lost = gap - self.period_s
        with self._lock:
            self._loops = {n: (dl, min(now, seen + lost)) for n, (dl, seen) in self._loops.items()}
        log.warning("watchdog: this process did not run for %.0f s (stopped or paused): not counted against its "
                    "loops' deadlines", lost)

    def _report_stuck(self, stuck: tuple[str, ...]) -> None:
        """``on_stuck`` once per episode, for loops that ran before they stuck: a loop's first turn is start-up
        (a camera's first open, TensorRT building its engine on the first inference: minutes on an Orin Nano),
        which the start-up checks judge, not this."""
        if self.on_stuck is None or self._reported:
            return
        with self._lock:
            ran = [n for n in stuck if n in self._progressed]
        if ran:
            self._reported = True
            self.on_stuck(ran)

    def start(self, period_s: float | None = None) -> None:
        """Call ``tick()`` from a daemon thread every ``period_s`` (default: a quarter of the interval)."""
        if self._thread is not None:
            return
        period = period_s if period_s is not None else max(self.interval_s / 4, 0.05)
        self.period_s = period
        self._stop.clear()

        def _run() -> None:
            while not self._stop.wait(period):
                self.tick()

        self._thread = threading.Thread(target=_run, name="systemd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
