"""The real ``Agent`` wired to ``OpsRuntime`` the way ``edge-agent run`` should be (see edge_agent/ops/lifecycle.py),
so the ops hooks are proven against the real runtime before the lead wires ``run``.

    python -m tests.ops.agent_ops_child CONFIG [--camera-hang]

``--camera-hang``: the camera's open() never returns (an RTSP open that hangs), so the reader thread
neither delivers frames nor retries. Perception is replaced by a reader that finds no plates: this
is about the loops, not about plates.
"""

from __future__ import annotations

import sys
import threading

from edge_agent.camera.source import OpenCVSource
from edge_agent.clock import SystemClock
from edge_agent.config import load_config
from edge_agent.ops.lifecycle import OpsRuntime
from edge_agent.ops.logging_setup import setup_logging
from edge_agent.runtime.agent import Agent


class NoPlates:
    def process(self, frame_bgr, region=None):  # noqa: ANN001, ANN201 - PlateReader
        return []


def main() -> int:
    cfg = load_config(sys.argv[1])
    setup_logging(cfg.ops.logging)
    clock = SystemClock()
    source = None
    if "--camera-hang" in sys.argv:
        source = OpenCVSource(cfg.camera.source, clock, opener=lambda: threading.Event().wait())
    agent = Agent(cfg, clock, source=source, reader=NoPlates())
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
