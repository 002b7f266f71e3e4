"""Frame sources on real OpenCV readers (image folder, video file) and camera health."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.camera.health import HealthTracker
from edge_agent.camera.source import (
    PTS_WRAP_S,
    Frame,
    OpenCVSource,
    default_opener,
    describe_source,
    open_source,
    pts_wrap_s,
    sample,
)
from edge_agent.clock import FakeClock, SystemClock
from edge_agent.config.camera import CameraConfig
from edge_agent.sim.scenario import EMPTY, NEV, Scene, scene_config
from edge_agent.sim.synthetic import render


def wait_for(pred, timeout: float = 30.0) -> None:  # noqa: ANN001
    """Poll a real reader thread (never asserts on wall time)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            pytest.fail("reader thread produced nothing in time")
        time.sleep(0.005)


def collect(src: OpenCVSource, n: int) -> list[Frame]:
    got: list[Frame] = []

    def more() -> bool:
        f = src.latest()
        if f is not None:
            got.append(f)
        return len(got) >= n or src.finished

    wait_for(more)
    return got


def test_image_folder_replays_in_order_and_counts_corrupt_files(tmp_path):
    for i, shade in enumerate((40, 120, 200)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((60, 80, 3), shade, np.uint8))
    (tmp_path / "001b.jpg").write_bytes(b"not a jpeg at all")
    src = OpenCVSource(str(tmp_path), SystemClock(), fps=60, sleep=lambda s: None)
    seen: list[int] = []
    frames_done = threading.Event()
    src.start()

    def grab() -> bool:
        f = src.latest()
        if f is not None:
            seen.append(int(f.image[0, 0, 0]))
        if src.finished and src.latest() is None:
            frames_done.set()
        return frames_done.is_set()

    wait_for(grab)
    src.stop()
    assert src.corrupt == 1
    assert seen == sorted(seen) and seen[-1] == 200  # order kept; newest always reaches the consumer


def test_latest_frame_semantics_skip_what_the_agent_missed(tmp_path):
    for i in range(30):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((40, 40, 3), i * 8, np.uint8))
    src = OpenCVSource(str(tmp_path), SystemClock(), fps=1000, sleep=lambda s: None)
    src.start()
    wait_for(lambda: src.finished)
    f = src.latest()
    assert f is not None and f.seq == 30 and src.latest() is None  # one slot, the newest, taken once
    src.stop()


def test_a_recording_run_plays_loses_no_frame_to_a_slow_agent(tmp_path):
    """``run`` on a folder (or file) plays it whole: each frame waits for the agent to take the one before. Before,
    the newest-frame rule dropped what an agent on a loaded CPU had no time for, and the same folder told another
    story (no arrival, no identification) by the machine's load; and ``finished`` could be set while the last frame
    was still in the slot, so the loop ended without it."""
    for i in range(30):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((40, 40, 3), i * 8, np.uint8))
    assert open_source(CameraConfig(source=str(tmp_path)), SystemClock()).whole  # what `run` opens
    assert not open_source(CameraConfig(source="rtsp://cam/1"), SystemClock()).whole  # a camera cannot wait
    src = OpenCVSource(str(tmp_path), SystemClock(), fps=1000, whole=True)  # a frame a ms: far ahead of the taker
    src.start()
    got: list[Frame] = []

    def take() -> bool:
        f = src.latest()
        if f is not None:
            got.append(f)
        return src.finished and src.latest() is None

    wait_for(take)
    src.stop()
    assert [f.seq for f in got] == list(range(1, 31))
    assert [int(f.image[0, 0, 0]) for f in got] == [i * 8 for i in range(30)]


def test_video_file_is_read(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 64))
    for i in range(10):
        w.write(np.full((64, 96, 3), i * 20, np.uint8))
    w.release()
    src = OpenCVSource(str(path), SystemClock(), fps=100, sleep=lambda s: None)
    src.start()
    frames = collect(src, 1)
    wait_for(lambda: src.finished)
    src.stop()
    assert frames and frames[0].image.shape == (64, 96, 3)


def test_failing_source_reconnects_with_backoff():
    opened = []

    class Cap:
        def __init__(self, ok: bool) -> None:
            self.ok, self.n = ok, 0

        def isOpened(self) -> bool:  # noqa: N802
            return self.ok

        def read(self):  # noqa: ANN201
            self.n += 1
            if self.n > 3:
                raise cv2.error("stream dropped")
            return True, np.full((32, 32, 3), 99, np.uint8)

        def release(self) -> None:
            pass

    def opener() -> Cap:
        opened.append(1)
        return Cap(ok=len(opened) > 2)  # refused twice, then a stream that drops after 3 frames

    src = OpenCVSource("rtsp://camera/1", SystemClock(), fps=1000, reconnect_min_s=0.001, reconnect_max_s=0.004,
                       opener=opener)
    src.start()
    wait_for(lambda: src.reconnects >= 4)
    src.stop()
    assert len(opened) >= 4 and src.latest() is not None


class _Frames:
    """A capture that gives ``n`` frames (``None``: for ever), then drops."""

    def __init__(self, n: int | None) -> None:
        self.n = n

    def isOpened(self) -> bool:  # noqa: N802
        return True

    def read(self):  # noqa: ANN201
        time.sleep(0.001)  # a real capture's pace; nothing waits on wall time
        if self.n is not None:
            if self.n == 0:
                raise cv2.error("stream dropped")
            self.n -= 1
        return True, np.full((32, 32, 3), 99, np.uint8)

    def release(self) -> None:
        pass


class _Refused(_Frames):
    def isOpened(self) -> bool:  # noqa: N802
        return False


