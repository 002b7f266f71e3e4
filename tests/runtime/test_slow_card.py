"""A slow SD card: each sync ~1 s (a worn or cheap card on a Raspberry Pi), the loop's own writes on it.

The frame loop writes an arrival's and a violation's evidence (photos synced, their folder synced, the index row under
``synchronous=FULL``) and the violation log's row per event (``synchronous=FULL``) on its own thread: at 1 s a sync
one turn took 6-7 s. Before (probe sdslow19): the frame taken after such a turn, fresh from the reader, was judged after
a gap of ``camera.lost_after_s``, and a healthy camera was published ``camera_lost`` / ``camera_restored`` on every
identification and violation (3 pairs in the demo story at 1 s a sync, 4 losses at 2 s), its bays were blinded
another ``lost_after_s``, and the lock's free timer restarted at each (the arm on the emptied bay never rose). The
loop's own work is no silence of the camera's (``HealthTracker.turn``); a camera that really stops is still lost.
The real agent, the shipped occupancy model and plate reader, the violation log, an injected clock.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_agent.camera.health import HealthTracker
from edge_agent.camera.source import Frame
from edge_agent.clock import FakeClock
from edge_agent.events.outbox import Outbox
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog
from edge_agent.runtime import demo
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, NEV, Scene, ScriptedSource, drive, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.locks.test_vision_paths import FPS as RIG_FPS
from tests.locks.test_vision_paths import Rig

FPS = 5
SYNC_S = 1.0


@pytest.fixture
def slow_card(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> list[int]:
    """Every sync the agent makes costs ``SYNC_S`` on the injected clock: the photos' and folders' fsyncs, the
    evidence index's commit, and the violation log's commit per event (both ``synchronous=FULL``)."""
    syncs = [0]
    fsync, save, record = os.fsync, EvidenceStore.save, ViolationLog.record

    def slow() -> None:
        syncs[0] += 1
        clock.advance(SYNC_S)

    def slow_fsync(fd: int) -> None:
        fsync(fd)
        slow()

    def slow_save(self: EvidenceStore, *args: object, **kwargs: object) -> str:
        eid = save(self, *args, **kwargs)  # type: ignore[arg-type]
        slow()
        return eid

    def slow_record(self: ViolationLog, event: Event) -> None:
        record(self, event)
        slow()

    monkeypatch.setattr(os, "fsync", slow_fsync)
    monkeypatch.setattr(EvidenceStore, "save", slow_save)
    monkeypatch.setattr(ViolationLog, "record", slow_record)
    return syncs


def test_the_loops_synced_writes_are_no_camera_loss_and_a_real_stall_still_is(tmp_path: Path, clock: FakeClock,
                                                                             slow_card: list[int]) -> None:
    story = (hold(6, EMPTY) + drive(NEV, -200, NEV.x, 1.6, FPS) + hold(30, Scene(cars=(NEV,)))
             + hold(8, None, "the camera stops") + hold(15, Scene(cars=(NEV,))))
    cfg = scene_config(str(tmp_path), mqtt={"enabled": False}, web={"enabled": False})
    source = ScriptedSource(story, clock)
    agent = assemble(cfg, clock=clock, source=source).agent
    events: list[Event] = []
    t0 = clock.monotonic()
    at: dict[str, float] = {}
    agent.bus.subscribe(lambda e: (events.append(e), at.setdefault(e.event_id, clock.monotonic() - t0)))
    longest = 0.0
    try:
        agent.start()
        while clock.monotonic() - t0 < 6 + 1.6 + 30:
            before = clock.monotonic()
            agent.step()
            longest = max(longest, clock.monotonic() - before)
            clock.advance(1 / FPS)
        assert longest > cfg.camera.lost_after_s, "the story holds the loop past lost_after_s (the card's cost)"
        ident = [e for e in events if e.type == EventType.VEHICLE_IDENTIFIED]
        assert ident and ident[0].data.get("plate") == NEV.plate and ident[0].evidence_id and slow_card[0] >= 6
        assert not [e for e in events if e.type.startswith("camera_")], "the loop's own writes were a camera loss"
        assert agent.health.health().ok and agent.bus.states()["A"].camera_ok

        run_scripted(agent.step, clock, 8 + 15, FPS)  # the camera stops for 8 s, then delivers again
    finally:
        agent.stop()
        agent.close()
    camera = [e for e in events if e.type.startswith("camera_")]
    assert [(e.type, e.data.get("reason")) for e in camera] == [("camera_lost", "no_frames"), ("camera_restored", None)]
    assert source._t0 is not None
    stopped = source._t0 - t0 + 6 + 1.6 + 30  # scenario time is the clock's: the camera stops then, whatever the loop
    # lost once the loop waited lost_after_s for a frame; later only by the turn that took the last one (its syncs)
    assert stopped + cfg.camera.lost_after_s <= at[camera[0].event_id] <= stopped + cfg.camera.lost_after_s + 2 * SYNC_S


def test_a_long_turn_is_no_gap_but_the_waiting_after_it_is(clock: FakeClock) -> None:
    """The tracker alone: time inside a turn never ages the last frame, for the loop itself or another thread
    (the heartbeat's ``camera_ok``); time between turns (the loop waiting for a frame) does."""
    h = HealthTracker(clock, lost_after_s=5)
    frame = np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)
    with h.turn():
        h.on_frame(frame)
        clock.advance(7)  # a violation's synced writes
        assert h.health().ok and h.health().last_frame_age_s == 0.0  # the heartbeat asks mid-turn
    assert h.health().ok
    clock.advance(0.2)
    with h.turn():
        h.on_frame(frame)  # taken after the long turn: no gap, no outage to come back from
        assert h.health().ok
    for _ in range(24):  # the camera stops: the loop waits 4.8 s, turn by turn
        clock.advance(0.2)
        with h.turn():
            clock.advance(0.05)  # each turn's own work is not counted
    assert h.health().ok
    clock.advance(0.3)
    assert not h.health().ok and h.health().reason == "no_frames"


