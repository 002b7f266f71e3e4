"""``camera.source`` as a stream URL: one that can never open is refused naming the key; a scheme in capitals is
read. Before, ``check-config`` passed ``rtps://…``, ``rtsp://`` (no host), ``rtsp://h ost/…``, a port over
65535 and ``RTSP://…`` (OpenCV opens no scheme in capitals), and ``run`` retried each for ever with only
"camera stream: cannot open" in its log."""

from __future__ import annotations

import pytest

from edge_agent.camera.source import open_source
from edge_agent.clock import SystemClock
from edge_agent.config import ConfigError, parse_config
from tests.camera.mjpeg_server import MjpegServer, jpeg
from tests.camera.test_camera import wait_for

BAYS = [{"id": "A", "polygon": [[10, 10], [100, 10], [100, 80], [10, 80]]}]


def config(source: str):  # noqa: ANN201
    return parse_config({"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": source}, "bays": BAYS})


@pytest.mark.parametrize(("source", "says"), [
    ("rtps://192.168.1.64/live", "rtps scheme: a camera stream is one of rtsp"),
    ("file:///srv/clip.mp4", "a file is given by its path"),
    ("rtsp://", "no host in the URL"),
    ("rtsp://admin:pw@/live", "no host in the URL"),
    ("rtsp://h ost/live", "'h ost' is not a host name or IP address"),
    ("rtsp://192.168.1.64:99999/live", "Port out of range"),
    ("rtsp://192.168.1.64:0/live", "port 0"),
    ("rtsp://[::1/live", "Invalid IPv6 URL"),
])
def test_a_stream_url_that_can_never_open_is_refused_naming_the_key(source, says):
    with pytest.raises(ConfigError) as exc:
        config(source)
    [problem] = exc.value.problems
    assert problem.startswith("camera.source: ") and says in problem, problem
    assert "pw" not in problem


@pytest.mark.parametrize("source", [
    "rtsp://admin:pa#ss@192.168.1.64:554/live",  # was "Port could not be cast to integer value as 'pa'"
    "rtsp://admin:pa?ss@192.168.1.64/live",
    "rtsp://admin:12/34@192.168.1.64/live",  # was accepted: host "admin", port 12
    "rtsp://admin:Admin123!@192.168.1.64:99999/live",  # a "!" made any URL a "GStreamer pipeline": not checked
])
def test_a_password_that_ends_the_authority_early_is_refused_without_quoting_it(source):
    """An unencoded / ? or # in a camera password moves the host into the password's middle: the URL opened the
    wrong host (or none), and the error quoted the password's first characters. Percent-encoded, it opens."""
    with pytest.raises(ConfigError) as exc:
        config(source)
    [problem] = exc.value.problems
    assert problem.startswith("camera.source: ") and not any(s in problem for s in ("'", "12", "Admin"))
    assert "percent-encode" in problem or "Port out of range" in problem, problem


def test_a_space_in_a_camera_password_is_refused_not_shown():
    """No mask takes a password with a space: check-config's summary showed it whole."""
    with pytest.raises(ConfigError) as exc:
        config("rtsp://admin:my pass@192.168.1.64/live")
    assert exc.value.problems == ["camera.source: a space or control character in the user name or password: "
                                  "percent-encode it (/ is %2F, ? %3F, # %23, @ %40, a space %20)"]


@pytest.mark.parametrize("source", [
    "rtsp://admin:pa%23ss@192.168.1.64:554/live", "rtsp://admin:Admin123!@192.168.1.64/live",
    "rtsp://admin:p:w@192.168.1.64:554/Streaming/Channels/102",
    "rtsp://[fe80::1%eth0]:554/live",
    "http://cam_7.local:8080/video.mjpg?token=x",
    "udp://@:1234",  # listens: no host
    "rtspsrc location=rtsp://cam/live ! decodebin ! videoconvert ! appsink",  # a GStreamer pipeline: OpenCV's
    "0", "/dev/video0", "clip.mp4",
])
def test_sources_that_can_open_pass(source):
    assert config(source).camera.source == source


def test_a_scheme_in_capitals_is_read():
    server = MjpegServer(lambda n: [jpeg(0), jpeg(1), jpeg(2)])
    try:
        cam = config(server.url.replace("http://", "HTTP://")).camera
        assert cam.source == server.url
        src = open_source(cam, SystemClock())
        src.start()
        try:
            wait_for(lambda: src._seq >= 1)  # the old source never opened: no frame, ever
        finally:
            src.stop()
    finally:
        server.release()