def _camera_log(caplog, plan, opens_before_stop: int, clock: FakeClock):  # noqa: ANN001, ANN202
    """Run the real reader on a scripted camera: ``plan(i)`` is the capture of open ``i`` (from 1), each open
    ``step_s`` on the fake clock; returns the camera's log records at INFO and above."""
    opens = []

    def opener():  # noqa: ANN202
        opens.append(1)
        cap, step_s = plan(len(opens))
        clock.advance(step_s)
        return cap

    src = OpenCVSource("rtsp://camera/1", clock, fps=1000, reconnect_min_s=0.0005, reconnect_max_s=0.001,
                       opener=opener)
    with caplog.at_level(logging.DEBUG, logger="edge_agent.camera.source"):
        src.start()
        wait_for(lambda: len(opens) >= opens_before_stop, timeout=60)
        src.stop()
    return [r for r in caplog.records if r.name == "edge_agent.camera.source" and r.levelno >= logging.INFO]


def test_a_camera_away_for_hours_is_told_first_then_every_ten_minutes_then_back(caplog):
    """Two hours of a camera that refuses (an attempt every 30 s, the default longest backoff): every retry
    was a warning, 240 lines (and FFmpeg's own as many again) into a Pi's journal. Now its first failure,
    a reminder every ``REMIND_S`` with the attempts so far, and the first frame after it."""
    clock = FakeClock()
    away = 240
    records = _camera_log(caplog, lambda i: (_Refused(0), 30.0) if i <= away else (_Frames(None), 0.0),
                          away + 1, clock)
    got_frame = [r for r in records if r.levelno == logging.INFO]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == away * 30 // OpenCVSource.REMIND_S  # 12: the first, then one each 10 min
    assert "cannot open; retrying" in warnings[0] and "still no frame after 21 attempts in 600 s" in warnings[1]
    assert [r.getMessage() for r in got_frame] == [f"camera stream: frames again after {away} failed attempt(s) "
                                                   f"in {(away - 1) * 30} s"]


def test_a_camera_that_drops_every_minute_is_not_a_warning_a_minute(caplog):
    """A stream that gives frames and drops once a minute for two hours: each drop was a warning."""
    clock = FakeClock()
    records = _camera_log(caplog, lambda i: (_Frames(3), 60.0), 120, clock)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert 10 <= len(warnings) <= 13  # one every 10 min, not 120
    assert "short outage(s) since the last warning" in warnings[1]


def test_health_fps_lost_frozen_black_corrupt(clock):
    h = HealthTracker(clock, lost_after_s=5, frozen_after_s=30, black_level=8)
    rng = np.random.default_rng(0)
    for _ in range(10):
        assert h.on_frame(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        clock.advance(0.2)
    s = h.health()
    assert s.ok and s.fps == pytest.approx(5.0, rel=0.01)
    clock.advance(5.0)
    assert h.health().reason == "no_frames"
    still = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    for _ in range(160):
        h.on_frame(still)
        clock.advance(0.2)
    assert h.health().reason == "frozen"
    h.on_frame(np.zeros((48, 64, 3), np.uint8))
    assert h.health().reason == "black"
    assert not h.on_frame(None) and not h.on_frame(np.zeros((0, 0, 3), np.uint8))
    assert not h.on_frame(np.zeros((48, 64, 3), np.float32))
    assert h.health().corrupt_frames == 3


@pytest.mark.parametrize("camera", [{}, {"rotate": 180}, {"flip": "horizontal"}])
def test_agent_survives_corrupt_and_black_frames(tmp_path, clock, camera):
    """Also with ``camera.rotate`` / ``flip``: the turn comes before the health check, and once raised on
    a frame that was no image (cv2.rotate / cv2.flip refuse it): the loop died instead of counting it."""
    from edge_agent.runtime.agent import Agent

    bad = [None, np.zeros((2, 2), np.uint8), np.zeros((540, 960, 3), np.uint8), "junk", np.zeros((4, 4, 3, 2), np.uint8)]

    class Garbage:
        reconnects = 0
        i = 0

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def latest(self) -> Frame:
            self.i += 1
            img = bad[self.i % len(bad)] if self.i < 40 else render(Scene(cars=(NEV,)) if self.i > 45 else EMPTY)
            return Frame(img, self.i, clock.monotonic())

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    cfg = scene_config(str(tmp_path), camera=camera)
    agent = Agent(cfg, clock=clock, source=Garbage(), reader=NoReader())
    events = []
    agent.bus.subscribe(events.append)
    for _ in range(80):  # good pictures from 8 s: back once they came for lost_after_s (5 s)
        agent.step()
        clock.advance(0.2)
    assert agent.health.health().corrupt_frames >= 20
    assert [e.type for e in events][:2] == ["camera_lost", "camera_restored"]
    assert events[0].data["reason"] == "black"  # garbage is counted; black frames make the camera "lost"


def test_stream_that_drops_for_a_minute_reconnects_with_health_events(tmp_path, clock):
    """The real reader thread against a stream that dies and comes back; the agent's clock is fake."""
    from edge_agent.runtime.agent import Agent

    online = threading.Event()
    online.set()

    class Cap:
        def isOpened(self) -> bool:  # noqa: N802
            return online.is_set()

        def read(self):  # noqa: ANN201
            time.sleep(0.002)
            if not online.is_set():
                return False, None  # RTSP read failure
            return True, render(EMPTY)

        def release(self) -> None:
            pass

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    src = OpenCVSource("rtsp://camera/1", clock, fps=5, reconnect_min_s=0.001, reconnect_max_s=0.01, opener=Cap)
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=src, reader=NoReader())
    events = []
    agent.bus.subscribe(events.append)
    agent.start()

    def step_until(pred, seconds: float) -> None:  # noqa: ANN001
        for _ in range(int(seconds / 0.2)):
            wait_for(lambda: agent.step() or not online.is_set(), timeout=10)
            clock.advance(0.2)
            if pred():
                return

    step_until(lambda: False, 2)
    r0 = src.reconnects
    online.clear()
    wait_for(lambda: src.reconnects > r0)  # the reader noticed (fake time must not race a read in flight)
    step_until(lambda: False, 60)
    assert [e.type for e in events] == ["camera_lost"]
    reconnects_while_down = src.reconnects
    online.set()
    step_until(lambda: len(events) > 1, 10)
    agent.stop()
    assert [e.type for e in events] == ["camera_lost", "camera_restored"]
    assert reconnects_while_down > 0 and events[1].data["blind_s"] >= 55
    assert all(s.state == "free" for s in agent.bus.states().values())


