"""OpsRuntime end to end in this process: READY/RELOADING/STOPPING over a real notify socket, SIGHUP and SIGTERM
to ourselves, the metrics endpoint, the watchdog fed by loop turns on a FakeClock, and the stop plan."""

from __future__ import annotations

import os
import signal
import socket
import threading

import httpx
import pytest

from edge_agent.config.load import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.ops.lifecycle import OpsRuntime


@pytest.fixture
def notify(tmp_path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(10)
    yield str(path), s
    s.close()


def _cfg(tmp_path):
    return parse_config({
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": str(tmp_path)},
        "bays": [{"id": "A1", "polygon": [[0, 0], [10, 0], [10, 10]]}],
        "data_dir": str(tmp_path),
        "ops": {"metrics": {"enabled": True, "port": 0},
                "watchdog": {"camera_deadline_s": 60, "perception_deadline_s": 10}},
    })


def test_ops_runtime_lifecycle(tmp_path, notify, clock):
    path, sock = notify
    bus = EventBus()
    ops = OpsRuntime(_cfg(tmp_path), bus, clock, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
    reloaded = threading.Event()
    steps: list[str] = []
    ops.plan.add("stop frames", lambda: steps.append("frames"))
    ops.plan.add("flush", lambda left: steps.append(f"flush<={left:.0f}"))
    ops.start(on_reload=reloaded.set, ping_thread=False)  # the test ticks on its fake clock
    try:
        assert sock.recv(200).decode().startswith("READY=1\nSTATUS=running")
        url = f"http://127.0.0.1:{ops.metrics_server.port}/metrics"

        # Healthy loop turns on the fake clock → the watchdog pings (interval = WATCHDOG_USEC / 2 = 2 s).
        for _ in range(3):
            clock.advance(2.0)
            ops.loop_turn(got_frame=True, camera_reconnects=0)
            assert ops.watchdog.tick() is True
        assert [sock.recv(50) for _ in range(3)] == [b"WATCHDOG=1"] * 3

        # The camera stops delivering but keeps retrying (reconnects count up): still healthy.
        for n in range(1, 5):
            clock.advance(20.0)
            ops.loop_turn(got_frame=False, camera_reconnects=n)
        assert ops.watchdog.stuck() == []
        # The reader thread hangs (no frame, no retry) past its deadline → stuck, pings stop.
        for _ in range(4):
            clock.advance(20.0)
            ops.loop_turn(got_frame=False, camera_reconnects=4)
        assert ops.watchdog.stuck() == ["camera"] and ops.watchdog.tick() is False
        assert sock.recv(100) == b"STATUS=stuck: camera"
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1"))
        text = httpx.get(url, timeout=5).text
        assert "edge_agent_loops_stuck 1.0" in text
        assert 'edge_agent_events_total{type="vehicle_arrived"} 1.0' in text

        os.kill(os.getpid(), signal.SIGHUP)
        assert reloaded.wait(10)
        assert sock.recv(200).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert sock.recv(200).decode() == "READY=1\nSTATUS=running (reloaded)"

        os.kill(os.getpid(), signal.SIGTERM)
        assert ops.stop_requested.wait(10)
    finally:
        results = ops.finish()
    # the stop budget (5 s) and a margin: systemd waits that long whatever the unit's TimeoutStopSec= says
    assert sock.recv(100) == b"STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=10000000"
    assert [r.status for r in results] == ["ok", "ok"] and steps == ["frames", "flush<=5"]
    assert signal.getsignal(signal.SIGTERM) is not ops._signals._handle  # handlers restored
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=2)


def test_a_sighup_while_stopping_reloads_nothing(tmp_path, clock):
    """SIGHUP is served on its own thread until the stop plan has run: one during the stop rebuilt the bays over
    stopped parts, after "close databases" on a closed evidence index, and told systemd READY while it stopped."""
    ops = OpsRuntime(_cfg(tmp_path), EventBus(), clock, env={})
    reloads: list[int] = []
    reload = ops._reload(lambda: reloads.append(1))
    reload()
    ops.stop_requested.set()  # SIGTERM, the watchdog's stop or --max-seconds
    reload()
    assert reloads == [1]
