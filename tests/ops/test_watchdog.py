"""The watchdog pings systemd only while every loop progresses (real datagram socket, FakeClock)."""

from __future__ import annotations

import socket

import pytest

from edge_agent.ops.watchdog import Notifier, Watchdog, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path):
    """A real AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.setblocking(False)
    yield str(path), s
    s.close()


def drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_notifier_sends_ready_status_stopping(notify_socket):
    path, sock = notify_socket
    n = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert n.ready(status="running") and n.status("x") and n.stopping()
    assert drain(sock) == ["READY=1\nSTATUS=running", "STATUS=x", "STOPPING=1"]


def test_notifier_without_socket_is_a_noop():
    n = Notifier.from_env({})
    assert not n.enabled
    assert n.watchdog() is False


def test_notifier_abstract_socket(tmp_path):
    name = f"edge-agent-test-{tmp_path.name}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    try:
        assert Notifier("@" + name).watchdog()
        assert s.recv(100) == b"WATCHDOG=1"
    finally:
        s.close()


def test_stuck_loop_stops_pings_healthy_loops_keep_them(notify_socket, clock):
    path, sock = notify_socket
    wd = Watchdog(Notifier(path), clock, interval_s=2.0)
    camera = wd.register("camera", deadline_s=5.0)
    perception = wd.register("perception", deadline_s=5.0)

    # Healthy: both loops report every second; a ping goes out every interval.
    pings = 0
    for _ in range(10):
        clock.advance(1.0)
        camera.progress()
        perception.progress()
        pings += wd.tick()
    assert pings == 5
    assert drain(sock) == ["WATCHDOG=1"] * 5

    # Perception hangs; the camera keeps going. Within its deadline pings continue...
    for _ in range(5):
        clock.advance(1.0)
        camera.progress()
        wd.tick()
    assert wd.stuck() == []
    assert drain(sock).count("WATCHDOG=1") >= 2
    # ...past it they stop, and STATUS names the stuck loop once.
    for _ in range(20):
        clock.advance(1.0)
        camera.progress()
        assert wd.tick() is False
    assert wd.stuck() == ["perception"]
    assert drain(sock) == ["STATUS=stuck: perception"]

    # It recovers: pings resume and the status says so.
    perception.progress()
    assert wd.tick() is True
    assert drain(sock) == ["STATUS=running", "WATCHDOG=1"]


def test_progress_on_unknown_loop_is_an_error(clock):
    wd = Watchdog(Notifier(None), clock, interval_s=1)
    with pytest.raises(KeyError):
        wd.progress("nope")


def test_watchdog_interval_from_env():
    assert watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "7"}, pid=7) == 10.0


def test_on_stuck_once_per_episode_for_loops_that_had_run(clock):
    """Where no service manager reads the pings the caller ends the process on ``on_stuck``. A loop that never
    turned is still starting (TensorRT builds its engine on the first inference: minutes on an Orin Nano); a
    restart would only start that over, so it is not reported."""
    seen: list[list[str]] = []
    wd = Watchdog(Notifier(None), clock, interval_s=2.0, on_stuck=seen.append)
    camera = wd.register("camera", deadline_s=5.0)
    perception = wd.register("perception", deadline_s=5.0)
    clock.advance(60.0)  # neither has turned once: start-up, not stuck
    assert wd.stuck() == ["camera", "perception"] and wd.tick() is False and seen == []
    camera.progress()
    perception.progress()
    clock.advance(6.0)
    perception.progress()
    for _ in range(3):  # the camera ran, then stopped: reported once, however often the thread ticks
        assert wd.tick() is False
        clock.advance(1.0)
    assert seen == [["camera"]]
    camera.progress()
    wd.tick()  # no socket: no ping to send, but the episode is over
    assert wd.stuck() == []
    clock.advance(6.0)
    assert wd.tick() is False and seen == [["camera"], ["camera", "perception"]]  # a new episode


def test_time_the_process_did_not_run_counts_against_no_loop(clock):
    """A ``docker pause`` or a SIGSTOP (Ctrl-Z) stops every thread while the monotonic clock runs on: on resuming,
    the ticking thread found both loops silent for the whole pause and, with no service manager watching, the
    agent ended itself (exit 1) although nothing was stuck. A tick far later than its period credits the lost time
    to every loop; a loop that stays silent while the process runs is still reported within its deadline."""
    seen: list[list[str]] = []
    wd = Watchdog(Notifier(None), clock, interval_s=2.0, on_stuck=seen.append)
    wd.period_s = 0.5  # as start() sets it for its ticking thread (ticked here by hand on the fake clock)
    camera = wd.register("camera", deadline_s=5.0)
    perception = wd.register("perception", deadline_s=5.0)
    for _ in range(4):
        clock.advance(0.5)
        camera.progress()
        perception.progress()
        wd.tick()
    clock.advance(120.0)  # paused for two minutes
    wd.tick()
    assert wd.stuck() == [] and seen == []
    camera.progress()  # the camera runs on; perception really is stuck now
    for _ in range(9):
        clock.advance(0.5)
        camera.progress()
        wd.tick()
    assert seen == []  # 4.5 s of running time: within its deadline
    for _ in range(2):
        clock.advance(0.5)
        camera.progress()
        wd.tick()
    assert seen == [["perception"]]