def test_video_file_is_sampled_at_camera_fps_by_its_timestamps(tmp_path):
    """Issue 14: a 30 fps file was played frame by frame with a 1/fps sleep (6x slow at 5 fps)."""
    path = tmp_path / "clip30.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (96, 64))
    for i in range(60):  # 2 s of media, frame i shows grey level 4 * i
        w.write(np.full((64, 96, 3), 4 * i, np.uint8))
    w.release()
    clock = FakeClock()
    t0 = clock.monotonic()
    src = OpenCVSource(str(path), clock, fps=5, sleep=clock.advance)  # the reader's waits move the clock
    src.start()
    frames = []
    wait_for(lambda: (f := src.latest()) is not None and frames.append(f) or src.finished)
    src.stop()
    while (f := src.latest()) is not None:
        frames.append(f)
    assert src.finished
    # the reader thread may overwrite the slot before we take it, but every frame it kept is a sample:
    idx = [round(int(f.image[0, 0, 0]) / 4) for f in frames]
    assert all(i % 6 in (0, 5, 1) for i in idx), idx  # every 6th frame (±1 for the codec's rounding)
    times = [f.t - t0 for f in frames]
    for i, t in zip(idx, times):
        assert t == pytest.approx(i / 30, abs=0.04)  # played at media time, not 1/fps per frame
    assert times[-1] <= 2.0 and idx[-1] >= 50


def _ts_parts(tmp_path: Path) -> list[bytes]:
    """Two 2 s MPEG-TS recordings at 5 fps (grey levels 20 + 8 i, then 120 + 8 i), as two runs of a recorder write
    them; each one's clock starts at 0."""
    parts = []
    for k in range(2):
        part = tmp_path / f"part{k}.ts"
        w = cv2.VideoWriter(str(part), cv2.VideoWriter_fourcc(*"MPEG"), 5, (96, 64))
        for i in range(10):
            w.write(np.full((64, 96, 3), 20 + 100 * k + 8 * i, np.uint8))
        w.release()
        parts.append(part.read_bytes())
    return parts


def test_joined_recordings_whose_timestamps_restart_are_played_whole(tmp_path):
    """Two MPEG-TS recordings joined with ``cat`` (an NVR's export): the second restarts at 0 s.
    It was skipped whole, without a word, until its media time passed the first's end."""
    parts = _ts_parts(tmp_path)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    cap = cv2.VideoCapture(str(joined))
    try:
        got = list(sample(cap, "file", 5))
    finally:
        cap.release()
    times = [t for _, t in got]
    assert len(got) == 20
    assert all(b > a for a, b in zip(times, times[1:])), times  # media time runs on
    assert times[-1] == pytest.approx(3.8, abs=0.05)
    assert int(got[-1][0].mean()) > 150  # the last frame is the second recording's


def _ts_clock_moved(data: bytes, seconds: float) -> bytes:
    """An MPEG-TS file with every PTS, DTS and PCR ``seconds`` later, as a recorder whose clock ran that long
    before it started writes them (33 bits of 90 kHz)."""
    out, shift = bytearray(data), round(seconds * 90_000)

    def moved(at: int) -> None:  # a 5-byte PTS / DTS field: 3 + 15 + 15 bits with markers
        b = out[at:at + 5]
        v = ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
        v = (v + shift) % (1 << 33)
        out[at:at + 5] = bytes([(b[0] & 0xF1) | ((v >> 29) & 0xE), (v >> 22) & 0xFF, ((v >> 14) & 0xFE) | 1,
                                (v >> 7) & 0xFF, ((v << 1) & 0xFE) | 1])

    for p in range(0, len(out) - 187, 188):
        assert out[p] == 0x47
        at = p + 4
        if out[p + 3] & 0x20:  # adaptation field: a PCR (33-bit base first) when its flag says
            if out[p + 4] and out[p + 5] & 0x10:
                base = (int.from_bytes(out[p + 6:p + 10], "big") << 1 | out[p + 10] >> 7) + shift
                base %= 1 << 33
                out[p + 6:p + 10] = (base >> 1).to_bytes(4, "big")
                out[p + 10] = (out[p + 10] & 0x7F) | (base & 1) << 7
            at += 1 + out[p + 4]
        if out[p + 1] & 0x40 and out[at:at + 3] == b"\x00\x00\x01" and out[at + 3] >= 0xBD:  # a PES header
            flags = out[at + 7] >> 6
            if flags & 2:
                moved(at + 9)
            if flags == 3:
                moved(at + 14)
    return bytes(out)


def test_joined_recordings_whose_clock_went_back_over_a_minute_are_played_whole(tmp_path):
    """Two MPEG-TS recordings joined with ``cat``, the second's clock 1000 s behind the first's (the recorder
    restarted): FFmpeg takes a timestamp over 60 s below the file's first for a 33-bit wrap and adds 26.5 h, so
    4 s of clip played as 26.2 h — a day of ``camera_lost``, the second part's events a day late."""
    parts = _ts_parts(tmp_path)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(_ts_clock_moved(parts[0], 1000.0) + parts[1])
    cap = cv2.VideoCapture(str(joined))
    try:
        got = list(sample(cap, "file", 5, pts_wrap_s(str(joined))))
    finally:
        cap.release()
    times = [t for _, t in got]
    assert len(got) == 20
    assert all(b > a for a, b in zip(times, times[1:])), times
    assert times[-1] == pytest.approx(3.8, abs=0.05)
    assert int(got[-1][0].mean()) > 150  # the last frame is the second recording's


