"""A throw-away mosquitto on loopback, for tests, the outbox benchmark and the demo.

Why here and not in tests/: the benchmark (``make bench``) and ``make demo`` need a real
broker too, and all three should start it the same way (foreground, own config, own
persistence folder, waited on and reaped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class BrokerError(RuntimeError):
    """mosquitto is missing or did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reserve_port() -> socket.socket:
    """A bound, never listening socket on a free loopback port. The kernel hands that port to no other bind while
    it is open (another worker's ``free_port()`` included), yet mosquitto, which binds with SO_REUSEADDR, can listen
    on it: the port stays ours between the pick and the start, and across restarts."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


def _listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on TCP ``port`` (Linux's /proc), None where it cannot be
    told. A connection that succeeds may be another listener's, bound over our hold with SO_REUSEADDR; this asks
    the kernel, whatever the mosquitto version or wherever its config sends its log."""
    inodes = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table, encoding="ascii") as f:
                for row in f.readlines()[1:]:
                    cols = row.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                        inodes.add(f"socket:[{cols[9]}]")
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, ValueError, IndexError):
        return None
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


@dataclass
class BrokerTls:
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


@dataclass
class LocalBroker:
    """``mosquitto -c FILE`` in the foreground; ``start()``/``stop()`` may be repeated.

    The port and the persistence folder stay the same across restarts, so persistent
    sessions and retained messages survive a stop/start like a real broker's would.
    """

    workdir: Path
    port: int = 0  # 0: a free port, held from the pick on (``_reserve_port``) and picked again if still taken
    tls: BrokerTls | None = None
    password_file: Path | None = None
    acl_file: Path | None = None
    log_path: Path | None = None
    config: str | None = None  # a whole mosquitto.conf instead of the generated one
    _proc: subprocess.Popen[bytes] | None = None
    _log: BinaryIO | None = None
    _held: socket.socket | None = None
    _came_up: bool = False  # once up, the port is the clients': never picked again

    def __post_init__(self) -> None:
        if not self.port:
            self._hold_new_port()

    def _hold_new_port(self) -> None:
        if self._held is not None:
            self._held.close()
        self._held = _reserve_port()
        weakref.finalize(self, self._held.close)
        self.port = int(self._held.getsockname()[1])

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "user root",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # a backend's persistent session may queue a long outage's events
            "max_queued_messages 1000000",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
        ]
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.tls:
            lines += [
                f"cafile {self.tls.cafile}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}",
            ]
        return "\n".join(lines) + "\n"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> "LocalBroker":
        exe = mosquitto_path()
        if exe is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or self.workdir / "mosquitto.log"
        for _ in range(3):
            if self._start_once(exe, log_path, timeout):
                self._came_up = True
                return self
            # the port was taken before mosquitto bound it (a port given by the caller, or a listener that
            # bound over the hold with SO_REUSEADDR): a broker whose port no client knows yet takes another
            if self._came_up or self._held is None or self.config is not None:  # a whole config names its port
                break
            self._hold_new_port()
        raise BrokerError(f"mosquitto could not listen on port {self.port} (address in use); see {log_path}")

    def _start_once(self, exe: str, log_path: Path, timeout: float) -> bool:
        """True once our mosquitto listens; False when it exited on a port in use. Up means a connection is
        accepted and our process holds the listening socket (``_listens``; without /proc: it said ``running``,
        generated config): a connection alone may be another listener's."""
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config if self.config is not None else self.config_text())
        start_at = log_path.stat().st_size if log_path.exists() else 0
        self._log = open(log_path, "ab")
        self._proc = subprocess.Popen([exe, "-c", str(conf)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                self._close_log()
                with open(log_path, "rb") as f:
                    f.seek(start_at)
                    if b"Address already in use" in f.read():
                        return False
                raise BrokerError(f"mosquitto exited with {code}; see {log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                ours = _listens(self._proc.pid, self.port)
                if ours is not None:  # asked of the kernel: another listener's answer never counts us up
                    if ours:
                        return True
                elif self.config is not None:
                    return True
                else:
                    with open(log_path, "rb") as f:
                        f.seek(start_at)
                        if b" running" in f.read():
                            return True
            except OSError:
                pass
            time.sleep(0.02)  # waiting on a real process's port, not on time-based behaviour
        self.stop()
        raise BrokerError(f"mosquitto did not open port {self.port} within {timeout} s; see {log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (mosquitto saves its persistence file) and reap."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        self._close_log()

    def kill(self) -> None:
        """SIGKILL and reap: a crash or power cut, no persistence file written on the way out."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def url(self, scheme: str | None = None) -> str:
        return f"{scheme or ('mqtts' if self.tls else 'mqtt')}://127.0.0.1:{self.port}"

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
