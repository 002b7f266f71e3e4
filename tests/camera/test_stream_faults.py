"""A live camera stream that misbehaves, read by the real reader (OpenCV's FFmpeg backend) from a real
MJPEG-over-HTTP server on loopback: undecodable frames, a camera that stops sending without closing,
SIGTERM's stop plan while a read is blocked."""

from __future__ import annotations

import socket
import threading

import pytest

from edge_agent.camera.source import OpenCVSource, open_source
from edge_agent.clock import SystemClock
from edge_agent.config.camera import CameraConfig
from edge_agent.ops.signals import ShutdownPlan
from tests.camera.mjpeg_server import MjpegServer, garbage, jpeg
from tests.camera.test_camera import wait_for


class Ticking:
    """A monotonic clock that moves on at every look: each frame read is due (fps plays no part)."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def server_factory():  # noqa: ANN201
    made: list[MjpegServer] = []

    def make(script) -> MjpegServer:  # noqa: ANN001
        s = MjpegServer(script)
        made.append(s)
        return s

    yield make
    for s in made:
        s.release()


def test_an_undecodable_frame_is_counted_and_the_stream_goes_on(server_factory, tmp_path):
    """A camera whose stream carries a frame its decoder cannot use (a glitch, a truncated JPEG): the
    reader took the failed read for the end of the stream and reconnected — a second blind per bad
    frame (17 reconnects in 20 s on a stream with every third frame garbled), and corrupt_frames
    stayed 0. One bad frame is counted; the connection stays."""
    from edge_agent.runtime.agent import Agent
    from edge_agent.sim.scenario import scene_config

    good = [jpeg(i) for i in range(8)]
    server = server_factory(lambda n: [good[0], good[1], garbage(1), good[2], good[3], garbage(2), *good[4:]])
    src = OpenCVSource(server.url, Ticking(), fps=5, reconnect_min_s=0.001, reconnect_max_s=0.004)  # type: ignore

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    agent = Agent(scene_config(str(tmp_path)), source=src, reader=NoReader())
    src.start()
    try:
        wait_for(lambda: src._seq >= 7)  # seven of the eight good frames (the last may wait for the next part)
        assert src.reconnects == 0
        assert src.corrupt == 2
        agent.step()
        assert agent.status()["camera"]["corrupt_frames"] == 2  # what the page shows
        extra = agent.health_figures().extra  # the MQTT heartbeat
        assert extra["camera_corrupt_frames"] == 2 and "camera_reconnects" not in extra  # only when non-zero
    finally:
        src.stop()


def test_a_stream_that_stops_sending_is_reopened_once_the_camera_is_lost(server_factory, tmp_path):
    """A camera that keeps its connection open and sends nothing more: OpenCV's FFmpeg backend waits
    30 s in that read, so the agent was blind 30 s plus the backoff before it even tried again (26 s of
    ``camera_lost`` for a stall a reconnect cures). The read's deadline is ``camera.lost_after_s``."""
    from edge_agent.runtime.agent import Agent
    from edge_agent.sim.scenario import scene_config

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    server = server_factory(lambda n: [jpeg(i) for i in range(3)])
    cam = CameraConfig(source=server.url, fps=60, lost_after_s=1, reconnect_min_s=0.01, reconnect_max_s=0.02)
    src = open_source(cam, SystemClock())  # as the agent opens its camera
    src.start()
    try:
        wait_for(lambda: src.reconnects >= 1 and src._seq > 3, timeout=15)  # frames of a second connection;
        # the old reader tried again only after 30 s
        agent = Agent(scene_config(str(tmp_path)), source=src, reader=NoReader())
        agent.step()
        assert agent.health_figures().extra["camera_reconnects"] == src.reconnects  # the heartbeat says it
    finally:
        src.stop()


def test_sigterm_does_not_wait_for_a_read_blocked_in_the_camera(server_factory):
    """SIGTERM while the reader is blocked in a read of a silent stream: ``stop()`` joined it for 5 s,
    so ``run``'s stop plan logged "stop frames still running … moving on" and then "stop sinks still
    running" (the agent's stop stops the camera last): every step past its cap, for a thread that is a
    daemon anyway. The reader is not waited for; it closes its capture when its read returns."""
    server = server_factory(lambda n: [jpeg(0), jpeg(1)])
    src = OpenCVSource(server.url, SystemClock(), fps=1000)  # no read deadline: blocked as long as OpenCV lets it
    src.start()
    wait_for(lambda: src._seq >= 1)
    plan = ShutdownPlan(budget_s=5.0)
    plan.add("stop frames", src.stop, timeout_s=1.0)  # as `run` adds it
    plan.add("stop again", src.stop, timeout_s=1.5)  # the agent's own stop ends with the camera's
    results = plan.run()
    assert [r.status for r in results] == ["ok", "ok"], results
    assert src._thread is not None
    server.release()  # the read fails now; the thread ends by itself
    wait_for(lambda: not src._thread.is_alive())