def test_only_mpeg_streams_timestamps_are_read_as_wrapping(tmp_path):
    """An MP4 / MKV's timestamps do not wrap: a gap of hours in them is a gap (a night between motion clips)."""
    ts = tmp_path / "a.ts"
    w = cv2.VideoWriter(str(ts), cv2.VideoWriter_fourcc(*"MPEG"), 5, (96, 64))
    w.write(np.zeros((64, 96, 3), np.uint8))
    w.release()
    m2ts = tmp_path / "a.m2ts"  # Blu-ray / AVCHD packets: a 4-byte time code before each
    data = ts.read_bytes()
    m2ts.write_bytes(b"".join(bytes(4) + data[p:p + 188] for p in range(0, len(data), 188)))
    ps = tmp_path / "a.mpg"
    ps.write_bytes(bytes.fromhex("000001ba4400040004010189c3f8") + bytes(100))  # a DVD's first pack header
    mp4 = tmp_path / "a.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x10ftypisom" + bytes(600))
    assert [pts_wrap_s(str(p)) for p in (ts, m2ts, ps)] == [PTS_WRAP_S] * 3
    assert pts_wrap_s(str(mp4)) is None and pts_wrap_s(str(tmp_path / "gone.ts")) is None
    assert pts_wrap_s("videotestsrc ! appsink") is None


def test_mpeg_streams_are_known_past_a_cut_packet_or_a_makers_header(tmp_path):
    """FFmpeg reads a transport stream cut at any byte (``tail -c``, a capture begun mid-packet) and a program
    stream after a camera maker's header (Hikvision's recordings open with a 40-byte ``IMKH`` block before the first
    pack) with their 33-bit clock all the same: taken for other containers, two such recordings joined with the
    second's clock 1000 s behind played 26.2 h. An MP4 whose sample-size table holds the pack code's four bytes
    (a 442-byte frame) is no program stream."""
    ts, ps = tmp_path / "a.ts", tmp_path / "a.mpg"
    for path, api in ((ts, cv2.CAP_ANY), (ps, cv2.CAP_FFMPEG)):
        w = cv2.VideoWriter(str(path), api, cv2.VideoWriter_fourcc(*"MPEG"), 5, (96, 64))
        for i in range(5):
            w.write(np.full((64, 96, 3), 40 * i, np.uint8))
        w.release()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(ts.read_bytes()[100:])
    maker = tmp_path / "maker.mp4"
    maker.write_bytes(b"IMKH" + bytes(36) + ps.read_bytes())
    for path in (cut, maker):
        cap = cv2.VideoCapture(str(path))
        try:
            assert cap.isOpened() and cap.grab(), path  # FFmpeg plays it
        finally:
            cap.release()
    assert [pts_wrap_s(str(p)) for p in (cut, maker)] == [PTS_WRAP_S] * 2

    def box(kind: bytes, body: bytes) -> bytes:
        return (8 + len(body)).to_bytes(4, "big") + kind + body

    sizes = b"".join(n.to_bytes(4, "big") for n in (442, 451, 438, 442, 460))  # 442 = 0x000001BA
    mp4 = tmp_path / "b.mp4"
    mp4.write_bytes(box(b"ftyp", b"isom" + bytes(4)) + box(b"moov", box(b"stsz", bytes(12) + sizes)) + bytes(600))
    assert pts_wrap_s(str(mp4)) is None


def test_looping_folder_follows_new_files_and_reconnects_once_emptied(tmp_path):
    """A looping folder kept the names it opened with: refilled under new names it read "no such
    file" for ever (blind, never reconnected); emptied or removed, the same."""
    folder = tmp_path / "snapshots"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((40, 40, 3), 50, np.uint8))
    open_ = default_opener(str(folder), loop=True)  # as the source keeps it: every reconnect calls it
    cap = open_()
    ok, img = cap.read()
    assert ok and img[0, 0, 0] == 50
    (folder / "a.png").unlink()
    cv2.imwrite(str(folder / "b.png"), np.full((40, 40, 3), 150, np.uint8))
    ok, img = cap.read()  # the next pass lists the folder again
    assert ok and img is not None and img[0, 0, 0] == 150
    (folder / "b.png").unlink()
    folder.rmdir()
    with pytest.raises(OSError, match="no images left"):  # → the source reconnects with backoff
        cap.read()
    assert not open_().isOpened()  # a folder that is gone does not open as a file named like it
    folder.mkdir()
    cv2.imwrite(str(folder / "c.png"), np.full((40, 40, 3), 200, np.uint8))
    reopened = open_()
    assert reopened.isOpened() and reopened.read()[1][0, 0, 0] == 200


def test_agent_status_reports_the_readers_reconnects(tmp_path, clock):
    """``agent.status()["camera"]["reconnects"]`` (documented in bays.md) was always 0: the health
    tracker's count was never fed from the reader."""
    from edge_agent.runtime.agent import Agent

    class Flaky:
        reconnects = 0

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def latest(self) -> None:
            return None

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    src = Flaky()
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=src, reader=NoReader())
    src.reconnects = 3
    agent.step()
    assert agent.status()["camera"]["reconnects"] == 3


