"""A live camera that resends pictures it sent before (its buffer after a reconnect), read by the real reader from a
real MJPEG-over-HTTP server on loopback: each picture sent again carries its first arrival (``Frame.shown``), a new
one none. The lock's evidence ages from it (``tests/runtime/test_resent_buffer.py``: the arm over a parked car)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from edge_agent.camera import source
from edge_agent.camera.source import OpenCVSource, Shown
from tests.camera.mjpeg_server import MjpegServer, jpeg
from tests.camera.test_camera import wait_for
from tests.camera.test_stream_faults import Ticking


class Recording(OpenCVSource):
    """The reader, with every frame it hands to the agent kept: (time, first arrival of its picture)."""

    def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*a, **kw)
        self.put: list[tuple[float, float | None]] = []

    def _put(self, img, now, shown=None) -> None:  # noqa: ANN001
        self.put.append((now, shown))
        super()._put(img, now, shown)


def test_pictures_sent_again_after_a_reconnect_carry_their_first_arrival():
    first = [jpeg(i) for i in range(6)]
    server = MjpegServer(lambda n: first if n == 0 else [first[3], first[4], jpeg(20)])
    src = Recording(server.url, Ticking(), fps=5, reconnect_min_s=0.001, reconnect_max_s=0.004, stall_s=1)
    src.start()
    try:
        wait_for(lambda: len(src.put) >= 9, timeout=20)  # six, a stall, a reconnect, three
    finally:
        src.stop()
        server.release()
    assert src.reconnects >= 1
    t3, t4 = src.put[3][0], src.put[4][0]
    assert [s for _, s in src.put[:6]] == [None] * 6  # new pictures
    assert src.put[6][1] == t3 and src.put[7][1] == t4  # the buffer resent: as old as when first sent
    assert src.put[8][1] is None  # then a new picture


def test_a_live_sensors_noise_never_repeats_a_picture_and_old_ones_are_forgotten():
    shown = Shown(keep_s=60, most=100)
    rng = np.random.default_rng(0)
    scene = np.full((540, 960, 3), 120, np.uint8)
    frames = [np.clip(scene + rng.integers(-3, 4, scene.shape), 0, 255).astype(np.uint8) for _ in range(50)]
    assert [shown.see(f, float(i)) for i, f in enumerate(frames)] == [None] * 50  # a still scene, live
    assert shown.see(frames[10], 55.0) == 10.0  # sent again
    more = [np.clip(scene + rng.integers(-3, 4, scene.shape), 0, 255).astype(np.uint8) for _ in range(70)]
    assert [shown.see(f, 56.0 + i) for i, f in enumerate(more)] == [None] * 70
    assert shown.see(frames[20], 126.0) is None  # more than keep_s of frames later: forgotten, new again


class Outage(Ticking):
    """Ticking, and ``away_s`` more at the reconnect: the camera was gone that long (hung, rebooting, off the network)."""

    def __init__(self, away_s: float) -> None:
        super().__init__()
        self.away_s = away_s

    def reconnect(self) -> None:
        self.t += self.away_s


def test_a_buffer_resent_after_an_outage_longer_than_keep_s_is_still_old():
    """The memory forgets by the time frames flowed, not by the time the camera was away: a camera hung for 11 minutes
    (a car parked meanwhile) that resends its buffer of before the hang at the reconnect sent pictures the reader had
    forgotten by the clock (``SHOWN_KEEP_S``, 10 min), so each was new, fresh evidence of the empty bay."""
    first = [jpeg(i) for i in range(6)]
    clock = Outage(away_s=660.0)

    def script(n: int) -> list[bytes]:
        if n == 0:
            return first
        clock.reconnect()
        return [first[3], first[4], jpeg(20)]

    server = MjpegServer(script)
    src = Recording(server.url, clock, fps=5, reconnect_min_s=0.001, reconnect_max_s=0.004, stall_s=1)
    src.start()
    try:
        wait_for(lambda: len(src.put) >= 9, timeout=20)
    finally:
        src.stop()
        server.release()
    t3, t4 = src.put[3][0], src.put[4][0]
    assert src.put[6][0] - t3 > 600  # resent more than keep_s after its first arrival, by the clock
    assert src.put[6][1] == t3 and src.put[7][1] == t4  # still as old as when first sent
    assert src.put[8][1] is None


def test_the_memory_forgets_by_the_time_frames_flowed_and_by_count():
    shown = Shown(keep_s=60, most=100)
    pics = [np.full((64, 64, 3), i, np.uint8) for i in range(200)]
    for i in range(50):
        shown.see(pics[i], float(i))
    assert shown.see(pics[10], 5_000.0) == 10.0  # an outage of over an hour between: nothing forgotten
    for i in range(50, 130):  # 80 s of frames flowing since
        shown.see(pics[i], 5_000.0 + i - 49)
    assert shown.see(pics[10], 5_081.0) is None  # over keep_s of frames since: forgotten
    for i in range(130, 200):
        shown.see(pics[i], 5_081.0 + (i - 130) * 0.01)  # fast frames: the count bounds it
    assert len(shown._first) <= 100


def test_pictures_seen_before_a_restart_are_old_after_it(tmp_path):
    """A restarted agent's reader knew none of the last run's pictures: a buffer the camera resent to it was new
    (probe locks40; ``tests/runtime/test_resent_buffer.py``). Kept on file, they are as old as ``keep_s`` before the
    start; a record torn by a crash is left out, and the file stays in step for the appends after it."""
    path = tmp_path / "camera" / "shown.bin"
    pics = [np.full((48, 64, 3), i, np.uint8) for i in range(5)]
    before = Shown(keep_s=600, path=path, now=100.0)
    for i, p in enumerate(pics[:3]):
        assert before.see(p, 100.0 + i) is None
    before.save(103.0)
    with path.open("ab") as fh:
        fh.write(b"torn")  # a crash in an append
    after = Shown(keep_s=600, path=path, now=5.0)  # another boot: monotonic time starts again
    assert after.see(pics[1], 6.0) == 5.0 - 600  # old: whatever the age rule, stale
    assert after.see(pics[3], 7.0) is None
    after.save(8.0)
    again = Shown(keep_s=600, path=path, now=0.0)
    assert [again.see(p, 1.0) for p in (pics[0], pics[3], pics[4])] == [-600.0, -600.0, None]


def test_the_file_is_rewritten_with_what_is_kept_once_twice_most(tmp_path):
    path = tmp_path / "shown.bin"
    mem = Shown(keep_s=600, most=4, path=path)
    for i in range(20):
        mem.see(np.full((8, 8), i, np.uint8), float(i))
        mem.save(float(i))
    assert path.stat().st_size <= 2 * 4 * Shown.RECORD
    later = Shown(keep_s=600, most=4, path=path)
    assert later.see(np.full((8, 8), 19, np.uint8), 0.0) is not None  # the newest kept
    assert later.see(np.full((8, 8), 0, np.uint8), 0.0) is None  # the oldest forgotten at most


def test_a_link_or_fifo_planted_at_the_file_is_never_followed(tmp_path):
    """The file is the agent's own, in its data dir: opened through no link and never waited on as a FIFO, as every
    file the agent keeps there (``datadir.planted_problem``; ``durable.open_scratch``). Opened by name, a FIFO hung the
    reader's constructor — the agent's start — for ever, and a link had the digests appended, and a torn tail cut off,
    wherever it led (review85)."""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"x" * 17)  # not a whole number of records: the load "repairs" a torn tail
    link = tmp_path / "camera" / "shown.bin"
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    mem = Shown(keep_s=600, path=link, now=0.0)
    mem.see(np.full((8, 8), 1, np.uint8), 3.0)
    mem.save(4.0)
    assert elsewhere.read_bytes() == b"x" * 17 and link.is_symlink()

    fifo = tmp_path / "fifo.bin"
    os.mkfifo(fifo)
    made: list[Shown] = []
    worker = threading.Thread(target=lambda: made.append(Shown(keep_s=600, path=fifo, now=0.0)), daemon=True)
    worker.start()
    worker.join(10.0)  # at once when refused; waits only where the open hangs for a writer
    hung = worker.is_alive()
    if hung:  # free the open that waits
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10.0)
    assert not hung, "the start waited on a FIFO planted at the file"
    made[0].see(np.full((8, 8), 2, np.uint8), 3.0)
    made[0].save(4.0)  # nothing written into the pipe (no reader: an open for writing fails or waits)


def test_a_stalled_write_of_the_file_never_holds_the_frames(tmp_path):
    """The digests are appended every ``SAVE_EVERY_S`` while frames are read. Written on the reader thread, an SD card
    stalling the append held every frame behind it (probe locks41: a 1.5 s stall at 25 fps: 4 frames each 1.5 s late,
    101 of 234 frames in 10 s). Written beside it now: the frames go on, and what waited is on file after."""
    gate = threading.Event()
    real = source._own_file

    class Stalled:  # an append that waits until the card answers
        def __init__(self, fh: BinaryIO) -> None:
            self.fh = fh

        def write(self, data: bytes) -> int:
            gate.wait(30)
            return self.fh.write(data)

        def __enter__(self) -> Stalled:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    def opener(path: Path, flags: int, mode: str = "rb") -> BinaryIO:
        fh = real(path, flags, mode)
        return cast(BinaryIO, Stalled(fh)) if "a" in mode else fh

    path = tmp_path / "camera" / "shown.bin"
    mem = Shown(keep_s=600, path=path, now=0.0, open_file=opener)
    pics = [np.full((8, 8), i, np.uint8) for i in range(100)]
    reader = threading.Thread(target=lambda: [mem.see(p, i * 0.1) for i, p in enumerate(pics)], daemon=True)
    try:
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "the frames waited for the stalled write"
    finally:
        gate.set()
    mem.save(10.0)
    again = Shown(keep_s=600, path=path, now=0.0)
    assert all(again.see(p, 1.0) is not None for p in pics)
