"""The running agent: camera → perception → bays → bus (→ sinks: log, MQTT, locks, web).

One object that owns the loop and implements ``AgentControl`` for remote commands. Sinks
are components with ``start()`` / ``stop()`` that subscribe to ``agent.bus``; the agent
starts them after itself and stops them in reverse order. ``runtime/assemble.py`` decides
which components there are and in which order.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from edge_agent.bays.feed import BayFeed
from edge_agent.bays.monitor import BayMonitor, PlateReader
from edge_agent.bays.occupancy import OccupancyClassifier
from edge_agent.camera.decode import frame_bgr
from edge_agent.camera.health import HealthTracker
from edge_agent.camera.orient import Orientation
from edge_agent.camera.source import FrameSource, open_source
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.models import AgentConfig
from edge_agent.config.overrides import OverridesTooLarge
from edge_agent.control import (
    CHARGER_STATES,
    ControlError,
    ControlResult,
    InstallerView,
    LockControl,
    LockNote,
    Warp,
)
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.runs import AGENT_STOPPED
from edge_agent.evidence.store import EvidenceSkipped, EvidenceStore
from edge_agent.evidence.writer import PhotoWriter
from edge_agent.perception.lists import ListsControl, PlateLists
from edge_agent.plates import check_plate_list
from edge_agent.runtime.camera_watch import CameraWatch
from edge_agent.runtime.chargers import ChargerWatch
from edge_agent.runtime.clock_watch import ClockWatch
from edge_agent.runtime.models import classifier_fingerprint, default_classifier, default_reader
from edge_agent.runtime.notices import DeviceNotices
from edge_agent.runtime.outlines import OutlineStore, grounds_to_watch, was_named
from edge_agent.runtime.reload import ConfigReload
from edge_agent.sqlite_damage import expire_aside, is_unavailable

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 3600.0  # evidence retention: hourly…
RETENTION_CATCHUP_S = 2.0  # …and 2 s after a pass that stopped at its batch limit (a backlog of 10,000: ~7 min)


class Component(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


C = TypeVar("C", bound=Component)


class Agent(ListsControl):
    """The frame loop, the container of its components, and ``AgentControl`` for remote commands.

    Helpers beside it do the rest: ``CameraWatch`` (camera health and shift events),
    ``ChargerWatch`` (charger warnings), ``ClockWatch`` (wall-clock steps), ``ConfigReload``
    (reload and list write-back).
    """

    def __init__(self, cfg: AgentConfig, clock: Clock | None = None, bus: EventBus | None = None,
                 source: FrameSource | None = None, reader: PlateReader | None = None,
                 lists: PlateLists | None = None, evidence: EvidenceStore | None = None,
                 reader_factory: Callable[[AgentConfig, PlateLists], PlateReader] = default_reader,
                 classifier: OccupancyClassifier | None = None,
                 classifier_factory: Callable[[AgentConfig], OccupancyClassifier] = default_classifier,
                 photo_thread: bool = False) -> None:
        """``photo_thread`` (``run``): evidence photos are written on a thread of their own, off the frame loop
        (``evidence/writer.py``); without it (tests, ``replay``) on the loop, written when the event is."""
        self.cfg = cfg
        self.clock = clock or SystemClock(ZoneInfo(cfg.site.timezone))
        self.bus = bus or EventBus()
        self.lists = lists or PlateLists(cfg.lists.allow, cfg.lists.deny)
        self.data_dir = Path(cfg.data_dir)
        self._own_evidence = evidence is None  # one handed in is closed by whoever opened it
        self._stopping = False  # ``stop`` under way: its components may still write the evidence index
        self.evidence = evidence or EvidenceStore(self.data_dir / "evidence", self.clock,
                                                  cfg.evidence.max_age_days, int(cfg.evidence.max_mb * 1024 * 1024),
                                                  int(cfg.evidence.min_free_mb * 1e6))
        self.photo_writer = PhotoWriter(self.evidence) if photo_thread else None
        self.source = source or open_source(cfg.camera, self.clock, self.data_dir / "camera" / "shown.bin")
        # Fixed for the agent's life like the source: a reload that turns the view is refused (reload.py).
        self.view = Orientation.of(cfg.camera)
        # the shipped reader retries partial reads on the agent's clock (``perception.retry_gate``)
        self.reader_factory = partial(default_reader, clock=self.clock) if reader_factory is default_reader \
            else reader_factory
        self.reader = reader or reader_factory(cfg, self.lists)
        self.classifier = classifier or classifier_factory(cfg)
        # a reload that names another model or calibration, or finds its file rewritten, builds the classifier
        # anew with the factory (``ConfigReload``); one handed in (a test's) is kept for the agent's life
        self.classifier_factory = classifier_factory if classifier is None else None
        self.classifier_made_of = classifier_fingerprint(cfg) if classifier is None else None
        self.feed = BayFeed()  # outlives every monitor: lock presence sensors in, camera evidence out
        self.monitor = BayMonitor(cfg, self.bus, self.clock, self.lists, self.evidence, feed=self.feed,
                                  classifier=self.classifier)
        self.camera = CameraWatch(cfg, self.bus, self.clock, self.source, hide=self._plates_in)
        self.chargers = ChargerWatch(cfg, self.bus, self.clock)
        self.reloader = ConfigReload(self)
        self.notices = DeviceNotices(self.bus, self.clock)
        self.clock_watch = ClockWatch(self.bus, self.clock)
        self.lock_manager: LockControl | None = None
        self.components: list[Component] = []
        self.health_extras: dict[str, Callable[[], Any]] = {}  # sinks' own figures for the heartbeat (notify)
        self.inference_observers: list[Callable[[float], None]] = []  # seconds of each plate-reader run (metrics)
        # after each applied reload: (the config that runs now, sections waiting for a restart) — the MQTT status
        self.on_reload: list[Callable[[AgentConfig, list[str]], None]] = []
        self.loop_lock = threading.RLock()  # a reload never swaps the monitor in the middle of a frame
        self._stop = threading.Event()
        self._started = False
        self._next_retention = float("-inf")
        # after every sink listens (the run ledger's closing events); a hook may return bays the last run left a visit
        # open in that it did not end now (the ledger's start put off by a lock): counted as left holding a car
        self.on_started: list[Callable[[], Iterable[str] | None]] = []
        # the outlines the last run judged the bays on and the old grounds its locks waited for (``outlines``)
        self.outlines = OutlineStore(self.data_dir)
        self._kept_outlines = self.outlines.load()
        self.on_reload.append(lambda _cfg, _pending: self.keep_outlines())
        self.every_minute: list[Callable[[], None]] = []  # from the loop (the run ledger's "alive" mark)
        self._last_minute = float("-inf")
        self.every_minute.append(self.keep_outlines)
        # photo rows another program's lock kept out of the index, written once it is free (``held_rows.py``)
        self.every_minute.append(self.evidence.write_held)
        self.every_hour: list[Callable[[], None]] = []  # from the loop, first turn then hourly (dead letters' age)
        self._last_hour = float("-inf")

    # ---- composition --------------------------------------------------------------------
    def add_component(self, component: C) -> C:
        """Attach a sink (MQTT, locks, web…). Started with the agent, stopped before it."""
        self.components.append(component)
        if self._started:
            component.start()
        return component

    def attach_lock_manager(self, manager: LockControl) -> None:
        """Route ``lock`` / ``unlock`` commands to the lock stage (it adds itself as a component too)."""
        self.lock_manager = manager

    def set_presence_sensor(self, bay_id: str, sensor: Callable[[], bool | None] | None) -> None:
        """The lock stage's presence input for ``bay_id`` (in the feed: kept across config reloads)."""
        self._bay(bay_id)
        self.feed.set_sensor(bay_id, sensor)

    def start(self) -> None:
        """Start the source, then the sinks, and say what the last run left. Its time is the agent's own work, not
        the camera's silence (``HealthTracker.turn``): on a slow SD card the closing events' synced rows took
        lost_after_s and a healthy camera's first frame was published as ``camera_lost`` / ``camera_restored``."""
        self.source.start()
        self.health.begin()
        with self.health.turn():
            self._start()

    def _start(self) -> None:
        self._started = True
        for c in self.components:
            c.start()
        self.notices.started(self.evidence)  # once the sinks listen
        left_open: set[str] = set()
        visits: dict[str, str] = {}  # bay → the visit the last run left open there

        def ended(ev: Event) -> None:
            if ev.bay_id and ev.data.get("reason") == AGENT_STOPPED:
                left_open.add(ev.bay_id)
                if ev.visit_id:
                    visits[ev.bay_id] = ev.visit_id

        unsubscribe = self.bus.subscribe(ended, {EventType.VEHICLE_DEPARTED})
        try:
            for hook in self.on_started:
                left_open.update(hook() or ())
        finally:
            unsubscribe()
        self._watch_left_grounds(left_open, visits)
        self.monitor.publish_states()  # after the last run's closing events: each bay's retained state is this run's

    def _watch_left_grounds(self, left_open: set[str], visits: Mapping[str, str] | None = None) -> None:
        """At the start: bays whose lock must wait for a ground the last run left a car on (``outlines``), then
        this run's outlines kept."""
        now, kept, locks = {b.id: b.polygon for b in self.cfg.bays}, self._kept_outlines, self.cfg.lock_bays()
        named = was_named(kept, now, locks).items()
        # a sensor's record stands for the visit it was made in: a visit left open since (the record not yet
        # written again: a power cut within the minute) is another car's, which that sensor may never have seen
        visits = visits or {}
        # and only for the sensor that made it (``presence_identity``), and only where its "clear" is never a dead
        # sensor's (``presence_clear_is_shown``): one that saw the car, then died reading clear (a cut wire, a
        # dead module) ended the wait under a drop too small to tell (probe locks43). Such a sensor is a witness
        # only once it has reported the car in this run (``Unplaced.cleared``)
        ids, shown = self._sensors()
        sensed = {b for b, names in named if b in shown and any(
            n in kept.sensed and kept.sensors.get(n) == ids[b]
            and (n not in left_open or kept.sensed[n] != "" and kept.sensed[n] == visits.get(n))
            for n in names)}
        for bay, grounds in grounds_to_watch(kept, now, left_open, locks).items():
            for ground in grounds:
                self.monitor.watch_old_ground(bay, ground, sensed=bay in sensed)
        self.monitor.unplace([b for b, names in named  # a Save's wait; one the last run's car made resumes as such
                              if any(n in kept.unplaced and n not in kept.left_waiting for n in names)], keep_grounds=True)
        self.monitor.left_by_last_run([b for b, names in named if any(
            n in left_open or n in kept.unverified or n in kept.left_waiting for n in names)],
            {b: [kept.bays[n] for n in names if n in kept.bays] for b, names in named},
            {b: v for b, names in named for n in names if (v := visits.get(n))}, sensed)
        self.keep_outlines()

    def keep_outlines(self) -> None:
        """Write the bays' outlines and the old grounds their locks wait for (at the start, after a reload, and
        once a minute and at the stop for a ground let go), so the next start knows them (``outlines``)."""
        self.outlines.save({b.id: b.polygon for b in self.cfg.bays}, self.monitor.watched_grounds(),
                           self.monitor.unplaced(), self.cfg.lock_bays(), self.monitor.unverified(),
                           self.monitor.left_waiting(), self.monitor.sensed(), self._sensors()[0])

    def _sensors(self) -> tuple[dict[str, str], set[str]]:
        """Bay → the identity of its lock's presence sensor (``LockConfig.presence_identity``; none fitted: not
        listed), and the bays whose sensor's "clear" is never a dead sensor's (``presence_clear_is_shown``)."""
        bay_of, ids, shown = self.cfg.lock_bays(), {}, set()
        for lk in self.cfg.locks:
            if (ident := lk.presence_identity()) is not None:
                ids[bay_of[lk.id]] = ident
                if lk.presence_clear_is_shown():
                    shown.add(bay_of[lk.id])
        return ids, shown

    def stop(self, keep: Component | None = None) -> None:
        """Stop the loop, the components newest first (but ``keep``: its owner stops it), the camera."""
        self._stop.set()
        if not self._started:
            return
        self._started, self._stopping = False, True
        try:
            self.keep_outlines()  # a ground let go since the last minute's write is not waited for at the next start
            for c in reversed(self.components):
                if c is keep:
                    continue
                try:
                    c.stop()
                except Exception:  # one sink failing to stop must not keep the others running
                    log.exception("stopping %r failed", c)
            self.source.stop()
        finally:
            self._stopping = False

    def drain_photos(self, timeout: float | None = None) -> bool:
        """After the loop stopped: the photos queued to the writer written, up to ``timeout`` (``run``'s stop
        plan, before "close databases"). True when none is left."""
        return self.photo_writer is None or self.photo_writer.drain(timeout)

    def close(self) -> None:
        """After ``stop`` and the MQTT link's stop (a command it took may still save a snapshot): the evidence
        index this agent opened is closed, so SQLite folds its WAL in and removes it. Before, the connection was
        never closed and every clean stop left ``evidence.db-wal`` (megabytes) beside the index. A close that
        fails is logged: the WAL is still read back by the next start. One whose ``stop`` is still under way (its
        step in ``run``'s stop plan timed out: a lock's motor, a notifier's last send, the page answering a request)
        is left open: closed under it, a snapshot or evidence row that stop still wrote was lost, with a traceback.
        So is one whose photo writer still writes (``drain_photos`` ran out of its time in the stop plan)."""
        if not self._own_evidence:
            return
        if self._stopping:
            log.warning("the evidence index %s is left open: the components' stop is still under way (the next "
                        "start reads its WAL back)", self.evidence.db_path)
            return
        if self.photo_writer is not None and not self.photo_writer.close(timeout=0):
            log.warning("the evidence index %s is left open: %d photo(s) are still being written (a process ended "
                        "now loses them; the index stays whole)", self.evidence.db_path, self.photo_writer.pending)
            return
        try:
            self.evidence.close()
        except Exception:
            log.exception("closing the evidence index %s failed", self.evidence.db_path)

    # ---- the loop -----------------------------------------------------------------------
    def step(self) -> bool:
        """One loop turn: judge the newest frame if there is one, else let timers run.
        Returns whether a frame was processed. The turn's time, its wait for the loop lock included, is the loop's
        own work, never the camera's silence (``HealthTracker.turn``: synced writes on a slow SD card)."""
        with self.health.turn(), self.loop_lock:
            asked = self.clock.monotonic()
            frame = self.source.latest()
            self.health.waited(asked)  # a replay's clip moves the clock to its frame's time: the camera's time
            got = frame is not None
            if frame is not None:
                image = self.view.apply(frame_bgr(frame.image))  # BGR and upright once, here: one view after
                image, h = self.camera.accept(image, self.monitor, frame.t)  # at the bays' size; aged from capture
                if h is not None:
                    runs = self.monitor.detector_runs
                    self.monitor.on_frame(image, self.reader, usable=h.ok, why=h.reason,
                                          shown_since=shown_since(self.health.picture_since, frame.shown))
                    if self.monitor.detector_runs != runs and self.monitor.last_inference_s is not None:
                        for observe in self.inference_observers:
                            observe(self.monitor.last_inference_s)
            self.camera.check(self.monitor)
            self.notices.check(self.source, self.evidence)
            self.clock_watch.check()
            self._maybe_retain()
            self._maybe_minute()
            self._maybe_hour()
            self.chargers.flush(tick=True)
            if not got:
                if self.camera.ok:
                    self.monitor.tick()
                else:  # blind: timers run, and a presence sensor (if any) still speaks
                    self.monitor.on_blind(self.health.health().reason)
            return got

    def run_forever(self, sleep: Callable[[float], object] = time.sleep, *, until: threading.Event | None = None,
                    on_turn: Callable[[bool], None] | None = None) -> None:
        """The one frame loop (``run``, ``replay``): until ``stop()`` or ``until`` is set, or a
        non-looping file ends. Polls the latest-frame slot a few times per frame period; ``sleep``
        is how it idles (``run`` waits on its stop event, ``replay`` never waits), ``on_turn(got)``
        the caller's hook after every turn (``run``: the watchdog's pings)."""
        idle = 1.0 / self.cfg.camera.fps / 4
        stopped = (lambda: self._stop.is_set()) if until is None else \
            (lambda: self._stop.is_set() or until.is_set())
        while not stopped():
            got = self.step()
            if on_turn is not None:
                on_turn(got)
            if not got:
                if getattr(self.source, "finished", False):  # a file or folder played to its end
                    break
                sleep(idle)

    def _maybe_retain(self) -> None:
        """Evidence retention once an hour, from the loop (no thread of its own). Housekeeping: a
        failure (a locked or unwritable index) is logged and retried next hour, never ends the loop
        — it runs on the first turn, so a crash here would repeat at every restart. Each pass deletes
        a bounded batch (``EvidenceStore.enforce_retention``); while it is ``behind`` the next batch
        follows 2 s later, so a backlog never holds the loop for long."""
        now = self.clock.monotonic()
        if now < self._next_retention:
            return
        self._next_retention = now + RETENTION_EVERY_S
        try:
            self.evidence.enforce_retention()
            if getattr(self.evidence, "behind", False):
                self._next_retention = now + RETENTION_CATCHUP_S
            else:
                self.evidence.sweep_orphans()
            # the store's bounded time, as its photos: an unsynced clock ahead deletes no copy early
            expire_aside(self._damaged_folders(), self.cfg.evidence.max_age_days * 86400, self.evidence.age_now())
        except sqlite3.OperationalError as exc:
            if not is_unavailable(exc):
                log.exception("evidence retention failed; retrying in an hour")
            else:  # a backup or a shell holding the index: nobody need act, nothing is lost (probe chaos37)
                log.warning("evidence retention put off an hour: the index is locked or read-only (%s)", exc)
        except Exception:  # noqa: BLE001 - see above
            log.exception("evidence retention failed; retrying in an hour")

    def _plates_in(self, frame: Any) -> list[tuple[float, float, float, float]]:
        """Where the plate reader finds plates in a frame that becomes the camera reference (blurred there); the
        reader of the moment (a reload may build another)."""
        return [r.box for r in self.reader.process(frame)]

    def _damaged_folders(self) -> list[Path]:
        """Where damaged copies of the files that name plates are set aside (``sqlite_damage.expire_aside``)."""
        box = self.cfg.mqtt.outbox.path
        folders = [self.data_dir, self.data_dir / "evidence", self.data_dir / "notify-dead"]
        return folders + ([Path(box).parent] if box and Path(box).parent not in folders else [])

    def _maybe_minute(self) -> None:
        """``every_minute`` hooks (monotonic)."""
        self._last_minute = self._run_hooks(self.every_minute, self._last_minute, 60, "a minute")

    def _maybe_hour(self) -> None:
        """``every_hour`` hooks (monotonic), beside the evidence retention."""
        self._last_hour = self._run_hooks(self.every_hour, self._last_hour, RETENTION_EVERY_S, "an hour")

    def _run_hooks(self, hooks: list[Callable[[], None]], last: float, period: float, again: str) -> float:
        """Run ``hooks`` when ``period`` seconds passed since ``last``; returns when they last ran. Housekeeping as
        retention is: a failure is logged and the loop goes on."""
        now = self.clock.monotonic()
        if now - last < period:
            return last
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - see _maybe_retain
                log.exception("%r failed; retrying in %s", hook, again)
        return now

    # ---- readings -----------------------------------------------------------------------
    @property
    def health(self) -> HealthTracker:
        return self.camera.health

    @property
    def camera_moved(self) -> bool:
        """Reported ``camera_moved`` and not yet aligned or confirmed (the live page's banner)."""
        return self.camera.moved

    def charger_warnings(self) -> dict[str, list[dict[str, Any]]]:
        """Open charger warnings per bay (live page, heartbeat)."""
        return self.chargers.warnings()

    def bays_unseen(self) -> dict[str, str]:
        """Bays the camera's view vouches for no empty bay on, with the lock refusal's code (live page,
        heartbeat): ``BayMonitor.unseen``."""
        return self.monitor.unseen()

    def lock_notes(self) -> dict[str, LockNote]:
        """Per bay with a lock, its fault, hold, maintenance and owed lowering in words for the live page (``LockNote``;
        none without a lock stage)."""
        return self.lock_manager.lock_notes() if self.lock_manager is not None else {}

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
                                    # a camera that reconnects or drops frames between heartbeats reads healthy in
                                    # each one: its counts say it (only when non-zero, as images_<kind>)
                                    **({"camera_reconnects": h.reconnects} if h.reconnects else {}),
                                    **({"camera_corrupt_frames": h.corrupt_frames} if h.corrupt_frames else {}),
                                    "charger_warnings": self.charger_warnings(),
                                    "bays_unseen": self.bays_unseen(),
                                    # the site calibration configured but not in use, and why (only then)
                                    **({"calibration_set_aside": aside}
                                       if (aside := getattr(self.classifier, "set_aside", None)) else {}),
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

    def _locks(self, bay_id: str) -> LockControl:
        self._bay(bay_id)
        if self.lock_manager is None:
            raise ControlError("no_lock", "this agent has no lock controller attached")
        return self.lock_manager

    def snapshot(self, bay_id: str | None) -> str:
        with self.loop_lock:  # the bay checked is the bay photographed (see charger_status)
            take = self._prepare_snapshot(bay_id)
        return self._store_snapshot(take)  # drawn, encoded and written with the loop free to go on

    def _prepare_snapshot(self, bay_id: str | None, caption: bool = True) -> Callable[[], str]:
        if bay_id is not None:
            self._bay(bay_id)
        take = self.monitor.prepare_snapshot(bay_id, caption)
        if take is None:
            raise ControlError("no_frame", "no camera frame yet")
        return take

    @staticmethod
    def _store_snapshot(take: Callable[[], str]) -> str:
        try:
            return take()
        except EvidenceSkipped as exc:
            raise ControlError("disk_full", str(exc)) from None

    def installer_view(self) -> InstallerView:
        """The installer's picture and the bays as placed on it, under one hold of the loop (no frame in between
        moves them); the picture is stored after the loop is let go. The picture is the frame as the classifier
        sees it (no caption), and says when the camera was not delivering usable frames (its last frame then)."""
        with self.loop_lock:
            take = self._prepare_snapshot(None, caption=False)
            placed, placement, warp, reference = (self.monitor.placed(), self.camera.placement, self.monitor.warp,
                                                  self.camera.reference)
            problem = self.health.health().reason
        return InstallerView(self._store_snapshot(take), placed, placement, warp, reference, problem)

    def placement(self) -> tuple[Warp, str, int]:
        """How the bays are carried onto the current view, whether that can be trusted, and on which reference
        (``installer_view``)."""
        with self.loop_lock:
            return self.monitor.warp, self.camera.placement, self.camera.reference

    def bays_size(self) -> tuple[int, int] | None:
        """The frame size the bays (and ``camera.masks``) are drawn on when the config names none (learned from the
        frames), else None: what the installer's Save scales the masks from (``configfile.scaled_masks``)."""
        with self.loop_lock:
            fs = self.camera.frame_size
            return fs.expected if fs.learned else None

    def confirm_camera(self) -> ControlResult:
        """The installer confirmed that the bays fit the current view: it becomes the reference. The grounds of the
        cars parked meanwhile (``BayMonitor.confirming``) are kept on disk at once, as at a reload: written only
        once a minute, a process killed within it forgot them and the next start raised an arm under such a car."""
        with self.loop_lock:
            result = self.camera.confirm(self.monitor)
            self.keep_outlines()
            return result

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult:
        """Apply at once (open visits are re-decided) and keep them in the config file, so a
        reload or restart does not bring the old lists back. Every entry must be a plate."""
        try:
            for key, plates in (("allow", allow), ("deny", deny)):
                check_plate_list(key, plates or [])
        except ValueError as exc:
            raise ControlError("bad_plate", str(exc)) from None
        with self.reloader.between_reloads():  # a reload under way would apply the lists it read over these
            before = (self.lists.allow, self.lists.deny)
            self.lists.update(allow=allow, deny=deny)
            try:
                saved = self.reloader.save_lists()
            except OverridesTooLarge as exc:  # the next start would refuse the file: nothing changes
                self.lists.update(allow=before[0], deny=before[1])
                raise ControlError("lists_too_large", "; ".join(exc.problems)) from None
        with self.loop_lock:  # the monitor re-decided is the one running: a reload may swap it meanwhile
            events = self.monitor.reverify()
        return ControlResult(True, f"lists updated ({len(self.lists.allow)} allowed, {len(self.lists.deny)} denied)"
                             + ("" if saved else "; not saved to the config file"),
                             {"events": [e.event_id for e in events], "saved": saved})

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        # under the loop lock, as a reload's swap of the bays is: the bay checked is the bay changed (a reload
        # removing it in between made this a KeyError, answered internal_error)
        with self.loop_lock:
            self._bay(bay_id)
            if status not in CHARGER_STATES:
                raise ControlError("bad_status", f"status must be one of {', '.join(CHARGER_STATES)}")
            found = self.chargers.on_status(bay_id, status, self.monitor.open_visit(bay_id))
            events = self.monitor.charger_status(bay_id, status) + self.chargers.flush(extra=found)
        return ControlResult(True, f"{bay_id}: charger {status}", {"events": [e.type for e in events]})

    def reload_config(self, installer: bool = False) -> ControlResult:
        """Re-read the YAML; lists apply at once, bay / timer / occupancy changes restart monitoring.
        ``installer``: the installer page's Save (bays drawn over the current picture)."""
        return self.reloader.reload(installer)


def shown_since(picture_since: float | None, resent: float | None) -> float | None:
    """When the picture a frame shows first arrived: the health's (a repeated or hung picture), or the source's first
    decoding of that very picture when it was sent again later (``camera.source.Shown``: a buffer resent after a
    reconnect), whichever is older."""
    if resent is None:
        return picture_since
    return resent if picture_since is None else min(picture_since, resent)