def test_stop_ends_a_files_wait_for_its_next_frame(tmp_path):
    """At fps 0.01 the reader sleeps 100 s between a folder's frames: stop() (SIGTERM's first step)
    joined for 5 s and gave up, leaving the thread asleep; the stop plan logged "still running"."""
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 40, 3), 60, np.uint8))
    src = OpenCVSource(str(tmp_path), SystemClock(), fps=0.01)
    src.start()
    wait_for(lambda: src.latest() is not None)  # the first frame is out; the reader now waits 100 s
    src.stop()
    assert src._thread is not None and not src._thread.is_alive()


def test_looping_video_file_plays_again_from_the_start(tmp_path):
    """``camera.loop: true`` on a video file was ignored: the reader finished after one pass and
    ``run`` exited (0, so systemd's Restart=on-failure did not bring it back)."""
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 64))
    for i in range(5):
        w.write(np.full((64, 96, 3), 40 * i, np.uint8))
    w.release()
    clock = FakeClock()
    src = OpenCVSource(str(path), clock, fps=5, loop=True, sleep=clock.advance)
    src.start()
    seen: list[int] = []

    def more() -> bool:
        f = src.latest()
        if f is not None:
            seen.append(f.seq)
        return src.finished or (bool(seen) and seen[-1] > 12)

    wait_for(more)
    src.stop()
    assert not src.finished and seen[-1] > 12  # past the file's 5 frames: it went round again
    assert src.reconnects == 0  # playing it again is no reconnect


def test_a_source_that_opens_but_gives_no_frame_keeps_backing_off():
    """The delay went back to reconnect_min_s at every successful open, so a source that opens and
    fails before its first frame was reopened every second for ever (here: a looping cut-off file)."""

    class NoFrames:  # opens, then has nothing (a cut-off recording)
        def isOpened(self) -> bool:  # noqa: N802
            return True

        def grab(self) -> bool:
            return False

        def get(self, prop: int) -> float:
            return 0.0

        def release(self) -> None:
            pass

    delays: list[float] = []
    src = OpenCVSource("cut.mp4", SystemClock(), fps=5, loop=True, reconnect_min_s=0.001, reconnect_max_s=0.004,
                       opener=NoFrames)
    real_wait = src._stop.wait
    src._stop.wait = lambda s: delays.append(s) or real_wait(s)  # type: ignore[method-assign]
    src.start()
    wait_for(lambda: src.reconnects >= 3)
    src.stop()
    assert not src.finished and delays[:3] == [0.001, 0.002, 0.004]  # each pass is a failed open: backoff


def test_a_camera_device_path_is_a_live_camera_that_reconnects():
    """``source: /dev/video0`` was a "file": played by its timestamps, and unplugging the camera
    ended the file, so ``run`` exited instead of reconnecting."""
    assert describe_source("/dev/video7") == "usb"  # also while unplugged: the node is gone
    assert describe_source("/dev/v4l/by-id/usb-0c45_USB_Camera-video-index0") == "usb"
    assert describe_source("/dev/shm") == "folder"

    class Unplugged:  # three frames, then the cable is pulled
        def __init__(self) -> None:
            self.n = 0

        def isOpened(self) -> bool:  # noqa: N802
            return True

        def read(self):  # noqa: ANN201
            self.n += 1
            return (True, np.full((32, 32, 3), 99, np.uint8)) if self.n <= 3 else (False, None)

        def release(self) -> None:
            pass

    src = OpenCVSource("/dev/video7", SystemClock(), fps=1000, reconnect_min_s=0.001, reconnect_max_s=0.004,
                       opener=Unplugged)
    src.start()
    wait_for(lambda: src.reconnects >= 2 or src.finished)
    src.stop()
    assert not src.finished and src.kind == "usb"


def test_health_can_be_asked_from_another_thread_while_frames_arrive():
    """The heartbeat and /metrics call ``health()`` from their own threads while the camera loop appends
    frame times: iterating the deque itself raised "deque mutated during iteration" (132 of 20,000 calls
    here with a short switch interval), and the scrape or the heartbeat's figures failed."""
    import sys

    h = HealthTracker(FakeClock())
    image = np.zeros((16, 16, 3), np.uint8)
    for _ in range(60):
        h.on_frame(image)
    stop = threading.Event()

    def frames() -> None:
        while not stop.is_set():
            h._times.append(0.0)

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    feeder = threading.Thread(target=frames)
    feeder.start()
    errors = 0
    try:
        for _ in range(20_000):
            try:
                h.health()
            except RuntimeError:
                errors += 1
    finally:
        stop.set()
        feeder.join()
        sys.setswitchinterval(before)
    assert errors == 0


