"""``edge-agent demo``: the real agent (real detector and recogniser) on a rendered scenario,
driven by a fake clock so two minutes of parking lot play in seconds."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from edge_agent.clock import FakeClock
from edge_agent.evidence.fonts import FontMissing, cjk_font_path
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.scenario import ScriptedSource, demo_story, run_scripted, scene_config
from edge_agent.runtime.sinks import JsonLinesSink, describe

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def run_demo(data_dir: Path, fps: float = 5.0, json_lines: bool = False, out=sys.stdout) -> int:  # noqa: ANN001
    try:
        cjk_font_path()
    except FontMissing as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    clock = FakeClock()
    models = REPO_MODELS if REPO_MODELS.is_dir() else Path("models")
    cfg = scene_config(str(data_dir), perception={"models_dir": str(models)})
    segments = demo_story(fps)
    source = ScriptedSource(segments, clock)
    t0 = clock.monotonic()
    try:
        agent = Agent(cfg, clock=clock, source=source)
    except FileNotFoundError as exc:
        print(f"demo: models missing ({exc}); run `edge-agent models fetch`", file=sys.stderr)
        return 1
    last_label = [None]

    def story(ev):  # noqa: ANN001, ANN202
        t = clock.monotonic() - t0
        print(f"  t={t:6.1f}s  {describe(ev)}", file=out)

    if json_lines:
        agent.add_component(JsonLinesSink(agent.bus, data_dir / "events.jsonl", out, states=False))
    else:
        print(f"edge-agent demo: 2 bays (A, B), camera at {fps:g} fps, fuel grace {cfg.timers.fuel_grace_s:g} s, "
              f"real plate detector + recogniser; time is simulated.", file=out)
        agent.bus.subscribe(story)
    agent.start()

    def step() -> None:
        agent.step()
        seg = source.current
        if not json_lines and seg is not None and seg.label and seg.label != last_label[0]:
            last_label[0] = seg.label
            print(f"  t={clock.monotonic() - t0:6.1f}s  -- scene: {seg.label}", file=out)

    wall = time.perf_counter()
    run_scripted(step, clock, source.duration, fps)
    agent.stop()
    if not json_lines:
        n = agent.evidence.total_bytes()
        print(f"done: {source.duration:.0f} s of scenario in {time.perf_counter() - wall:.1f} s wall time; "
              f"{agent.monitor.frames} frames, detector ran on {agent.monitor.detector_runs}; "
              f"evidence {n // 1024} KiB in {data_dir / 'evidence'}", file=out)
        for bay, s in sorted(agent.bus.states().items()):
            print(f"  final: bay {bay} {s.state}", file=out)
    return 0