def test_a_camera_that_sends_one_frame_per_reconnect_is_lost_once_not_flapping(tmp_path, clock):
    """A stream that stalls after each reconnect gives one frame every ~6 s (5 s read deadline, 1 s backoff):
    each lone frame was ``camera_restored`` and 5 s later ``camera_lost`` again — ten events a minute, each
    ``camera_lost`` a push notification, the bays judged on every lone frame. A camera is back once frames have
    flowed for ``camera.lost_after_s``; then it is restored once, with the fps it runs at."""
    from edge_agent.camera.source import Frame
    from edge_agent.runtime.agent import Agent
    from edge_agent.sim.scenario import EMPTY, scene_config
    from edge_agent.sim.synthetic import render

    image = render(EMPTY)

    class Scripted:  # a frame when the script says so, on the agent's fake clock
        reconnects = 0
        flowing = False

        def __init__(self) -> None:
            self.seq, self.next_t = 0, 0.0

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def latest(self) -> Frame | None:
            if clock.monotonic() + 1e-9 < self.next_t:
                return None
            self.seq += 1
            self.next_t = clock.monotonic() + (0.2 if self.flowing else 6.0)
            return Frame(image, self.seq, clock.monotonic())

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    src = Scripted()
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=src, reader=NoReader())
    events: list = []
    agent.bus.subscribe(lambda e: events.append(e) if e.type.startswith("camera_") else None)
    for _ in range(int(60 / 0.2)):  # a minute of lone frames
        agent.step()
        clock.advance(0.2)
    assert [e.type for e in events] == ["camera_lost"]
    assert all(not s.camera_ok for s in agent.bus.states().values())  # no bay judged on a lone frame
    src.flowing = True
    for _ in range(int(10 / 0.2)):  # frames flow again
        agent.step()
        clock.advance(0.2)
    assert [e.type for e in events] == ["camera_lost", "camera_restored"]
    assert events[1].data["fps"] == pytest.approx(5.0, rel=0.05)
    assert all(s.camera_ok for s in agent.bus.states().values())


class SilentCamera:
    """A camera that accepts each TCP connection and never answers (one booting, a hung RTSP or HTTP server):
    the connections are held open, nothing is sent."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, name="silent-camera", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed
                return
            self._held.append(conn)

    def close(self) -> None:
        self._sock.close()
        for c in self._held:
            c.close()


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_camera_that_accepts_and_never_answers_is_tried_again_after_open_timeout(scheme, tmp_path, clock, caplog):
    """A camera that takes the connection and sends nothing: OpenCV's FFmpeg backend waited 30 s in the open
    before the reader could try again, so a camera back from a reboot was seen up to 30 s late, and the backend's
    one-open-at-a-time lock held every other capture open of the process that long.
    The open's deadline is ``camera.open_timeout_s``. ``camera_lost`` never waited for the open: the agent's loop
    judges the frames' age on its own clock."""
    from edge_agent.runtime.agent import Agent
    from edge_agent.sim.scenario import scene_config

    cam = SilentCamera()
    cfg = CameraConfig(source=f"{scheme}://127.0.0.1:{cam.port}/stream", lost_after_s=1, open_timeout_s=1,
                       reconnect_min_s=0.01, reconnect_max_s=0.02)
    src = open_source(cfg, SystemClock())
    src.start()
    try:
        wait_for(lambda: src.reconnects >= 2, timeout=10)  # two opens given up; each took 30 s (60 s) before
        # the log says the open ran out of time (it blamed the URL's path or the password)
        assert any("sent no stream within 1 s (camera.open_timeout_s" in r.getMessage() for r in caplog.records)

        class NoReader:
            def process(self, frame, region=None):  # noqa: ANN001, ANN201
                return []

        agent = Agent(scene_config(str(tmp_path)), clock=clock, source=src, reader=NoReader())
        events: list = []
        agent.bus.subscribe(lambda e: events.append(e) if e.type.startswith("camera_") else None)
        for _ in range(int(6 / 0.2)):  # six seconds on the agent's clock: camera.lost_after_s is 5 there
            agent.step()
            clock.advance(0.2)
        assert [(e.type, e.data["reason"]) for e in events] == [("camera_lost", "no_frames")]
    finally:
        src.stop()
        cam.close()