def test_a_camera_that_stops_during_a_long_turn_is_lost_once_the_loop_waited_lost_after_s(clock: FakeClock) -> None:
    h = HealthTracker(clock, lost_after_s=5)
    frame = np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8)
    with h.turn():
        h.on_frame(frame)
        clock.advance(9)
    clock.advance(4.9)
    assert h.health().ok
    clock.advance(0.2)
    assert h.health().reason == "no_frames"


def test_the_start_is_no_silence_of_the_camera(clock: FakeClock) -> None:
    """``begin`` at the source's start, the agent's start in a turn: a first frame right after a slow start (the
    closing events' synced rows) is on time."""
    h = HealthTracker(clock, lost_after_s=5)
    clock.advance(30)  # models, sinks, databases opened after the tracker was built
    h.begin()
    with h.turn():
        clock.advance(8)
    clock.advance(0.2)
    with h.turn():
        h.on_frame(np.random.default_rng(3).integers(0, 255, (64, 64, 3), np.uint8))
    assert h.health().ok


class _Reader:
    """A reader thread's latest-frame slot (``OpenCVSource``): the test puts frames when the camera sends them, each
    stamped with its capture time; the loop takes the newest, whenever it gets to it."""

    reconnects = 0

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.slot, self.seq = clock, None, 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def put(self, image: np.ndarray) -> None:
        self.seq += 1
        noisy = np.clip(image.astype(np.int16) + np.random.default_rng(self.seq).integers(-2, 3, image.shape), 0,
                        255).astype(np.uint8)
        self.slot = Frame(noisy, self.seq, self.clock.monotonic())

    def latest(self) -> Frame | None:
        f, self.slot = self.slot, None
        return f


@pytest.mark.parametrize("dies_at", [0.1, 6.0, None])
def test_a_frame_left_in_the_readers_slot_during_a_long_turn_is_as_old_as_its_capture(tmp_path: Path, clock: FakeClock,
                                                                                         dies_at: float | None) -> None:
    """The camera dies 0.1 s into a 10 s turn (a violation's syncs on a slow card); its last frame waits in the
    reader's slot, taken after the turn. It shows the bay as it was 9.9 s before: no evidence for a rise (``lock``
    refused at once, the camera lost). Before (probe review21): it was judged a fresh, healthy frame and the policy's
    free timer (20 s, run out meanwhile) raised the arm on it at once; before the turn bracket it read as a gap.
    Dying 6 s in, its last frame is 4 s old: the camera still healthy (under lost_after_s), the bay's evidence aged
    from the capture (``occupancy_stale``, over 3 s). Nothing left in the slot (None): the camera reads healthy
    lost_after_s more, the bay's 10 s old measurement refuses."""
    src = _Reader(clock)
    rig = Rig(tmp_path, clock, src, out=False, sensor=False)
    agent, manager = rig.agent, rig.manager
    empty, busy = render(EMPTY), [False]
    check = agent.clock_watch.check

    def long_turn() -> None:
        check()
        if busy[0]:
            busy[0] = False
            if dies_at is not None:
                clock.advance(dies_at)
                src.put(empty)  # the camera's last frame, then it dies
            clock.advance(10 - (dies_at or 0.0))

    agent.clock_watch.check = long_turn  # type: ignore[method-assign]
    try:
        for _ in range(int(10 * RIG_FPS)):  # a live camera, the bay empty; A down (auto_raise_delay_s 20)
            src.put(empty)
            agent.step()
            manager.tick()
            clock.advance(1 / RIG_FPS)
        assert manager.state("A") == "down" and agent.health.health().ok
        src.put(empty)
        busy[0] = True
        agent.step()  # takes a frame, then 10 s of the loop's own work; the camera dies meanwhile
        manager.tick()
        clock.advance(1 / RIG_FPS)
        agent.step()  # takes the frame left in the slot: captured 10 - dies_at s ago
        manager.tick()  # the free timer (20 s) ran out: the policy wants A up, on that frame's evidence
        assert manager.driver("A").arm.drive != "up" and manager.state("A") == "down", "raised on an old view"
        res = agent.lock("A", "close the bay", "ops")
        # with nothing in the slot the camera reads healthy for lost_after_s more (the loop's work is no silence),
        # but the bay's last measurement is 10 s old: refused all the same
        lost = dies_at is not None and 10 - dies_at > 5
        assert not res.ok and res.data["code"] == ("camera_lost" if lost else "occupancy_stale"), res
        assert agent.health.health().ok is not lost
    finally:
        agent.stop()


