"""A camera that does not open says why — in ``run``'s log at each retry and in ``doctor``'s camera row. Both
said only "cannot open", whether the name did not resolve, nothing listened on the port or the USB camera was
unplugged; the cause was at best a raw FFmpeg line on stderr."""

from __future__ import annotations

import logging
import os
import socket

import pytest

from edge_agent.camera.source import OpenCVSource
from edge_agent.clock import SystemClock
from edge_agent.config import parse_config
from edge_agent.ops.doctor import check_camera
from tests.camera.test_camera import wait_for


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def _absent_device() -> str:
    return next(f"/dev/video{n}" for n in range(40, 200) if not os.path.exists(f"/dev/video{n}"))


def cut_recording(path) -> None:  # noqa: ANN001
    """A real MP4 (OpenCV's writer puts the index, ``moov``, after the frames) cut where a recorder that lost power
    stops: half way, before its index was written."""
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    assert w.isOpened()
    for i in range(20):
        w.write(np.full((48, 64, 3), i * 10, np.uint8))
    w.release()
    data = path.read_bytes()
    assert cv2.VideoCapture(str(path)).isOpened() and data.index(b"moov") > data.index(b"mdat")
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(params=["name", "port", "device", "file", "cut"])
def dead_camera(request, tmp_path):  # noqa: ANN001, ANN201 - (source, what the cause says)
    if request.param == "cut":  # a recording cut off before its index was written: "cannot open" and nothing else
        clip = tmp_path / "bay.mp4"
        cut_recording(clip)
        return str(clip), "without its index (no moov box)"
    if request.param == "file":  # a relative source read beside the config after the upgrade: it named no path
        clip = str(tmp_path / "clips" / "bay.mp4")
        return clip, clip  # the doctor's row named it already; run's log said "camera file: cannot open"
    if request.param == "name":
        return "rtsp://admin:pw@no-such-camera.invalid/Channels/102", "no-such-camera.invalid does not resolve"
    if request.param == "port":
        port = _closed_port()
        return f"http://127.0.0.1:{port}/video.mjpg", f"nothing listens on 127.0.0.1 port {port} (connection refused)"
    device = _absent_device()
    return device, f"no device {device} (camera unplugged"


def test_runs_log_says_why_the_camera_does_not_open(dead_camera, caplog):
    source, cause = dead_camera
    caplog.set_level(logging.WARNING, logger="edge_agent.camera.source")
    src = OpenCVSource(source, SystemClock(), reconnect_min_s=0.001, reconnect_max_s=0.002)
    src.start()
    try:
        wait_for(lambda: src.reconnects >= 1)
    finally:
        src.stop()
    said = [r.getMessage() for r in caplog.records if "cannot open" in r.getMessage()]
    assert said and cause in said[0], said


def test_doctors_camera_row_says_why(dead_camera):
    source, cause = dead_camera
    cfg = parse_config({"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": source},
                        "bays": [{"id": "A", "polygon": [[10, 10], [100, 10], [100, 80], [10, 80]]}]})
    row = check_camera(cfg)
    assert row.status == "fail" and cause in row.detail, row.detail
    assert "pw" not in row.detail


def test_a_pipeline_reading_a_missing_file_is_not_called_a_missing_path():
    """A pipeline reading a file is a "file" to the reader; its text is no path to look up beside the config (the
    hint said "no file or folder filesrc location=…"). GStreamer says what it could not open."""
    from edge_agent.camera.unopened import why_unopened

    assert why_unopened("filesrc location=/nowhere/clip.mp4 ! decodebin ! videoconvert ! appsink", "file") == ""
    assert why_unopened("/nowhere/clip.mp4", "file").startswith("no file or folder /nowhere/clip.mp4 (")


def test_a_video_file_that_is_there_says_what_is_wrong_with_it(tmp_path):
    """An empty file and an unreadable one are said as such; any other file OpenCV refuses is left to it ("")."""
    from edge_agent.camera.unopened import why_unopened

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert why_unopened(str(empty), "file") == f"{empty} is empty (0 bytes)"
    other = tmp_path / "other.mp4"
    other.write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00\x00\x00\x08moov")  # indexed, no track
    assert why_unopened(str(other), "file") == ""
    fifo = tmp_path / "fifo.mp4"  # opened without waiting for a writer (this runs in the camera reader's thread)
    os.mkfifo(fifo)
    assert why_unopened(str(fifo), "file") == ""


def _box(kind: bytes, body: bytes = b"") -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def _read_calls() -> int:
    """Read system calls made so far by this thread (Linux's per-thread I/O accounting)."""
    with open("/proc/thread-self/io", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("syscr:"))


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/io"), reason="needs Linux's per-thread I/O accounting")
def test_a_fragmented_recording_is_judged_by_its_first_boxes(tmp_path):
    """A fragmented MP4 (its index first, then a moof + mdat pair per fragment: 900 an hour at 4 s) that OpenCV
    refuses was read header by header up to 4,096 boxes, two thousand seeks on a USB disk at every retry of the
    camera, to find the index it had found at the second. A file with more boxes than are read before its index is
    not said to be cut off: that is not known."""
    from edge_agent.camera.unopened import MAX_BOXES, why_unopened

    fragmented = tmp_path / "fragmented.mp4"
    with open(fragmented, "wb") as f:
        f.write(_box(b"ftyp", b"isom" + bytes(4)) + _box(b"moov", bytes(8)))  # an index OpenCV cannot use
        for _ in range(MAX_BOXES // 4):  # over an hour of 4 s fragments
            f.write(_box(b"moof") + _box(b"mdat", bytes(4096)))
    before = _read_calls()
    assert why_unopened(str(fragmented), "file") == ""
    assert _read_calls() - before < 20
    many = tmp_path / "many.mp4"  # its index after more boxes than are looked at
    many.write_bytes(_box(b"ftyp", b"isom" + bytes(4)) + _box(b"free") * MAX_BOXES + _box(b"moov", bytes(8)))
    assert why_unopened(str(many), "file") == ""


def test_a_fifo_named_as_a_recording_is_not_opened_to_say_why(tmp_path):
    """Opening a FIFO, even without waiting, wakes a writer blocked until a reader comes: closed at once, that
    writer's stream broke (EPIPE; a SIGPIPE kills an ``ffmpeg … > fifo`` restarted in a loop) after every failed
    open of the camera. Asked of the file system instead (inotify sees every open)."""
    import ctypes

    from edge_agent.camera.unopened import why_unopened

    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "inotify_init1"):
        pytest.skip("needs inotify (Linux)")
    fifo = tmp_path / "cam.ts"
    os.mkfifo(fifo)
    watch = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert watch >= 0 and libc.inotify_add_watch(watch, os.fsencode(fifo), 0x20) >= 0  # IN_OPEN
    try:
        assert why_unopened(str(fifo), "file") == ""
        with pytest.raises(BlockingIOError):
            os.read(watch, 4096)  # no event: it was not opened
    finally:
        os.close(watch)