def test_folder_frames_play_in_number_order_and_hidden_files_are_no_frames(tmp_path):
    """``ffmpeg -i clip.mp4 frame%d.jpg`` writes unpadded numbers: as text frame10 sorted before frame2 (a PKLot
    replay so named found 0 of 20 arrivals instead of 18); macOS's ``._frame1.png`` on a copied card took a
    frame's time slot each (the clip played twice as long)."""
    shades = {1: 10, 2: 20, 3: 30, 10: 100, 11: 110, 20: 200}
    for i, shade in shades.items():
        ext = ("png", "jpg", "tif")[i % 3]  # mixed extensions sort as one sequence (TIFF was left out)
        cv2.imwrite(str(tmp_path / f"frame{i}.{ext}"), np.full((40, 60, 3), shade, np.uint8))
        (tmp_path / f"._frame{i}.{ext}").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    cap = default_opener(str(tmp_path), loop=False)()
    got = [(int(img[0, 0, 0]) if img is not None else None, t) for img, t in sample(cap, "folder", 2.0)]
    assert [s for s, _ in got] == [pytest.approx(v, abs=2) for _, v in sorted(shades.items())]
    assert [t for _, t in got] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_a_damaged_stretch_inside_a_video_is_corrupt_frames_not_the_end(tmp_path):
    """A bad stretch in the middle of a recording fails a few grabs, then the decoder resumes: taken for the
    end of the file, it dropped the rest of the clip without a word (a 12 s PKLot clip replayed as 5 s, its
    truth cut to those 5 s by eval-visits). The frames after it play at their own times."""
    rng = np.random.default_rng(7)
    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for i in range(60):
        w.write((rng.random((120, 160, 3)) * 60 + i * 3).astype(np.uint8))  # brighter frame by frame
    w.release()
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * 0.45), int(len(data) * 0.55)
    data[a:b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    got = list(sample(default_opener(str(path), loop=False)(), "file", 10.0))
    good = [(img, t) for img, t in got if img is not None]
    assert good[-1][1] == pytest.approx(5.9, abs=0.05)  # played to its last frame
    assert (len(good), len(got) - len(good)) == (53, 7)  # the damaged frames are said, as corrupt ones
    assert all(t2 > t1 for (_, t1), (_, t2) in zip(good, good[1:]))
    assert float(good[-1][0].mean()) > 170  # the last frame's own picture (i = 59)


def test_a_video_whose_header_claims_endless_frames_still_ends():
    """Reading on over a damaged stretch is bounded by the frames the container says remain — and by
    ``MAX_DAMAGED_S`` of them, since a broken header can claim a billion (at 10 µs a failed grab: hours)."""
    from edge_agent.camera import source

    class Claims:  # 3 good frames at 10 fps, then nothing, with a header that says 1e9 frames
        def __init__(self) -> None:
            self.pos, self.tries = 0, 0

        def grab(self) -> bool:
            self.tries += 1
            assert self.tries < 100_000, "read on for ever"
            if self.pos < 3:
                self.pos += 1
                return True
            return False

        def retrieve(self) -> tuple[bool, np.ndarray]:
            return True, np.zeros((8, 8, 3), np.uint8)

        def get(self, prop: int) -> float:
            return {cv2.CAP_PROP_FPS: 10.0, cv2.CAP_PROP_FRAME_COUNT: 1e9, cv2.CAP_PROP_POS_FRAMES: self.pos,
                    cv2.CAP_PROP_POS_MSEC: self.pos * 100.0 - 100.0}.get(prop, 0.0)

    cap = Claims()
    got = list(sample(cap, "file", 10.0))
    assert [t for _, t in got] == pytest.approx([0.0, 0.1, 0.2])
    assert cap.tries <= 3 + 1 + 10 * source.MAX_DAMAGED_S


def _avi_rate(path: Path, rate: int) -> None:
    """Write ``rate`` frames per second into an AVI's headers (main header and stream header), as a broken
    muxer or a time base written in place of the rate leaves them."""
    import struct

    data = bytearray(path.read_bytes())
    i = data.index(b"avih")
    struct.pack_into("<I", data, i + 8, max(1, 1_000_000 // rate))  # dwMicroSecPerFrame
    j = data.index(b"strh")
    struct.pack_into("<II", data, j + 8 + 20, 1, rate)  # dwScale, dwRate
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("rate", [2000, 1_000_000])
def test_a_video_whose_header_says_an_absurd_frame_rate_is_timed_by_its_frame_count(tmp_path, rate, caplog):
    """A 1,000,000 fps header: the file's 40 frames "lasted" 40 µs, and ``run`` / ``replay`` played its first
    frame and ended, without a word. No camera records over 1000 fps: they are timed by count, and it is said."""
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(40):
        w.write(np.full((64, 96, 3), 5 * i, np.uint8))
    w.release()
    _avi_rate(path, rate)
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) == pytest.approx(rate)  # what the file says
    with caplog.at_level("WARNING"):
        got = list(sample(cv2.VideoCapture(str(path)), "file", 5.0))
    assert len(got) >= 36 and all(img is not None for img, _ in got)
    times = [t for _, t in got]
    assert times[-1] == pytest.approx(39 / 5) and all(b - a == pytest.approx(0.2) for a, b in zip(times[1:], times[2:]))
    assert "timed by their count at 5 fps" in caplog.text


def test_a_video_at_its_real_rate_keeps_its_own_timestamps(tmp_path, caplog):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 64))
    for i in range(50):
        w.write(np.full((64, 96, 3), 4 * i, np.uint8))
    w.release()
    _avi_rate(path, 100)  # 100 fps said: 50 frames are half a second, sampled at 5 fps
    with caplog.at_level("WARNING"):
        got = list(sample(cv2.VideoCapture(str(path)), "file", 5.0))
    assert [round(t, 2) for _, t in got] == [0.0, 0.2, 0.4] and "timed by" not in caplog.text


@pytest.mark.parametrize("pipeline, kind", [
    ("v4l2src device=/dev/video0 ! videoconvert ! appsink", "stream"),
    ("nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1920,height=1080 ! nvvidconv ! video/x-raw,format=BGRx ! "
     "videoconvert ! video/x-raw,format=BGR ! appsink drop=1", "stream"),
    ("rtspsrc location=rtsp://cam/1 latency=200 ! rtph264depay ! avdec_h264 ! videoconvert ! appsink", "stream"),
    ("filesrc location=clip.mp4 ! decodebin ! videoconvert ! appsink", "file"),
])
def test_a_live_gstreamer_pipeline_is_reconnected_not_played_to_an_end(pipeline, kind):
    """A live pipeline (a Jetson CSI camera's ``nvarguscamerasrc``, ``v4l2src``) was read as a file: the first time
    its frames stopped was the file's end, the reader finished with no reconnect, and ``run`` left its loop for good
    (exit 0, which ``Restart=on-failure`` does not restart). It is a stream now; one that reads a file stays a file."""
    clock = FakeClock()
    stops = {"n": 0}

    class Hiccup:
        """Three frames, then the pipeline stops sending (a CSI camera's driver resetting)."""

        def __init__(self) -> None:
            self.left = 3

        def isOpened(self) -> bool:  # noqa: N802 - VideoCapture's name
            return True

        def read(self):  # noqa: ANN201
            if self.left:
                self.left -= 1
                return True, np.zeros((48, 64, 3), np.uint8)
            stops["n"] += 1
            return False, None

        def release(self) -> None:
            pass

    assert describe_source(pipeline) == kind
    if kind != "stream":
        return
    src = OpenCVSource(pipeline, clock, fps=5, reconnect_min_s=0.001, reconnect_max_s=0.01, opener=Hiccup)
    src.start()
    try:
        wait_for(lambda: src.reconnects >= 2)  # opened again after each stop, as any stream
        assert not src.finished
    finally:
        src.stop()


