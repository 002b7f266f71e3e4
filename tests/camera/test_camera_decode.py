"""Still-image camera sources (folder, single file) decode through the one bounded path:
a truncated JPEG is used with a grey band, a huge image is refused before decoding, each
counted and announced as a health event — never a crash, never gigabytes.

The sources are driven synchronously (``_run`` returns when a non-looping folder ends), so
no test waits on a thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.camera.source import OpenCVSource, default_opener
from edge_agent.clock import SystemClock
from edge_agent.sim.scenario import scene_config
from tests.perception.bigimage import huge_png

ROOT = Path(__file__).resolve().parents[2]


def _cut_jpeg(path: Path, shade: int = 200) -> Path:
    ok, buf = cv2.imencode(".jpg", np.full((120, 160, 3), shade, np.uint8))
    path.write_bytes(buf.tobytes()[: len(buf) * 2 // 3])
    return path


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    cv2.imwrite(str(d / "000.png"), np.full((120, 160, 3), 40, np.uint8))
    _cut_jpeg(d / "001.jpg")
    huge_png(d / "002.png", 20000, 20000)
    (d / "003.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(d / "004.png"), np.full((120, 160, 3), 90, np.uint8))
    return d


def _read_all(source: str) -> list[np.ndarray | None]:
    cap = default_opener(source, loop=False)()
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            return out
        out.append(img)


def test_folder_source_uses_truncated_jpegs_and_refuses_huge_images(tmp_path):
    frames = _read_all(str(_folder(tmp_path)))
    assert [None if f is None else int(f[0, 0, 0]) for f in frames] == [40, 200, None, None, 90]
    cut = frames[1]
    assert cut.shape == (120, 160, 3) and abs(int(cut[-1, -1, 0]) - 128) <= 2  # grey where bytes were missing


def test_source_counts_each_kind_and_keeps_going(tmp_path):
    src = OpenCVSource(str(_folder(tmp_path)), SystemClock(), fps=100, sleep=lambda s: None)
    src._run()  # a non-looping folder: returns at its end
    assert src.finished and src.corrupt == 2
    assert src.decode_counts.snapshot() == {"truncated": 1, "reduced": 0, "too_large": 1, "unreadable": 1}
    assert "20000x20000" in src.decode_counts.last["too_large"]
    assert int(src.latest().image[0, 0, 0]) == 90  # the frame after the bad ones arrived


def test_single_image_file_source_goes_through_the_same_path(tmp_path):
    frames = _read_all(str(_cut_jpeg(tmp_path / "snap.jpg", 180)))
    assert len(frames) == 1 and frames[0].shape == (120, 160, 3) and int(frames[0][0, 0, 0]) == 180
    assert _read_all(str(huge_png(tmp_path / "huge.png", 20000, 20000))) == [None]


def test_agent_announces_decode_warnings_once_per_kind(tmp_path, clock):
    from edge_agent.runtime.agent import Agent
    from edge_agent.runtime.notices import DECODE_WARNING_EVERY_S

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    src = OpenCVSource(str(_folder(tmp_path)), clock, fps=100, sleep=lambda s: None)
    agent = Agent(scene_config(str(tmp_path / "data")), clock=clock, source=src, reader=NoReader())
    events = []
    agent.bus.subscribe(events.append)
    src._run()
    for _ in range(3):
        agent.step()
    warned = {e.data["kind"]: e.data for e in events if e.type == "camera_image_warning"}
    assert set(warned) == {"truncated", "too_large", "unreadable"}
    assert len([e for e in events if e.type == "camera_image_warning"]) == 3
    assert "20000x20000" in warned["too_large"]["detail"]
    extra = agent.health_figures().extra
    assert extra["images_truncated"] == 1 and extra["images_too_large"] == 1
    # more of the same: announced again only after the quiet period, with the running count
    src2_counts = src.decode_counts
    src2_counts.add("truncated", "x.jpg")
    agent.step()
    assert len([e for e in events if e.type == "camera_image_warning"]) == 3
    clock.advance(DECODE_WARNING_EVERY_S)
    agent.step()
    last = [e for e in events if e.type == "camera_image_warning"][-1]
    assert last.data["kind"] == "truncated" and last.data["count"] == 2


CHILD = """
import resource, sys
from edge_agent.camera.source import OpenCVSource
from edge_agent.clock import SystemClock
src = OpenCVSource(sys.argv[1], SystemClock(), fps=100, sleep=lambda s: None)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
src._run()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import json; print(json.dumps({"grew_mb": (after - before) / 1024, "corrupt": src.corrupt}))
"""


def test_huge_png_in_a_folder_costs_no_memory(tmp_path):
    """Measured in a child process: its peak RSS is its own, not the test session's."""
    d = tmp_path / "huge"
    d.mkdir()
    huge_png(d / "a.png", 20000, 20000)
    out = subprocess.run([sys.executable, "-c", CHILD, str(d)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["corrupt"] == 1
    assert got["grew_mb"] < 50, got  # decoded whole it is 1.2 GB (BGR)


# A file name that is not UTF-8 (Python: lone surrogates) used to segfault OpenCV's binding (exit 139);
# run in a child so the old code fails the test instead of killing the session.
NON_UTF8 = """
import os, sys
from edge_agent.camera.source import default_opener
from edge_agent.imfile import imread, imwrite
folder = os.fsdecode(sys.argv[1].encode())
cap = default_opener(folder, loop=False)()
frames = []
while True:
    ok, img = cap.read()
    if not ok:
        break
    frames.append(None if img is None else int(img[0, 0, 0]))
path = os.path.join(folder, os.fsdecode(b"copy\\xfe.png"))
assert imwrite(path, imread(os.path.join(folder, os.fsdecode(b"b\\xff.png"))))
video = default_opener(os.path.join(folder, os.fsdecode(b"clip\\xfd.avi")), loop=False)()
print(frames, int(imread(path)[0, 0, 0]), video.isOpened(), video.read()[0])
"""


def test_file_names_that_are_not_utf8_are_read_not_a_crash(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), np.full((48, 64, 3), 40, np.uint8))
    ok, buf = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    (d / os.fsdecode(b"b\xff.png")).write_bytes(buf.tobytes())
    clip = d / "clip.avi"  # a folder source skips it (not an image); opened as a file source below
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for _ in range(3):
        w.write(np.full((48, 64, 3), 120, np.uint8))
    w.release()
    clip.rename(d / os.fsdecode(b"clip\xfd.avi"))
    out = subprocess.run([sys.executable, "-c", NON_UTF8, str(d)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.split() == ["[40,", "90]", "90", "True", "True"]


def test_a_file_over_the_size_limit_is_refused_unread_and_a_device_is_read_no_further(tmp_path, monkeypatch):
    """``recognize /dev/zero`` read without end (23 GB, then the kernel's kill); a huge file was read whole."""
    from edge_agent.camera import decode

    big = tmp_path / "big.jpg"
    with big.open("wb") as f:  # sparse: costs no disk
        f.truncate(decode.MAX_FILE_BYTES + 1)
    with pytest.raises(decode.ImageTooLarge, match="file larger than 256 MiB"):
        decode.decode_file(big)
    monkeypatch.setattr(decode, "MAX_FILE_BYTES", 4 << 20)
    with pytest.raises(decode.ImageTooLarge, match="file larger than 4 MiB: not a camera image: /dev/zero"):
        decode.decode_file("/dev/zero")


def test_a_fifo_among_a_folder_s_images_is_counted_not_a_hang(tmp_path):
    """Opening it waited for a writer for ever: ``replay`` of the folder hung, deaf to SIGTERM."""
    d = _folder(tmp_path)
    os.mkfifo(d / "0035.jpg")
    src = OpenCVSource(str(d), SystemClock(), fps=100, sleep=lambda s: None)
    reader = threading.Thread(target=src._run, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # the old code: let it go before failing
        with open(d / "0035.jpg", "wb"):
            pass
        raise AssertionError("the folder source hung on a FIFO")
    assert src.finished and src.decode_counts.snapshot()["unreadable"] == 2
    assert "not an image file (a FIFO, device or folder)" in src.decode_counts.last["unreadable"]
