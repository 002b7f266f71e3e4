"""Runtime benchmark (called by ``edge-agent bench``): what ``run`` costs on this machine.

Rows: CPU of the whole agent loop (camera reader thread with JPEG decode, change test,
detector when gated in, state machines) as % of one core, with an idle camera and with a
car arriving, at 5 fps in real time; and the wall time from the first frame of a stopped car
to ``vehicle_identified`` (arrival_confirm_s of that is policy — the car appears at rest, so
arrival_settle_s overlaps it — the rest is compute).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import yaml

from edge_agent import imfile
from edge_agent.camera.source import OpenCVSource, _ImageFolder
from edge_agent.clock import SystemClock
from edge_agent.events.types import EventType
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, NEV, Scene, scene_config
from edge_agent.sim.synthetic import BAYS, render


class _Marked:
    """An image-folder reader that notes the wall time it hands out frame ``mark``."""

    def __init__(self, inner: _ImageFolder, mark: int | None) -> None:
        self.inner, self.mark, self.i, self.marked_at = inner, mark, 0, None

    def isOpened(self) -> bool:  # noqa: N802 - VideoCapture's name
        return self.inner.isOpened()

    def read(self):  # noqa: ANN201
        ok, img = self.inner.read()
        if ok and self.i == self.mark and self.marked_at is None:
            self.marked_at = time.perf_counter()
        self.i += 1
        return ok, img

    def release(self) -> None:
        self.inner.release()


def _write_frames(folder: Path, scenes: list[Scene]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(scenes):
        imfile.imwrite(folder / f"{i:05d}.jpg", render(s), [cv2.IMWRITE_JPEG_QUALITY, 90])


def _phase(models: Path, tmp: Path, name: str, scenes: list[Scene], fps: float, mark: int | None,
           threads: int) -> dict[str, Any]:
    frames = tmp / name
    _write_frames(frames, scenes)
    cfg = scene_config(str(tmp / f"data-{name}"), camera={"source": str(frames)},
                       perception={"models_dir": str(models), "threads": threads},
                       timers={"arrival_confirm_s": 1.0})
    clock = SystemClock()
    reader: list[_Marked] = []

    def opener() -> _Marked:
        reader.append(_Marked(_ImageFolder(frames, loop=False), mark))
        return reader[-1]

    source = OpenCVSource(str(frames), clock, fps=fps, opener=opener)
    agent = Agent(cfg, clock=clock, source=source)
    identified: list[float] = []
    agent.bus.subscribe(lambda e: identified.append(time.perf_counter()), {EventType.VEHICLE_IDENTIFIED})
    agent.reader.process(render(EMPTY))  # model warm-up outside the measured window
    cpu0, wall0 = time.process_time(), time.perf_counter()
    agent.start()
    t = threading.Thread(target=agent.run_forever, daemon=True)
    t.start()
    t.join(timeout=len(scenes) / fps + 60)
    agent.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    row: dict[str, Any] = {"phase": name, "fps": fps, "seconds": round(wall, 1), "frames": agent.monitor.frames,
                           "detector_runs": agent.monitor.detector_runs,
                           "cpu_pct_of_one_core": round(100 * cpu / wall, 1)}
    if mark is not None:
        m = reader[-1].marked_at if reader else None
        row["first_stopped_frame_to_identified_s"] = round(identified[0] - m, 2) if identified and m else None
        row["of_which_arrival_confirm_s"] = cfg.timers.arrival_confirm_s
        row["arrival_settle_s"] = cfg.timers.arrival_settle_s  # overlaps the confirm: the car appears at rest
    return row


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process(models: Path, tmp: Path, fps: float, seconds: float, threads: int,
             warmup_s: float = 8.0) -> dict[str, Any] | None:
    """The real ``edge-agent run`` process on an idle (looping) camera: everything a device runs
    but MQTT (review log, JSON log, ops runtime), CPU sampled from /proc after start-up."""
    if not Path("/proc/self/stat").exists():
        return None
    frames = tmp / "process-idle"
    _write_frames(frames, [EMPTY] * int(fps * 4))
    cfg = {"site": {"site_id": "bench", "device_id": "cam"},
           "camera": {"source": str(frames), "fps": fps, "loop": True, "width": 960, "height": 540},
           "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
           "perception": {"models_dir": str(models), "threads": threads}, "data_dir": str(tmp / "data-process")}
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(path), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup_s)  # imports, model load, reference learning: not the steady state
        if proc.poll() is not None:
            return None
        c0, w0 = _proc_cpu_s(proc.pid), time.perf_counter()
        time.sleep(seconds)
        c1, w1 = _proc_cpu_s(proc.pid), time.perf_counter()
    finally:
        proc.terminate()
        proc.wait(15)
    return {"phase": "run process", "fps": fps, "seconds": round(w1 - w0, 1),
            "cpu_pct_of_one_core": round(100 * (c1 - c0) / (w1 - w0), 1)}


def run(models: Path, seconds: float = 10.0, fps: float = 5.0, threads: int = 2,
        out: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Two short real-time runs; prints a table and returns its rows."""
    n = int(seconds * fps)
    parked = Scene(cars=(NEV,))
    stop_at = n // 3
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        rows = [
            _phase(models, Path(tmp), "idle camera", [EMPTY] * n, fps, None, threads),
            _phase(models, Path(tmp), "car arriving", [EMPTY] * stop_at + [parked] * (n - stop_at), fps, stop_at,
                   threads),
        ]
        whole = _process(models, Path(tmp), fps, seconds, threads)
    out("runtime: `run` loop at %g fps (CPU %% of one core; target idle < 10 %%)" % fps)
    for r in rows:
        extra = ""
        if "first_stopped_frame_to_identified_s" in r:
            extra = (f", first frame of the stopped car → vehicle_identified "
                     f"{r['first_stopped_frame_to_identified_s']} s (arrival confirm {r['of_which_arrival_confirm_s']} s, "
                     f"at rest {r['arrival_settle_s']} s within it)")
        out(f"  {r['phase']:<13} cpu {r['cpu_pct_of_one_core']:5.1f} %  frames {r['frames']:4d}  "
            f"detector runs {r['detector_runs']:3d}{extra}")
    if whole is not None:
        out(f"  `edge-agent run` process, idle camera: cpu {whole['cpu_pct_of_one_core']:5.1f} % of one core over "
            f"{whole['seconds']} s (after start-up; review log and JSON log on, MQTT off)")
        rows.append(whole)
    return rows


if __name__ == "__main__":  # python -m edge_agent.sim.bench
    run(Path(__file__).resolve().parents[2] / "models")