def test_a_looping_folder_removed_mid_pass_is_a_lost_camera_at_once(tmp_path):
    """Removed while played, a folder's reader played the rest of its old list as bad frames: no frame and no
    reconnect for as long as the list lasted (500 images at 5 fps: 100 s), and ``run``'s watchdog (90 s) took the
    camera loop for stuck and ended the agent. Now the next vanished name has it listed again, and nothing left
    is a lost camera: it reconnects with backoff within a frame. Media time runs on a fake clock."""
    import shutil

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(50):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((40, 40, 3), i, np.uint8))
    clock = FakeClock()
    src = OpenCVSource(str(folder), clock, fps=5, loop=True, reconnect_min_s=0.001, reconnect_max_s=0.004,
                       sleep=clock.advance, whole=True)
    src.start()
    try:
        assert len(collect(src, 3)) == 3
        shutil.rmtree(folder)
        removed_at = clock.monotonic()
        wait_for(lambda: src.latest() is None and src.reconnects >= 1)  # frames taken, as the agent does
    finally:
        src.stop()
    assert src.corrupt <= 1  # at most the one name found gone (before: the other 46 or so)
    assert clock.monotonic() - removed_at <= 1.0  # within a frame or two of media time (before: 9 s)


def test_names_gone_mid_pass_are_listed_again_and_a_single_image_gone_is_lost(tmp_path):
    """A folder whose next names were deleted (a clean-up job) goes on with the names that remain after them; a
    single looping image that is removed is a lost camera (before: "no such file" as a bad frame, for ever)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 40, 3), 10 * i, np.uint8))
    cap = default_opener(str(folder), loop=True)()
    assert cap.read()[1][0, 0, 0] == 0
    for i in (1, 2, 3):
        (folder / f"{i}.png").unlink()
    ok, img = cap.read()  # the slot of 1.png: one bad frame, and the folder is listed again
    assert ok and img is None
    assert [cap.read()[1][0, 0, 0] for _ in range(3)] == [40, 50, 0]  # on after the vanished name, then round

    one = tmp_path / "still.png"
    cv2.imwrite(str(one), np.full((40, 40, 3), 7, np.uint8))
    cap = default_opener(str(one), loop=True)()
    assert cap.read()[1][0, 0, 0] == 7
    one.unlink()
    with pytest.raises(OSError, match="is gone"):  # → the source reconnects with backoff
        cap.read()


FOLDER_DENIED = """
import json, os, sys
from pathlib import Path
import cv2, numpy as np
from edge_agent.camera.source import default_opener

def reads(cap, n=8):
    # what the next reads give, up to the first OSError (the source's lost camera)
    got = []
    for _ in range(n):
        try:
            got.append("frame" if cap.read()[1] is not None else "bad")
        except OSError as exc:
            return got + ["lost: " + str(exc)]
    return got

root = Path(sys.argv[1])
folder = root / "frames"
folder.mkdir()
for i in range(4):
    cv2.imwrite(str(folder / f"{i}.png"), np.full((20, 20, 3), 10 * i, np.uint8))
