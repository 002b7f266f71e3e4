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
