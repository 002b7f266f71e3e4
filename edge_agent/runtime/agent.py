"""The running agent: camera → perception → bays → bus (→ sinks: log, MQTT, locks, web).

One object that owns the loop and implements ``AgentControl`` for remote commands. Sinks
are components with ``start()`` / ``stop()`` that subscribe to ``agent.bus``; the agent
starts them after itself and stops them in reverse order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import yaml

from edge_agent.bays.charger_health import WATCHED as CHARGER_WATCHED
from edge_agent.bays.charger_health import ChargerHealth
from edge_agent.bays.feed import BayFeed
from edge_agent.bays.monitor import BayMonitor, PlateReader
from edge_agent.bays.occupancy import OccupancyClassifier
from edge_agent.camera.health import HealthTracker
from edge_agent.camera.registration import Alignment, Registration
from edge_agent.camera.source import FrameSource, open_source
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.load import ConfigError, load_config
from edge_agent.config.models import AgentConfig
from edge_agent.control import CHARGER_STATES, ControlError, ControlResult
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.store import EvidenceSkipped, EvidenceStore
from edge_agent.perception.lists import PlateLists, normalise_plate
from edge_agent.perception.rules import check_plate_list
from edge_agent.runtime.notices import DeviceNotices

log = logging.getLogger(__name__)


class Component(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class LockManager(Protocol):
    """What the lock stage offers the agent for remote commands."""

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult: ...

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult: ...

    def reset(self, bay_id: str, operator: str = "operator") -> ControlResult: ...

    def set_maintenance(self, bay_id: str, on: bool, operator: str = "operator") -> ControlResult: ...

    def simulate(self, bay_id: str, action: str, fields: dict[str, Any]) -> ControlResult: ...


def models_dir(cfg: AgentConfig) -> Path:
    from edge_agent.perception.locate import resolve_models_dir

    return resolve_models_dir(cfg.perception.models_dir, cfg.data_dir, cfg.source_path)


def default_reader(cfg: AgentConfig, lists: PlateLists) -> PlateReader:
    from edge_agent.perception.pipeline import Pipeline

    return Pipeline.from_config(cfg.perception, models_dir(cfg), lists)


def default_classifier(cfg: AgentConfig) -> OccupancyClassifier:
    """The shipped per-bay occupancy model (``occupancy.model`` in ``perception.models_dir``)."""
    from edge_agent.bays.classifier import BayClassifier

    path = models_dir(cfg) / cfg.occupancy.model
    if not path.is_file():
        raise ConfigError(str(cfg.source_path or "<config>"),
                          [f"occupancy.model: model file {path} not found (make models)"])
    return BayClassifier.load(path, threads=1)


class Agent:
    def __init__(self, cfg: AgentConfig, clock: Clock | None = None, bus: EventBus | None = None,
                 source: FrameSource | None = None, reader: PlateReader | None = None,
                 lists: PlateLists | None = None, evidence: EvidenceStore | None = None,
                 reader_factory: Callable[[AgentConfig, PlateLists], PlateReader] = default_reader,
                 classifier: OccupancyClassifier | None = None,
                 classifier_factory: Callable[[AgentConfig], OccupancyClassifier] = default_classifier) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock(ZoneInfo(cfg.site.timezone))
        self.bus = bus or EventBus()
        self.lists = lists or PlateLists(cfg.lists.allow, cfg.lists.deny)
        self.data_dir = Path(cfg.data_dir)
        self.evidence = evidence or EvidenceStore(self.data_dir / "evidence", self.clock,
                                                  cfg.evidence.max_age_days, int(cfg.evidence.max_mb * 1024 * 1024),
                                                  int(cfg.evidence.min_free_mb * 1e6))
        self.source = source or open_source(cfg.camera, self.clock)
        self._reader_factory = reader_factory
        self.reader = reader or reader_factory(cfg, self.lists)
        self.classifier = classifier or classifier_factory(cfg)
        self.feed = BayFeed()  # outlives every monitor: lock presence sensors in, camera evidence out
        self.monitor = BayMonitor(cfg, self.bus, self.clock, self.lists, self.evidence, feed=self.feed,
                                  classifier=self.classifier)
        self.alignment = self._new_alignment()
        self.health = self._new_health()
        self.lock_manager: LockManager | None = None
        self.components: list[Component] = []
        self.camera_ok = True
        self._lost_at: float | None = None
        self._stop = threading.Event()
        self._started = False
        self._loop_lock = threading.RLock()  # a reload never swaps the monitor in the middle of a frame
        self._size_seen: tuple[int, int] | None = None
        self._last_retention = float("-inf")
        self.notices = DeviceNotices(self.bus, self.clock)
        self.health_extras: dict[str, Callable[[], Any]] = {}  # sinks' own figures for the heartbeat (notify)
        self.chargers = ChargerHealth(cfg.charger_health, _chargers(cfg), self.clock)
        self._charger_lock = threading.Lock()
        self._charger_out: list[Event] = []  # warnings found inside a bus handler, published after it
        self.bus.subscribe(self._on_bay_event, set(CHARGER_WATCHED))

    # ---- composition --------------------------------------------------------------------
    def add_component(self, component: Component) -> Component:
        """Attach a sink (MQTT, locks, web…). Started with the agent, stopped before it."""
        self.components.append(component)
        if self._started:
            component.start()
        return component

    def attach_lock_manager(self, manager: LockManager) -> None:
        """Route ``lock`` / ``unlock`` commands to the lock stage (it adds itself as a component too)."""
        self.lock_manager = manager

    def set_presence_sensor(self, bay_id: str, sensor: Callable[[], bool | None] | None) -> None:
        """The lock stage's presence input for ``bay_id`` (in the feed: kept across config reloads)."""
        self._bay(bay_id)
        self.feed.set_sensor(bay_id, sensor)

    def start(self) -> None:
        self.source.start()
        self._started = True
        for c in self.components:
            c.start()
        self.notices.started(self.evidence)  # once the sinks listen

    def stop(self) -> None:
        self._stop.set()
        if not self._started:
            return
        self._started = False
        for c in reversed(self.components):
            try:
                c.stop()
            except Exception:  # one sink failing to stop must not keep the others running
                log.exception("stopping %r failed", c)
        self.source.stop()

    # ---- the loop -----------------------------------------------------------------------
    def step(self) -> bool:
        """One loop turn: judge the newest frame if there is one, else let timers run.
        Returns whether a frame was processed."""
        with self._loop_lock:
            frame = self.source.latest()
            got = frame is not None
            if got and self.health.on_frame(frame.image):
                self._check_size(frame.image)
                h = self.health.health()
                if h.ok:
                    self._align(frame.image)
                self.monitor.on_frame(frame.image, self.reader, usable=h.ok, why=h.reason)
            self._check_camera()
            self.notices.check(self.source, self.evidence)
            self._maybe_retain()
            self._charger_flush(tick=True)
            if not got:
                if self.camera_ok:
                    self.monitor.tick()
                else:  # blind: timers run, and a presence sensor (if any) still speaks
                    self.monitor.on_blind(self.health.health().reason)
            return got

    def _new_alignment(self) -> Alignment | None:
        c = self.cfg.camera
        if not c.track_shift:
            return None
        reg = Registration(c.shift_tolerance_px, [[b.id, b.polygon] for b in self.cfg.bays],
                           self.data_dir / "camera")
        return Alignment(reg, c.moved_confirm_s, c.shift_every_s)

    def _align(self, image: Any) -> None:
        """Camera shift: bays follow a small one; a large one is ``camera_moved`` and blinds the bays."""
        if self.alignment is None:
            return
        shift, report = self.alignment.update(image, self.clock.monotonic())
        if shift is not None and self.alignment.ok:
            self.monitor.set_offset(shift.dx, shift.dy)
        if self.monitor.aligned != self.alignment.ok:
            self.monitor.set_aligned(self.alignment.ok)
        if report is not None and shift is not None:
            self.bus.publish(Event.make(EventType.CAMERA_MOVED if report == "moved" else EventType.CAMERA_ALIGNED,
                                        self.clock, data={"dx": round(shift.dx, 1), "dy": round(shift.dy, 1),
                                                          "tolerance_px": self.cfg.camera.shift_tolerance_px}))

    @property
    def camera_moved(self) -> bool:
        """Reported ``camera_moved`` and not yet aligned or confirmed (the live page's banner)."""
        return self.alignment is not None and self.alignment.reported_moved

    def confirm_camera(self) -> ControlResult:
        """The installer confirmed that the bays fit the current view: it becomes the reference."""
        with self._loop_lock:
            if self.alignment is None or self.monitor._last_frame is None:
                raise ControlError("no_frame", "no camera frame yet (or camera.track_shift is off)")
            self.alignment.reg.confirm(self.monitor._last_frame)
            was_moved = self.alignment.reported_moved
            self.alignment = self._new_alignment()
            self.monitor.set_offset(0.0, 0.0)
            self.monitor.set_aligned(True)
            if was_moved:
                self.bus.publish(Event.make(EventType.CAMERA_ALIGNED, self.clock, data={"confirmed": True}))
            return ControlResult(True, "camera view confirmed as the new reference")

    def _check_size(self, image: Any) -> None:
        """Bay polygons are in the configured frame's pixels: say so once if the camera sends another size."""
        size = (image.shape[1], image.shape[0])
        want = (self.cfg.camera.width, self.cfg.camera.height)
        if size != self._size_seen and want[0] is not None and size != want:
            log.warning("camera sends %dx%d frames but the config says %dx%d: bay polygons will be off",
                        *size, *want)
        self._size_seen = size

    def run_forever(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Loop until ``stop()`` (or a non-looping file ends); polls the latest-frame slot a few
        times per frame period."""
        idle = 1.0 / self.cfg.camera.fps / 4
        while not self._stop.is_set():
            if not self.step():
                if getattr(self.source, "finished", False):  # a file or folder played to its end
                    break
                sleep(idle)

    def _maybe_retain(self) -> None:
        """Evidence retention once an hour, from the loop (no thread of its own)."""
        now = self.clock.monotonic()
        if now - self._last_retention > 3600:
            self._last_retention = now
            self.evidence.enforce_retention()

    def _on_bay_event(self, ev: Event) -> None:
        with self._charger_lock:
            self._charger_out += self.chargers.on_event(ev)

    def _charger_flush(self, tick: bool = False, extra: list[Event] | None = None) -> list[Event]:
        """Publish charger warnings outside the bus handler that found them (bay events stay in order)."""
        with self._charger_lock:
            out, self._charger_out = self._charger_out + (extra or []), []
            if tick:
                out += self.chargers.tick()
        for ev in out:
            self.bus.publish(ev)
        return out

    def charger_warnings(self) -> dict[str, list[dict[str, Any]]]:
        """Open charger warnings per bay (live page, heartbeat)."""
        with self._charger_lock:
            return self.chargers.active()

    def _new_health(self) -> HealthTracker:
        c = self.cfg.camera
        return HealthTracker(self.clock, c.lost_after_s, c.frozen_after_s, c.black_level, c.flat_level)

    def _check_camera(self) -> None:
        h = self.health.health()
        if h.ok == self.camera_ok:
            return
        self.camera_ok = h.ok
        now = self.clock.monotonic()
        if not h.ok:
            self._lost_at = now
            ev = Event.make(EventType.CAMERA_LOST, self.clock, data={"reason": h.reason,
                            "last_frame_age_s": h.last_frame_age_s, "reconnects": self.source.reconnects})
        else:
            blind = None if self._lost_at is None else round(now - self._lost_at, 1)
            ev = Event.make(EventType.CAMERA_RESTORED, self.clock, data={"blind_s": blind, "fps": h.fps})
        self.monitor.camera(h.ok, h.reason)
        self.bus.publish(ev)

    def status(self) -> dict[str, Any]:
        """For health reports (MQTT heartbeat, web): camera health and detector load."""
        return {"camera": self.health.health().to_dict(), "frames": self.monitor.frames,
                "camera_moved": self.camera_moved,
                "camera_offset": [round(v, 1) for v in self.monitor.offset], "classified": self.monitor.classified,
                "detector_runs": self.monitor.detector_runs, "inference_ms": self.monitor.inference_ms,
                "bays": {b: s.to_dict() for b, s in self.bus.states().items()},
                "charger_warnings": self.charger_warnings()}

    def health_figures(self) -> HealthFigures:
        """For the MQTT heartbeat (called on the link's thread; reads only)."""
        h = self.health.health()
        return HealthFigures(fps=h.fps, inference_ms=self.monitor.inference_ms, camera_ok=h.ok,
                             extra={"frames": self.monitor.frames, "detector_runs": self.monitor.detector_runs,
                                    "camera_reason": h.reason or None,
                                    "charger_warnings": self.charger_warnings(),
                                    **{name: fn() for name, fn in self.health_extras.items()},
                                    **self.notices.figures(self.source, self.evidence)})

    # ---- AgentControl -------------------------------------------------------------------
    def bay_ids(self) -> list[str]:
        return self.monitor.bay_ids()

    def _bay(self, bay_id: str) -> str:
        if bay_id not in self.monitor.machines:
            raise ControlError("unknown_bay", f"no bay {bay_id!r} (bays: {', '.join(self.bay_ids())})")
        return bay_id

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        return self._locks(bay_id).lock(bay_id, reason, operator)

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        return self._locks(bay_id).unlock(bay_id, reason, operator)

    def reset_lock(self, bay_id: str, operator: str) -> ControlResult:
        return self._locks(bay_id).reset(bay_id, operator)

    def set_maintenance(self, bay_id: str, on: bool, operator: str) -> ControlResult:
        return self._locks(bay_id).set_maintenance(bay_id, on, operator)

    def simulate(self, bay_id: str, action: str, fields: dict[str, Any]) -> ControlResult:
        return self._locks(bay_id).simulate(bay_id, action, fields)

    def _locks(self, bay_id: str) -> LockManager:
        self._bay(bay_id)
        if self.lock_manager is None:
            raise ControlError("no_lock", "this agent has no lock controller attached")
        return self.lock_manager

    def snapshot(self, bay_id: str | None) -> str:
        if bay_id is not None:
            self._bay(bay_id)
        try:
            eid = self.monitor.snapshot(bay_id)
        except EvidenceSkipped as exc:
            raise ControlError("disk_full", str(exc)) from None
        if eid is None:
            raise ControlError("no_frame", "no camera frame yet")
        return eid

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult:
        """Apply at once (open visits are re-decided) and keep them in the config file, so a
        reload or restart does not bring the old lists back. Every entry must be a plate."""
        try:
            for key, plates in (("allow", allow), ("deny", deny)):
                check_plate_list(key, plates or [])
        except ValueError as exc:
            raise ControlError("bad_plate", str(exc)) from None
        self.lists.update(allow=allow, deny=deny)
        saved = self._save_lists()
        events = self.monitor.reverify()
        return ControlResult(True, f"lists updated ({len(self.lists.allow)} allowed, {len(self.lists.deny)} denied)"
                             + ("" if saved else "; not saved to the config file"),
                             {"events": [e.event_id for e in events], "saved": saved})

    def _save_lists(self) -> bool:
        path = self.cfg.source_path
        if path is None:
            return False
        from edge_agent.config.configfile import ConfigFile

        f = ConfigFile(path, self.clock)
        try:
            allow, deny = f.lists()
            if sorted(map(normalise_plate, allow)) == self.lists.allow and \
                    sorted(map(normalise_plate, deny)) == self.lists.deny:
                return True  # already there (the web page writes the file first)
            f.set_lists(self.lists.allow, self.lists.deny)
        except (OSError, ConfigError, yaml.YAMLError) as exc:
            log.warning("lists applied but not saved to %s: %s", path, exc)
            return False
        return True

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        self._bay(bay_id)
        if status not in CHARGER_STATES:
            raise ControlError("bad_status", f"status must be one of {', '.join(CHARGER_STATES)}")
        with self._charger_lock:
            previous = self.chargers.status(bay_id)
            found = self.chargers.on_status(bay_id, status)
        if status != previous:  # a change is worth keeping (statistics: time charging); repeats are not
            self.bus.publish(Event.make(EventType.CHARGER_STATUS, self.clock, bay_id=bay_id,
                                        data={"status": status, "previous": previous}))
        events = self.monitor.charger_status(bay_id, status) + self._charger_flush(extra=found)
        return ControlResult(True, f"{bay_id}: charger {status}", {"events": [e.type for e in events]})

    def reload_config(self) -> ControlResult:
        """Re-read the YAML; lists apply at once, bay / timer / occupancy changes restart monitoring."""
        path = self.cfg.source_path
        if path is None:
            raise ControlError("no_config_file", "the agent was not started from a config file")
        try:
            new = load_config(path)
        except ConfigError as exc:
            return ControlResult(False, "config invalid, kept the running one", {"problems": exc.problems})
        with self._loop_lock:
            return self._apply(new)

    def _apply(self, new: AgentConfig) -> ControlResult:
        changed = [k for k in ("bays", "timers", "occupancy", "camera", "perception")
                   if getattr(new, k) != getattr(self.cfg, k)]
        self.lists.update(allow=new.lists.allow, deny=new.lists.deny)
        old_monitor = self.monitor
        self.cfg = new
        kept: list[str] = self.bay_ids()
        if {"bays", "occupancy"} & set(changed):
            old_monitor.close()
            # the same feed: presence sensors stay plugged in, and the new monitor's bays start unmeasured
            self.monitor = BayMonitor(new, self.bus, self.clock, self.lists, self.evidence, feed=self.feed,
                                      classifier=self.classifier)
            if "bays" in changed:  # redrawn bays: a new reference picture (registration starts over)
                self.alignment = self._new_alignment()
            kept = self.monitor.adopt(old_monitor)  # unchanged bays keep their story
        elif "timers" in changed:
            self.monitor.set_timers(new)
        with self._charger_lock:
            self._charger_out += self.chargers.reconfigure(new.charger_health, _chargers(new))
        self.monitor.reverify()
        if "perception" in changed:
            self.reader = self._reader_factory(new, self.lists)
        return ControlResult(True, "config reloaded" + (f" ({', '.join(changed)} changed)" if changed else ""),
                             {"changed": changed, "config_hash": new.config_hash, "bays_kept": kept,
                              "restart_needed": ["camera"] if "camera" in changed else []})


def _chargers(cfg: AgentConfig) -> dict[str, str]:
    """bay id → charger id, for the bays that have a charger."""
    return {b.id: b.charger_id for b in cfg.bays if b.charger_id}