out = {}
open_ = default_opener(str(folder), loop=True)
cap = open_()
cap.read()
os.chmod(folder, 0o644)  # chmod a-x: the names still list, no file opens
out["no_x"] = reads(cap)
out["no_x_reopened"] = reads(open_())
os.chmod(folder, 0o755)
out["back"] = reads(open_(), 1)
cap = open_()
cap.read()
os.chmod(folder, 0o311)  # chmod a-r: the files open, the folder does not list
out["no_r"] = reads(cap)
os.chmod(folder, 0o755)
one = root / "still.png"
cv2.imwrite(str(one), np.full((20, 20, 3), 7, np.uint8))
cap = default_opener(str(one), loop=True)()
cap.read()
os.chmod(one, 0o200)
out["single_no_r"] = reads(cap)
print(json.dumps(out))
"""


def test_a_folder_that_may_not_be_opened_any_more_is_a_lost_camera(tmp_path):
    """``chmod a-x`` on a looping folder being played: its names still list but none opens, and ``lexists`` says
    False there as for a removed name, so the folder was listed again with the same names and played them all as bad
    frames, for ever (no lost camera, no reconnect). Now it is lost at once, saying "permission denied", as a removed
    folder is, and plays again once the mode is back; so is one that may not be listed (``a-r``) at its next pass, and
    a single image that may not be read. Run without root's override of file modes (root ignores them)."""
    import json
    import subprocess
    import sys

    from tests.rootuser import with_file_modes

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(with_file_modes([sys.executable, "-c", FOLDER_DENIED, str(tmp_path)]), cwd=repo,
                          env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    lost = f"lost: permission denied: the images in {tmp_path / 'frames'} may not be opened any more"
    assert len(out["no_x"]) == 1 and out["no_x"][0].startswith(lost), out["no_x"]  # before: 8 bad frames
    assert len(out["no_x_reopened"]) == 1 and out["no_x_reopened"][0].startswith(lost)  # the reconnect: lost again
    assert out["back"] == ["frame"]
    assert out["no_r"][:3] == ["frame"] * 3  # the pass goes on (its files open), then the folder is listed again
    assert out["no_r"][3:] == [f"lost: no images left in {tmp_path / 'frames'} (permission denied: this user may not "
                               "list the folder any more)"], out["no_r"]
    assert out["single_no_r"] == [f"lost: permission denied: this user may not read {tmp_path / 'still.png'} any more"]


def test_last_frame_age_is_never_negative_when_a_turn_ends_during_the_heartbeats_read():
    """``health()`` (the heartbeat's thread) read the clock, then the loop's fields one by one: a turn ending between
    (``turn`` slides the last frame to the turn's end) gave ``last_frame_age_s`` -0.3, a frame from the future. The
    clock here ends the turn right after ``health`` reads it, as the loop's thread would, every time."""

    class TurnEndsAtTheRead(FakeClock):
        then: object = None  # run once, just after the next reading is taken (the other thread's step)

        def monotonic(self) -> float:
            t = super().monotonic()
            step, self.then = self.then, None
            if callable(step):
                step()
            return t

    clock = TurnEndsAtTheRead()
    h = HealthTracker(clock, lost_after_s=5)
    h.on_frame(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    clock.advance(0.2)
    turn = h.turn()
    turn.__enter__()  # the loop's turn begins 0.2 s after the frame, and works for 1 s
    clock.advance(0.5)

    def loop_ends_the_turn() -> None:
        clock.advance(0.5)
        turn.__exit__(None, None, None)

    clock.then = loop_ends_the_turn
    h_mid = h.health()
    assert h_mid.last_frame_age_s is not None and h_mid.last_frame_age_s >= 0, h_mid  # before: -0.3
    assert h_mid.last_frame_age_s == pytest.approx(0.2)  # the silence before the turn; its work is no silence
    assert h.health().last_frame_age_s == pytest.approx(0.2)  # after the turn: the same silence, slid past it


FILES_DENIED = """
import json, os, sys
from pathlib import Path
import cv2, numpy as np
from edge_agent.camera.source import default_opener

def reads(cap, n):
    # what the next reads give, up to the first OSError (the source's lost camera)
    got = []
    for _ in range(n):
        try:
            got.append("frame" if cap.read()[1] is not None else "bad")
        except OSError as exc:
            return got + ["lost: " + str(exc)]
    return got

folder = Path(sys.argv[1]) / "frames"
folder.mkdir()
files = [folder / f"{i}.png" for i in range(4)]
for i, f in enumerate(files):
    cv2.imwrite(str(f), np.full((20, 20, 3), 10 * i, np.uint8))
out = {}
open_ = default_opener(str(folder), loop=True)
cap = open_()
cap.read()
os.chmod(files[2], 0o200)  # one file among readable ones: a bad frame at each pass, never a lost camera
out["one"] = reads(cap, 10)
for f in files:
    os.chmod(f, 0o200)  # chmod a-r on each file, the folder itself fine
out["all"] = reads(cap, 12)
out["all_reopened"] = reads(open_(), 12)
for f in files:
    os.chmod(f, 0o644)
out["back"] = reads(open_(), 1)
# one image, replaced by an uploader that renames the new file in before making it readable: one pass denied
single = Path(sys.argv[1]) / "single"
single.mkdir()
cv2.imwrite(str(single / "cam.png"), np.full((20, 20, 3), 50, np.uint8))
cap = default_opener(str(single), loop=True)()
out["flicker"] = reads(cap, 2)
os.chmod(single / "cam.png", 0o200)
out["flicker"] += reads(cap, 1)
os.chmod(single / "cam.png", 0o644)
out["flicker"] += reads(cap, 2)
os.chmod(single / "cam.png", 0o200)
out["single_denied"] = reads(cap, 5)
print(json.dumps(out))
"""


def test_a_looping_folder_none_of_whose_files_may_be_read_is_a_lost_camera(tmp_path):
    """Every image of a looping folder losing its read bit (the folder itself fine) was played as counted bad frames,
    for ever: no lost camera, no reconnect (probe leftovers21). A pass whose every file is "permission denied" is now
    lost, naming the folder, as an unenterable folder is; one unreadable file among readable ones stays a bad frame.
    Run without root's override of file modes (root ignores them)."""
    import json
    import subprocess
    import sys

    from tests.rootuser import with_file_modes

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(with_file_modes([sys.executable, "-c", FILES_DENIED, str(tmp_path)]), cwd=repo,
                          env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["one"] == ["frame", "bad", "frame"] + ["frame", "frame", "bad", "frame"] + ["frame", "frame", "bad"], \
        out["one"]
    lost = f"lost: permission denied: this user may read none of the images in {tmp_path / 'frames'}"
    # the rest of the pass under way (its first files were read), then two whole passes denied: lost at the last file
    assert out["all"][:8] == ["bad"] * 8 and len(out["all"]) == 9 and out["all"][8].startswith(lost), out["all"]
    assert out["all_reopened"][:7] == ["bad"] * 7 and len(out["all_reopened"]) == 8, out["all_reopened"]
    assert out["all_reopened"][7].startswith(lost)  # the reconnect: lost again after two passes
    assert out["back"] == ["frame"]
    # review24: one pass denied between readable ones is a bad frame, not a lost camera and a reconnect
    assert out["flicker"] == ["frame", "frame", "bad", "frame", "frame"], out["flicker"]
    assert out["single_denied"][:1] == ["bad"] and len(out["single_denied"]) == 2, out["single_denied"]
    assert out["single_denied"][1].startswith("lost: permission denied: this user may read none of the images in")
