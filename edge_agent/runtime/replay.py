"""``edge-agent replay CONFIG SOURCE``: recorded footage through the agent ``run`` uses, as fast
as the CPU allows, on the clip's own time.

The clock is injected: each sampled frame moves it to the frame's clip time (the file's
timestamps, or index / fps for a folder), so every timer (arrival confirm, grace, timeouts)
runs in clip seconds whatever the CPU speed. Events are written as JSON lines, starting with
a ``replay_started`` marker whose ``ts`` is clip time 0 (``eval-visits`` subtracts it) and
ending with ``replay_finished`` (clip length, frames, wall time, speed).

What a replay leaves out on purpose: the MQTT link, the lock drivers and the web page (no
backend, motor or browser should act on a recording); evidence goes to a folder of its own.
``sim_locks`` (``--sim-locks``) gives every bay a simulated lock instead, wired as ``run`` wires
locks (interlock, policy, the camera's evidence), ticked every ``DEFAULT_TICK_S`` (0.1 s) of clip time
as ``run``'s lock thread ticks them, between frames too: what the locks would have done on the
recording (``lock_moved`` / ``lock_refused`` in the events), never a real motor.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np

from edge_agent.camera.source import (
    DecodeCounts,
    Frame,
    default_opener,
    describe_source,
    folder_frames,
    pts_wrap_s,
    sample,
)
from edge_agent.camera.unopened import why_unopened
from edge_agent.clock import FakeClock, iso
from edge_agent.config.load import parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.locks.ticker import DEFAULT_TICK_S

log = logging.getLogger(__name__)

GAP_PERIODS = 2.0  # a frame further ahead than this many sampling periods follows time without frames
# Of one stretch without frames, the clip seconds walked period by period (camera_lost and what follows it fire as in
# ``run``); the rest is one jump, as ``run`` sees a process paused. Why: walked whole, 8 bytes of an AVI header (frames
# 10^6 s apart) had a 4-frame file replayed for over an hour of CPU, a larger gap for ever (0.3 ms a period).
GAP_WALK_S = 3600.0
# After that hour, the stretch is walked GAP_STEP_S at a time for as long as a bay's timer may run (fuel_grace_s,
# unidentified_timeout_s, overstay_s: at most a day), then jumped. Why: jumped at once, a timer due 2 h into a 6 h
# stretch (a motion-triggered export's night, a fuel grace set to hours) fired at the jump, 4 h late; walked
# coarsely, at most GAP_STEP_S late, for 8,640 turns a day (seconds of CPU, under an hour's 18,000 at 5 fps).
GAP_STEP_S = 10.0
GAP_TIMERS_S = 86_400.0


class ClipSource:
    """A FrameSource over a file or folder: one sampled frame per ``latest()``, no thread; each
    frame moves the injected clock to its clip time. ``decode_counts``, as ``run``'s source has it:
    a folder's truncated or unreadable images become ``camera_image_warning`` events in the replay too.

    ``between`` (``--sim-locks``: the locks' tick) is called every ``tick_s`` of clip time while the clock walks
    to the next frame, as ``run``'s lock thread ticks between frames; the loop's own turn ticks at the frame.
    Why: ticked once a frame (1 s at 1 fps), a raise due between frames came at the next one and a replay could
    not show what ``run`` does in between (probe lock39). Stretches walked ``GAP_STEP_S`` at a time or jumped
    are not ticked finely (``run`` is a paused process there)."""

    def __init__(self, path: str, clock: FakeClock, fps: float, between: Callable[[], None] | None = None,
                 tick_s: float = DEFAULT_TICK_S) -> None:
        self.path, self.clock, self.kind = path, clock, describe_source(path)
        if self.kind not in ("file", "folder"):
            raise ValueError(f"replay needs a video file or a folder of images, not a {self.kind}: {path}")
        if not Path(path).exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if self.kind == "file" and not Path(path).is_file():  # opening a FIFO waited for a writer, deaf to SIGTERM
            raise ValueError(f"replay needs a video file or a folder of images: {path} is not a regular file "
                             "(a FIFO or a device)")
        self.decode_counts = DecodeCounts()
        self._cap = default_opener(path, loop=False, counts=self.decode_counts)()
        if not self._cap.isOpened():
            why = why_unopened(path, self.kind) if self.kind == "file" else ""  # a recording cut off, an empty file
            raise ValueError(no_frames(Path(path)) if self.kind == "folder" else
                             f"cannot open {path} as video or image folder{f': {why}' if why else ''}")
        self._frames = sample(self._cap, self.kind, fps, pts_wrap_s(path) if self.kind == "file" else None)
        self._next: tuple[np.ndarray | None, float] | None = None  # sampled, its clip time not reached yet
        self.period = 1.0 / fps
        self._t0 = clock.monotonic()
        self.between, self.tick_s = between, tick_s
        self.reconnects = 0
        self.corrupt = 0
        self.seq = 0
        self.clip_s = 0.0
        self.finished = False
        self._walked = 0.0  # clip seconds walked in the present stretch without frames
        self.jumped_s = 0.0  # clip seconds jumped over in stretches longer than GAP_WALK_S

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._cap.release()

    def latest(self) -> Frame | None:
        """The next sampled frame, the clock moved to its clip time. A frame further ahead than ``GAP_PERIODS``
        sampling periods (a damaged stretch, a recording paused) is not reached in one jump: each call moves
        the clock one period and returns None, so the agent's loop turns through the time without frames as
        ``run``'s does. Why: jumped over, the camera's outage was found only at the next good frame —
        ``camera_lost`` stamped when frames were back, ``blind_s`` 5 s for a 11 s hole, timers not run."""
        while True:
            if self._next is None:
                self._next = next(self._frames, None)
                if self._next is None:
                    self.finished = True
                    return None
            img, t = self._next
            ahead = self._t0 + t - self.clock.monotonic()
            if ahead > GAP_PERIODS * self.period:
                if self._walked < GAP_WALK_S + GAP_TIMERS_S:
                    if self._walked < GAP_WALK_S:
                        self._walked += self.period
                        self._walk(self.period)
                    else:
                        step = min(GAP_STEP_S, ahead - self.period)
                        self._walked += step
                        self.clock.advance(step)
                    return None
                if not self.jumped_s:
                    log.warning("replay: no frame in the recording for %.0f s after clip %.0f s: %.0f s walked, the "
                                "rest jumped (said once; the summary's jumped_s counts every such jump)", self._walked + ahead,
                                max(0.0, t - ahead - self._walked), self._walked)
                self.jumped_s += ahead - self.period
                self.clock.advance(ahead - self.period)  # the loop turns once there, as after a pause
                return None
            self._walked = 0.0
            if ahead > 0:
                self._walk(ahead)
            self._next = None
            self.clip_s = max(self.clip_s, t)
            if img is None or img.size == 0:
                self.corrupt += 1
                continue
            self.seq += 1
            return Frame(img, self.seq, self.clock.monotonic())


    def _walk(self, seconds: float) -> None:
        """The clock ``seconds`` on, ``between`` called at every ``tick_s`` strictly inside (the end is the loop's
        turn, which ticks after it)."""
        end = self.clock.monotonic() + seconds
        if self.between is not None:
            while end - self.clock.monotonic() > self.tick_s * 1.001:  # not a tick a rounding error before the end
                self.clock.advance(self.tick_s)
                self.between()
        self.clock.advance(max(0.0, end - self.clock.monotonic()))


def no_frames(folder: Path) -> str:
    """Why a folder gives no frame: no image in it, and the subfolders that do hold some (a camera's export in one
    folder per day). "cannot open … as video or image folder" sent its owner looking for a broken file."""
    try:
        subs = [d for d in folder.iterdir() if d.is_dir()]
    except OSError as exc:
        return f"cannot read the folder {folder}: {exc.strerror or exc}"
    held = []
    for d in sorted(subs):
        try:
            if folder_frames(d):
                held.append(d.name)
        except OSError:  # one we may not read: not ours to name
            continue
    if not held:
        return f"no images in the folder {folder}"
    return (f"no images in the folder {folder}: its subfolders {', '.join(held[:5])}{' …' if len(held) > 5 else ''} "
            "hold some, and a folder is not read into (name one of them)")


def replay_config(cfg: AgentConfig, source: str, data_dir: Path, sim_locks: bool = False) -> AgentConfig:
    """``cfg`` for a recording: its source, no MQTT, no notifications, no locks, no web, evidence under
    ``data_dir``. ``sim_locks``: a simulated lock on every bay (``sim_lock_configs``) in place of the config's."""
    from edge_agent.runtime.models import models_dir

    data = cfg.model_dump(mode="json")
    data["perception"]["models_dir"] = str(models_dir(cfg))  # found as for run, before data_dir moves
    data["camera"]["source"] = source
    data["camera"]["loop"] = False
    data["mqtt"]["enabled"] = False
    data["web"]["enabled"] = False
    data["notify"]["sinks"] = []  # a recording's violations are no news: the site's robots got them as "now"
    data["locks"] = sim_lock_configs(data) if sim_locks else []
    for b in data["bays"]:
        b["lock_id"] = None
    if cfg.occupancy.calibration:  # it was relative to the run's data_dir, which moves
        data["occupancy"]["calibration"] = str(Path(cfg.data_dir) / cfg.occupancy.calibration)
    if "model" not in cfg.occupancy.model_fields_set:
        del data["occupancy"]["model"]  # unset, so a calibration still brings its own model
    data["data_dir"] = str(data_dir)
    out = parse_config(data, str(cfg.source_path or "<replay>"))
    out._source_path = cfg.source_path  # relative models_dir resolves as for run
    out._hash = cfg.config_hash  # the file that was read (the marker's config_hash), not the rewritten copy
    return out


def sim_lock_configs(data: dict) -> list[dict]:
    """A simulated lock for every bay of a config dumped as JSON: the config's own lock settings for that bay where it
    has one (its timers and policy; driver, pins and sensor dropped), else the defaults. No presence sensor: what a
    camera-only lock would do, the camera's evidence its only witness. Arms start down (a start proves nothing)."""
    own = {lk.get("bay"): lk for lk in data["locks"] if lk.get("bay")}
    own |= {b["id"]: lk for b in data["bays"] for lk in data["locks"] if b.get("lock_id") == lk["id"]}
    out = []
    for b in data["bays"]:
        lk = {k: v for k, v in own.get(b["id"], {}).items()
              if k not in ("id", "bay", "driver", "motor", "switches", "presence", "warning", "simulator")}
        out.append({**lk, "id": f"sim-{b['id']}", "bay": b["id"], "driver": "simulator",
                    "simulator": {"start": "down", "presence": False}})
    return out


def replay(cfg: AgentConfig, source: str, events_out: IO[str], data_dir: Path,
           start: datetime | None = None, until: threading.Event | None = None, sim_locks: bool = False) -> dict:
    """Play ``source`` through the agent; events as JSON lines to ``events_out``. Returns the summary.
    ``until`` set (SIGTERM / SIGINT) ends the play between frames: the summary says ``interrupted``.
    ``sim_locks``: every bay gets a simulated lock (``replay_config``), ticked after each loop turn and every
    ``DEFAULT_TICK_S`` of clip time between frames, as ``run`` ticks them."""
    from edge_agent.runtime.assemble import assemble
    from edge_agent.runtime.sinks import JsonLinesSink

    cfg = replay_config(cfg, source, data_dir, sim_locks)
    tz = ZoneInfo(cfg.site.timezone)
    clock = FakeClock(start.astimezone(tz) if start else datetime.now(tz))
    clip = ClipSource(source, clock, cfg.camera.fps)
    marker = {"kind": "marker", "type": "replay_started", "ts": iso(clock.now()), "source": source,
              "fps": cfg.camera.fps, "config_hash": cfg.config_hash,
              "bays": [b.id for b in cfg.bays]}  # eval-visits names truth bays the config does not have
    parts = assemble(cfg, clock=clock, source=clip, review=False, lock_thread=False,
                     sinks=lambda a: [JsonLinesSink(a.bus, None, events_out, states=False)])
    # only once the agent is built: a config it refuses leaves no marker, so nothing scores an empty replay
    events_out.write(json.dumps(marker, ensure_ascii=False) + "\n")
    events_out.flush()
    agent = parts.agent
    wall = time.perf_counter()  # replay speed is a compute figure: wall clock on purpose
    cpu = time.process_time()
    parts.start()
    try:
        locks = parts.locks

        def tick(_got: bool) -> None:  # as the demo's loop: the locks' tick is a turn's work, on the clip's clock
            if locks is not None:
                with agent.health.turn():
                    locks.tick()

        if locks is not None:
            # run's lock thread ticks between frames too, outside the loop's turn (this runs inside one: the step's
            # wait for a frame)
            clip.between = lambda: locks.tick()
        # the loop run uses; a clip is never waited for
        agent.run_forever(sleep=lambda s: None, until=until, on_turn=tick)
    finally:
        parts.stop()
        parts.close()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    summary = {"kind": "marker", "type": "replay_finished", "ts": iso(clock.now()), "clip_s": round(clip.clip_s, 3),
               "frames": clip.seq, "corrupt": clip.corrupt, "classified": agent.monitor.classified,
               "detector_runs": agent.monitor.detector_runs, "region_runs": agent.monitor.region_runs, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
               "speed_x": round(clip.clip_s / wall, 2) if wall > 0 else None,
               "interrupted": bool(until is not None and until.is_set() and not clip.finished)}
    if clip.jumped_s:
        summary["jumped_s"] = round(clip.jumped_s, 3)
    events_out.write(json.dumps(summary) + "\n")
    events_out.flush()
    return summary
