"""The real Agent under OpsRuntime in a child process, talking sd_notify to a real datagram socket as systemd would.

Healthy: READY=1, regular WATCHDOG=1, SIGHUP → RELOADING=1 … READY=1, SIGTERM → STOPPING=1 and exit 0 within 5 s.
Camera reader hung: the pings stop and STATUS names the camera — what makes systemd restart the agent.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


class Systemd:
    """The notify socket end: collects datagrams, waits for one with a deadline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.seen: list[str] = []

    def wait_for(self, prefix: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.seen.append(msg)
            if msg.startswith(prefix):
                return msg
        pytest.fail(f"no {prefix!r} within {timeout} s; got {self.seen}")

    def drain(self, seconds: float) -> list[str]:
        """Everything that arrives in the next ``seconds`` (to show that pings stopped)."""
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                out.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    s = Systemd(tmp_path / "notify.sock")
    yield s
    s.close()


def start_agent(write_config, camera_folder, systemd: Systemd, deadline_s: float, *flags: str) -> subprocess.Popen:
    cfg = write_config(
        camera={"source": str(camera_folder), "loop": True, "fps": 10},
        ops={"watchdog": {"camera_deadline_s": deadline_s, "perception_deadline_s": deadline_s}, "stop_timeout_s": 4},
    )
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "1000000", "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([sys.executable, "-m", "tests.ops.agent_ops_child", str(cfg), *flags], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, proc.stdout.read()


def test_healthy_agent_ready_pings_reloads_and_stops(write_config, camera_folder, systemd):
    proc = start_agent(write_config, camera_folder, systemd, 10.0)  # generous: a busy CI box must not look stuck
    try:
        assert systemd.wait_for("READY=1").startswith("READY=1\nSTATUS=running: 1 bay(s)")
        for _ in range(3):
            systemd.wait_for("WATCHDOG=1", timeout=10)
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("RELOADING=1")
        assert systemd.wait_for("READY=1") == "READY=1\nSTATUS=running (reloaded)"
        systemd.wait_for("WATCHDOG=1", timeout=10)  # still healthy after the reload
    finally:
        rc, out = stop(proc)
    assert rc == 0, proc.stderr.read()[-3000:]
    systemd.wait_for("STOPPING=1")
    assert "stop frames=ok stop sinks=ok" in out
    assert not any(m.startswith("STATUS=stuck") for m in systemd.seen)


def test_sighup_says_in_one_line_what_it_applied_or_why_it_refused(write_config, camera_folder, systemd):
    proc = start_agent(write_config, camera_folder, systemd, 10.0)
    path = proc.args[3]
    cfg = yaml.safe_load(Path(path).read_text())
    try:
        systemd.wait_for("READY=1")
        cfg["timers"] = {"overstay_s": 600}
        Path(path).write_text(yaml.safe_dump(cfg))
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("RELOADING=1")
        systemd.wait_for("READY=1")
        cfg["timers"] = {"overstay_s": -5}
        Path(path).write_text(yaml.safe_dump(cfg))
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("RELOADING=1")
        systemd.wait_for("READY=1")
    finally:
        rc, _ = stop(proc)
    assert rc == 0
    said = [line.split("SIGHUP: ", 1)[1] for line in proc.stderr.read().splitlines() if "SIGHUP: " in line]
    assert said[0] == "config applied: timers changed"
    assert said[1].startswith("config refused, the running config kept: timers.overstay_s")
    assert len(said) == 2


def test_hung_camera_stops_the_pings(write_config, camera_folder, systemd):
    proc = start_agent(write_config, camera_folder, systemd, 1.5, "--camera-hang")
    try:
        systemd.wait_for("READY=1")
        assert systemd.wait_for("STATUS=stuck") == "STATUS=stuck: camera"
        later = systemd.drain(2.0)  # two ping intervals' worth of silence
        assert "WATCHDOG=1" not in later, later
    finally:
        rc, out = stop(proc)
    assert rc == 0  # the hung reader is not waited for (a daemon stuck in the driver); the process exits cleanly
    assert "stop frames=ok stop sinks=ok" in out  # and no step ran out of time on it


def start_unwatched(write_config, camera_folder, flag: str, deadline_s: float = 1.5,
                    camera_deadline_s: float | None = None) -> subprocess.Popen:
    """As in the Jetson container: no NOTIFY_SOCKET, no WATCHDOG_USEC — nothing reads the pings."""
    cfg = write_config(
        camera={"source": str(camera_folder), "loop": True, "fps": 10},
        ops={"watchdog": {"camera_deadline_s": camera_deadline_s or deadline_s, "perception_deadline_s": deadline_s},
             "stop_timeout_s": 2},
    )
    return subprocess.Popen([sys.executable, "-m", "tests.ops.agent_ops_child", str(cfg), flag], cwd=REPO,
                            env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ended(proc: subprocess.Popen, timeout: float) -> tuple[int | None, str, str]:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        rc = None
        proc.kill()
        proc.wait()
    return rc, proc.stdout.read(), proc.stderr.read()


def test_hung_camera_without_a_service_manager_ends_the_process_for_its_restart_policy(write_config, camera_folder):
    """docker's HEALTHCHECK only labels a container unhealthy; `--restart on-failure` restarts on a non-zero
    exit, never on health (moby#28400). The stuck camera stayed stuck for good in the Jetson container; now the
    agent stops as SIGTERM would (locks safe, outbox flushed) and exits 1."""
    proc = start_unwatched(write_config, camera_folder, "--camera-hang-later")
    rc, out, err = ended(proc, timeout=60)
    assert rc == 1, err[-3000:]
    assert "stop frames=ok stop sinks=ok" in out  # the stop plan ran
    assert "camera stuck and no service manager watches this process" in err


def test_stuck_main_loop_without_a_service_manager_ends_the_process_itself(write_config, camera_folder):
    """The main loop stuck never reaches the stop plan: the process ends once the stop budget (2 s) and the
    margin are spent, as systemd's watchdog would end it."""
    # A folder's frames wait for the main loop to take them, so the camera loop stalls behind the stuck one: its
    # deadline is the later, or a loaded machine named the camera first (seen under a parallel test run).
    proc = start_unwatched(write_config, camera_folder, "--perception-hang-later", camera_deadline_s=6)
    rc, out, err = ended(proc, timeout=60)
    assert rc == 1, err[-3000:]
    assert "perception stuck" in err and "exiting now (1)" in err
    assert "stop frames=" not in out