def test_the_demos_lock_turn_is_no_camera_loss_on_a_slow_card(tmp_path: Path, clock: FakeClock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo ticks its locks on the loop, after ``agent.step`` (``run`` ticks them on their own thread): at 1 s a
    sync the lock events' synced rows (violation log, outbox) were counted as the camera's silence, and the story
    told a healthy camera's ``camera_lost`` at 73.8 s / ``camera_restored`` at 78.0 s (syncbatch21). The lock tick
    is the loop's own work too (``HealthTracker.turn``). Each sync of the loop thread costs 1 s of the demo's clock."""
    loop = threading.current_thread()

    def slow() -> None:
        if threading.current_thread() is loop:
            clock.advance(SYNC_S)

    record, put = ViolationLog.record, Outbox.put

    def slow_record(self: ViolationLog, event: Event) -> None:
        record(self, event)
        slow()

    def slow_put(self: Outbox, *args: object, **kwargs: object) -> object:
        r = put(self, *args, **kwargs)  # type: ignore[arg-type]
        slow()
        return r

    monkeypatch.setattr(ViolationLog, "record", slow_record)
    monkeypatch.setattr(Outbox, "put", slow_put)
    monkeypatch.setattr(demo, "FakeClock", lambda: clock)
    out = io.StringIO()
    assert demo.run_demo(tmp_path / "data", out=out, broker=False) == 0
    lines = out.getvalue().splitlines()
    story = lines[:next(i for i, ln in enumerate(lines) if "bay B   departed" in ln)]  # the scenario's last event
    assert "VIOLATION: fuel_vehicle" in "\n".join(story)  # the lock turns with synced rows were played
    assert not [ln for ln in lines if "camera back" in ln] and not [ln for ln in story if "CAMERA LOST" in ln], lines


def test_a_recordings_frame_waiting_for_a_long_start_is_no_camera_loss(tmp_path: Path, clock: FakeClock) -> None:
    """A recording (a file or folder: ``whole``) waits for the agent to take each frame. A start that waited 20 s on an
    ``evidence.db`` another program held locked (10 s for the violation log, 10 s for the recorder) took the frame the
    reader had put in the slot before it, stamped 20 s earlier, and published ``camera_lost`` (``last_frame_age_s``
    20.5) and ``camera_restored`` 10 s later (updown37; reproduced with real processes, probe chaos40). The recording
    stood still for the agent: its frame is as old as its taking. A live camera's slot is refilled meanwhile."""
    import cv2

    from edge_agent.camera.source import OpenCVSource

    folder = tmp_path / "frames"
    folder.mkdir()
    for n in range(3):
        cv2.imwrite(str(folder / f"{n:03d}.png"), np.random.default_rng(n).integers(0, 255, (64, 64, 3), np.uint8))
    src = OpenCVSource(str(folder), clock, fps=5.0, whole=True)
    h = HealthTracker(clock)
    src.start()
    try:
        h.begin()
        with h.turn():  # the agent's start: the reader has put the first frame meanwhile
            assert _until(lambda: not src._taken.is_set())
            clock.advance(20)
        with h.turn():
            frame = src.latest()
            assert frame is not None
            h.on_frame(frame.image, frame.t)
        assert h.health().ok, h.health()
    finally:
        src.stop()


def _until(ok, timeout_s: float = 10.0) -> bool:  # noqa: ANN001 - a predicate
    """Poll ``ok`` (a real thread's progress) until true, at most ``timeout_s`` of real time."""
    done = threading.Event()
    for _ in range(int(timeout_s * 100)):
        if ok():
            return True
        done.wait(0.01)
    return False
