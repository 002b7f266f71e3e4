"""What ``camera.source`` names, read one way by every command, and what a real lock accepts as a live camera.

Two gaps the lock check left (camsource17): a relative path was looked up in the *working* folder — ``install.sh``'s
``check-config`` runs in the install folder, ``run`` in ``/var/lib/edge-agent`` — so the check and the agent read
different files; and a path that did not exist at load passed with a real lock, then was retried as a live source
until a clip copied there was played and raised the arm."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.camera.source import default_opener, describe_source
from edge_agent.camera.unopened import why_unopened
from edge_agent.config import ConfigError, load_config, parse_config
from tests.locks.conftest import BAY, gpio_lock, sim_lock

BAYS = [{"id": BAY, "polygon": [[0, 0], [100, 0], [100, 100]]}]


def data(source: str, *locks: dict) -> dict:
    return {"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": source}, "bays": BAYS,
            "locks": list(locks)}


def clip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 64))
    for i in range(5):
        w.write(np.full((64, 96, 3), 40 + i * 20, np.uint8))
    w.release()
    return path


def write_config(folder: Path, source: str, *locks: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**data(source, *locks), "data_dir": str(folder / "data")}), encoding="utf-8")
    return path


def test_a_relative_source_is_the_config_folders_file_for_every_command(tmp_path, monkeypatch):
    """``check-config`` in the install folder found no ``clips/bay.mp4`` there and passed a gpio lock; ``run`` in the
    config's folder would have played it and raised the arm on it. Resolved against the config's folder, as the
    other paths in the file, the check sees what ``run``, ``doctor`` and ``occupancy label`` open."""
    site = tmp_path / "site"
    clip(site / "clips" / "bay.mp4")
    monkeypatch.chdir(tmp_path)  # the install folder: no clips/ here
    write_config(site, "clips/bay.mp4", gpio_lock())
    with pytest.raises(ConfigError) as err:
        load_config("site/config.yaml")
    assert err.value.problems[0].startswith("camera.source: a recording (a file or folder on disk)"), err.value
    cfg = load_config(write_config(site, "clips/bay.mp4"))
    assert cfg.camera.source == str(site / "clips" / "bay.mp4")
    assert describe_source(cfg.camera.source) == "file"


@pytest.mark.parametrize("source", ["0", "12", "rtsp://192.168.1.64/live", "/dev/video0", "/dev/v4l/by-id/usb-x",
                                    "v4l2src device=/dev/video0 ! videoconvert ! appsink"])
def test_an_index_a_url_a_device_and_a_pipeline_are_not_paths(tmp_path, source):
    """``0`` is the first USB camera wherever the config lives; a URL and a pipeline are OpenCV's as written."""
    cfg = load_config(write_config(tmp_path, source))
    assert cfg.camera.source == source


@pytest.mark.parametrize("source", ["/srv/clips/bay-tomorrow.mp4", "clips/not-yet", "/dev/shm/frames-to-come"])
def test_a_path_that_does_not_exist_is_refused_with_a_real_lock(tmp_path, source):
    """Absent at load, retried as a live camera: the clip copied there next week was played and could raise the
    arm. Only a camera's device name may be absent (unplugged)."""
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, source, gpio_lock()))
    [problem] = [p for p in err.value.problems if p.startswith("camera.source")]
    assert "does not exist" in problem and "locks[0] (L1)" in problem, problem
    assert "rtsp://" in problem and "/dev/video" in problem, problem  # what to use instead
    where = source if source.startswith("/") else str(tmp_path / source)
    assert where in problem, problem
    load_config(write_config(tmp_path, source, sim_lock()))  # a simulator moves no arm
    load_config(write_config(tmp_path, source))


@pytest.mark.parametrize("source", ["/dev/video7", "/dev/v4l/by-id/usb-046d_HD_Webcam-video-index0",
                                    "/dev/v4l/by-path/platform-xhci-usb-0:1:1.0-video-index0", "3",
                                    "rtsp://192.168.1.64/live", "v4l2src device=/dev/video7 ! videoconvert ! appsink"])
def test_an_unplugged_camera_and_other_live_sources_pass_with_a_real_lock(source):
    if Path(source).exists():
        pytest.skip(f"{source} exists on this host")
    parse_config(data(source, gpio_lock()))


def test_a_fifo_is_no_camera_for_a_real_lock(tmp_path):
    """A named pipe is fed by whatever writes into it (``ffmpeg -i clip.mp4 … fifo``): no camera's word."""
    fifo = tmp_path / "cam"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as err:
        parse_config(data(str(fifo), gpio_lock()))
    assert any(p.startswith("camera.source: ") and "not a camera" in p for p in err.value.problems), err.value


def test_a_device_replaced_by_a_file_is_not_opened(tmp_path):
    """Accepted as a device at start (``kind`` usb: a live camera, no recording rule), its name later made a video file
    by a local user: each (re)open checks it is still a device, and fails closed (camera lost) rather than play the
    file as the camera."""
    cam = tmp_path / "video0"
    cam.symlink_to("/dev/null")  # a character device, as a camera's node is
    assert describe_source(str(cam)) == "usb"
    opener = default_opener(str(cam), False)
    cam.unlink()
    clip(tmp_path / "bay.avi").rename(cam)
    assert cv2.VideoCapture(str(cam)).read()[0]  # OpenCV plays it, as it would in the camera's place
    cap = opener()
    try:
        assert not cap.isOpened()
        assert cap.read()[0] is False
    finally:
        cap.release()
    assert "is no camera device now" in why_unopened(str(cam), "usb")


@pytest.mark.parametrize("now", ["fifo", "link to a file"])
def test_a_device_name_made_a_pipe_or_a_link_to_a_file_is_not_opened(tmp_path, now):
    """The re-open check follows links and wants a character device: a FIFO fed by ``ffmpeg`` or a link to a clip in
    the camera's name fails closed (camera lost), as a plain file does."""
    cam = tmp_path / "video0"
    cam.symlink_to("/dev/null")
    opener = default_opener(str(cam), False)
    cam.unlink()
    if now == "fifo":
        os.mkfifo(cam)
    else:
        cam.symlink_to(clip(tmp_path / "bay.avi"))
    cap = opener()  # a FIFO opened for reading would block here until a writer came
    try:
        assert not cap.isOpened()
    finally:
        cap.release()
    assert "is no camera device now" in why_unopened(str(cam), "usb")


def test_a_link_of_its_own_to_the_camera_must_be_there_at_load_with_a_real_lock(tmp_path):
    """A udev rule's own name (``SYMLINK+="camera0"``) is taken while it names the device; absent at load it is no
    camera's name the agent knows (only ``/dev/video*`` and ``/dev/v4l/…`` may be absent): refused with a real lock,
    and the service's restart (every 5 s) starts the agent once the camera is there (docs/locks.md)."""
    link = tmp_path / "camera0"
    with pytest.raises(ConfigError) as err:
        parse_config(data(str(link), gpio_lock()))
    assert any(p.startswith("camera.source: ") and "does not exist" in p for p in err.value.problems), err.value
    link.symlink_to("/dev/null")  # plugged: udev made the link
    cfg = parse_config(data(str(link), gpio_lock()))
    assert describe_source(cfg.camera.source) == "usb"
