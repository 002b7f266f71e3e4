"""Scripted scenes in time: what the demo plays and what the scenario tests assert on.

A scenario is a list of segments (a scene held for some seconds, or the camera gone);
``ScriptedSource`` serves the right rendered frame for the clock's current time, so a
FakeClock drives a minute of parking lot in well under a second of wall time plus the
detector's work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from edge_agent.camera.source import Frame
from edge_agent.clock import Clock, FakeClock
from edge_agent.config.load import parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.sim.synthetic import BAYS, Car, H, NoiseBank, Person, Scene, W, render

EMPTY = Scene()


@dataclass(frozen=True)
class Segment:
    seconds: float
    scene: Scene | np.ndarray | None  # a rendered scene, a ready BGR frame, or None: no frames (camera gone)
    label: str = ""


def hold(seconds: float, scene: Scene | None, label: str = "") -> list[Segment]:
    return [Segment(seconds, scene, label)]


def drive(car: Car, x_from: float, x_to: float, seconds: float, fps: float, others: Sequence[Car] = (),
          label: str = "") -> list[Segment]:
    """A car moving sideways from ``x_from`` to ``x_to`` (one frame per step)."""
    n = max(1, round(seconds * fps))
    return [Segment(1.0 / fps, Scene(cars=(*others, replace(car, x=x_from + (x_to - x_from) * i / max(1, n - 1)))),
                    label) for i in range(n)]


def walk(person_from: float, person_to: float, seconds: float, fps: float, cars: Sequence[Car] = ()) -> list[Segment]:
    n = max(1, round(seconds * fps))
    return [Segment(1.0 / fps, Scene(cars=tuple(cars), people=(Person(person_from + (person_to - person_from) * i
                                                                      / max(1, n - 1)),))) for i in range(n)]


def flicker(seconds: float, fps: float, scene: Scene = EMPTY, levels: Sequence[float] = (0.55, 1.35, 0.8, 1.2)
            ) -> list[Segment]:
    n = max(1, round(seconds * fps))
    return [Segment(1.0 / fps, replace(scene, brightness=levels[i % len(levels)])) for i in range(n)]


class ScriptedSource:
    """A FrameSource over segments, timed by the injected clock (no thread, no sleeping)."""

    def __init__(self, segments: Iterable[Segment], clock: Clock, noise: bool = True) -> None:
        self.segments = list(segments)
        self.clock = clock
        self.noise = NoiseBank() if noise else None
        self._t0: float | None = None
        self._seq = 0
        self.reconnects = 0
        self.duration = sum(s.seconds for s in self.segments)
        self.current: Segment | None = None

    def start(self) -> None:
        self._t0 = self.clock.monotonic()

    def stop(self) -> None:
        pass

    def segment_at(self, t: float) -> Segment | None:
        acc = 0.0
        for s in self.segments:
            acc += s.seconds
            if t < acc - 1e-9:
                return s
        return None

    def latest(self) -> Frame | None:
        if self._t0 is None:
            self.start()
        seg = self.segment_at(self.clock.monotonic() - self._t0)
        self.current = seg
        if seg is None or seg.scene is None:
            return None
        img = seg.scene if isinstance(seg.scene, np.ndarray) else render(seg.scene)
        img = self.noise.apply(img) if self.noise else img.copy()
        self._seq += 1
        return Frame(img, self._seq, self.clock.monotonic())


def run_scripted(step: Callable[[], object], clock: FakeClock, seconds: float, fps: float,
                 until: threading.Event | None = None) -> None:
    """Call ``step`` once per frame period for ``seconds`` of scenario time (or until ``until`` is set)."""
    period = 1.0 / fps
    for _ in range(int(round(seconds * fps))):
        if until is not None and until.is_set():
            return
        step()
        clock.advance(period)


def scene_config(data_dir: str, **overrides: object) -> AgentConfig:
    """The config matching the rendered scenes (two bays, A and B), with ``overrides`` per section."""
    data: dict = {
        "site": {"site_id": "demo-site", "device_id": "demo-cam"},
        "camera": {"source": "synthetic", "fps": 5, "width": W, "height": H},
        "bays": [{"id": bid, "polygon": [list(p) for p in poly], "charger_id": f"charger-{bid}"}
                 for bid, poly in BAYS.items()],
        "timers": {"arrival_confirm_s": 3, "departure_confirm_s": 5, "fuel_grace_s": 20,
                   "unidentified_timeout_s": 30, "overstay_s": 30},
        "data_dir": data_dir,
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return parse_config(data, "<scenario>")


NEV = Car(250, "粤BD12345", "green", (235, 235, 240))
FUEL = Car(710, "京A12345", "blue", (180, 30, 30))


def demo_story(fps: float) -> list[Segment]:
    """The demo: empty bays; an NEV parks in A and leaves; a fuel car parks in B, violates, leaves."""
    return (
        hold(6, EMPTY, "empty bays")
        + drive(NEV, -200, NEV.x, 1.6, fps, label="an NEV drives into bay A")
        + hold(20, Scene(cars=(NEV,)), "the NEV charges in bay A")
        + drive(NEV, NEV.x, -200, 1.6, fps, label="the NEV leaves")
        + hold(10, EMPTY, "empty bays")
        + drive(FUEL, W + 200, FUEL.x, 1.6, fps, label="a fuel car drives into bay B")
        + hold(30, Scene(cars=(FUEL,)), "the fuel car stays in bay B")
        + drive(FUEL, FUEL.x, W + 200, 1.6, fps, label="the fuel car leaves")
        + hold(10, EMPTY, "empty bays")
    )


__all__ = ["EMPTY", "FUEL", "NEV", "Car", "Person", "Scene", "ScriptedSource", "Segment", "demo_story", "drive",
           "flicker", "hold", "run_scripted", "scene_config", "walk"]
