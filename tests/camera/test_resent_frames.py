"""A live camera that resends pictures it sent before (its buffer after a reconnect), read by the real reader from a
real MJPEG-over-HTTP server on loopback: each picture sent again carries its first arrival (``Frame.shown``), a new
one none. The lock's evidence ages from it (``tests/runtime/test_resent_buffer.py``: the arm over a parked car)."""

from __future__ import annotations

import numpy as np

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
    assert shown.see(frames[20], 200.0) is None  # more than keep_s later: forgotten, new again
