"""The real ``Agent`` wired to ``OpsRuntime`` the way ``edge-agent run`` should be (see edge_agent/ops/lifecycle.py),
so the ops hooks are proven against the real runtime before the lead wires ``run``.

    python -m tests.ops.agent_ops_child CONFIG [--camera-hang]

``--camera-hang``: the camera's open() never returns (an RTSP open that hangs), so the reader thread
neither delivers frames nor retries. ``--camera-hang-later`` / ``--perception-hang-later``: the camera's read /
the plate reader never returns after a few frames (a loop that ran, then stuck). Perception is replaced by a reader that finds no plates: this
is about the loops, not about plates.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

from edge_agent.camera.source import OpenCVSource, default_opener
from edge_agent.clock import SystemClock
from edge_agent.config import load_config
from edge_agent.ops.lifecycle import OpsRuntime
from edge_agent.ops.logging_setup import setup_logging
from edge_agent.runtime.agent import Agent


class NoPlates:
    def process(self, frame_bgr, region=None):  # noqa: ANN001, ANN201 - PlateReader
        return []


class HangsAfter:
    """A plate reader that finds no plates, then never returns (a driver stuck in the main loop)."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def process(self, frame_bgr, region=None):  # noqa: ANN001, ANN201 - PlateReader
        self.left -= 1
        if self.left < 0:
            threading.Event().wait()
        return []


def hangs_after(open_: Callable[[], object], frames: int) -> Callable[[], object]:
    """The camera delivers ``frames`` frames, then its read never returns (a stream that stalls in the driver)."""

    def opener() -> object:
        cap = open_()
        read, left = cap.read, [frames]  # type: ignore[attr-defined]

        def stalling_read():  # noqa: ANN202
            left[0] -= 1
            if left[0] < 0:
                threading.Event().wait()
            return read()

        cap.read = stalling_read  # type: ignore[attr-defined]
        return cap

    return opener


def main() -> int:
    cfg = load_config(sys.argv[1])
    setup_logging(cfg.ops.logging)
    clock = SystemClock()
    source = None
    reader: object = NoPlates()
    if "--camera-hang" in sys.argv:
        source = OpenCVSource(cfg.camera.source, clock, opener=lambda: threading.Event().wait())
    if "--camera-hang-later" in sys.argv:
        source = OpenCVSource(cfg.camera.source, clock, opener=hangs_after(default_opener(cfg.camera.source, True), 5))
    if "--perception-hang-later" in sys.argv:
        reader = HangsAfter(5)
    agent = Agent(cfg, clock, source=source, reader=reader)
    ops = OpsRuntime(cfg, agent.bus, clock)
    ops.plan.add("stop frames", agent.source.stop, timeout_s=1.0)  # a hung reader must not eat the budget
    ops.plan.add("stop sinks", agent.stop, timeout_s=2.0)
    agent.start()
    ops.start(on_reload=agent.reload_config)
    print("started", flush=True)
    agent.run_forever(sleep=ops.stop_requested.wait, until=ops.stop_requested,  # the agent's one loop, ops hooks
                      on_turn=lambda got: ops.loop_turn(got_frame=got, camera_reconnects=agent.source.reconnects))
    results = ops.finish()
    print(" ".join(f"{r.name}={r.status}" for r in results), flush=True)
    return ops.exit_code


if __name__ == "__main__":
    sys.exit(main())
