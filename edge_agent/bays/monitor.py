"""The bays stage: frame in → bays classified → plate reads assigned → presence fused → state
machines → events (with evidence) and bay states on the bus.

Everything with a side effect (bus, evidence files) is here; the decisions are in
``machine.py`` (pure) and ``occupancy.py`` / ``geometry.py`` / ``consensus.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Protocol

import numpy as np

from edge_agent.bays.blank import too_small
from edge_agent.bays.blur import BLURRED, BlurWatch
from edge_agent.bays.consensus import Consensus
from edge_agent.bays.crop import CROP_SIZE, bay_crop
from edge_agent.bays.cut import CUT, CUT_SETTLE_S, CUT_STILL_S, CutWatch, leaps
from edge_agent.bays.empty_picture import EMPTY, EmptyPictures
from edge_agent.bays.feed import BayFeed
from edge_agent.bays.geometry import BayShape, assign_bay, merge_boxes
from edge_agent.bays.lens import LensWatch
from edge_agent.bays.machine import FREE, BayMachine
from edge_agent.bays.occupancy import (
    FIRM_CHANGE,
    MOTION_GAIN,
    ChangeGate,
    Hysteresis,
    OccupancyClassifier,
    PresenceFusion,
)
from edge_agent.bays.occupancy import Verdict as CameraVerdict
from edge_agent.bays.old_ground import REDRAWN, SEEN_PARKED_S, OldGround, Unplaced, ground_picture, held
from edge_agent.bays.vision import BayPictures, blind_vision, classifier_vision, vouching
from edge_agent.bays.visit_verdict import decide_visit
from edge_agent.camera.masks import MaskFill, covered_shares, under_masks
from edge_agent.camera.overlay import OVERLAY, Overlay, TickWatch, fill
from edge_agent.clock import Clock, iso
from edge_agent.config.models import AgentConfig
from edge_agent.control import IDENTITY, ControlError, Warp
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, Event, EventType
from edge_agent.evidence.annotate import annotate, around_bay, encode_jpeg
from edge_agent.evidence.caption import event_lines, language, snapshot_lines
from edge_agent.evidence.store import EvidenceSkipped, EvidenceStore
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.types import PlateRead, Region
from edge_agent.perception.verdict import Verdict

log = logging.getLogger(__name__)

EVIDENCE_EVENTS = (EventType.VEHICLE_IDENTIFIED, EventType.VIOLATION_STARTED)
BAY_REMOVED = "bay_removed"  # the reason that ends the visit of a bay a reload took out of the config
Boxes = tuple[tuple[int, int, int, int], ...]  # boxes in frame pixels (x0, y0, x1, y1), x1 and y1 exclusive
VOUCH_READ_EVERY_S = 1.0  # detector rate for a visit only the plates see (the classifier says empty)
VOUCH_HOLD_S = 3.0  # one read vouches for presence this long there (survives two missed reads)
READ_PAD = 0.5  # a bay's read region reaches this share of the bay's size beyond it: its plate and context
READ_REGION_MAX = 0.5  # bays wanting reads over more of the frame than this: read the whole frame


class PlateReader(Protocol):
    """All the bays stage needs from perception. A reader whose ``reads_regions`` is true is asked for
    the bays that want a read only (``region``); others always read the whole frame."""

    def process(self, frame_bgr: np.ndarray, region: Region | None = None) -> list[PlateRead]: ...


def _ground_key(bay: str, ground: OldGround) -> str:
    """An old ground's key beside the bay ids for the lens check: no id holds a NUL, and the outline as drawn names
    the ground whatever the view's warp and whichever grounds were let go before it."""
    return f"{bay}\0{ground.polygon}"


def _same_outline(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> bool:
    """The same outline to within 0.5 px a corner (an outline rescaled between sizes and back rounds)."""
    return len(a) == len(b) and all(abs(float(x) - float(u)) <= 0.5 and abs(float(y) - float(v)) <= 0.5
                                    for (x, y), (u, v) in zip(a, b))


class BayMonitor:
    def __init__(self, cfg: AgentConfig, bus: EventBus, clock: Clock, lists: PlateLists,
                 evidence: EvidenceStore | None = None, *, feed: BayFeed,
                 classifier: OccupancyClassifier | None = None, replaces: BayMonitor | None = None) -> None:
        """``feed``: presence sensors in, camera evidence out; the agent passes the one it keeps
        across reloads (see ``bays.feed``). Required: a monitor with a feed of its own would lose
        the lock stage's sensors and hide its evidence from the locks. ``classifier``: the per-bay
        occupancy model (None: the camera never says anything about a bay). ``replaces``: the monitor a
        reload replaces; each bay that keeps its id keeps its story from it (``adopt``, the bays in ``kept``).

        Each bay's state is published once, when the monitor is built: a kept bay's own, a new bay's ``free``.
        Why not publish ``free`` for every bay and then the adopted story: a bay in violation went violation →
        free → violation at every reload that redrew the bays (MQTT's retained state, the locks, Home Assistant),
        and a backend keeping the newest ``since`` kept the ``free`` (stamped at the reload) for good."""
        self.cfg = cfg
        self.bus = bus
        self.clock = clock
        self.lists = lists
        self.evidence = evidence
        self.feed = feed
        self.classifier = classifier
        self.drawn = [BayShape(b.id, b.polygon) for b in cfg.bays]
        self.shapes = list(self.drawn)  # the drawn polygons moved by the measured camera shift
        self.offset = (0.0, 0.0)  # the bays' mean shift under ``warp``
        self.warp: Warp = IDENTITY  # drawn px → the frame's px (``set_warp``)
        self.gate = ChangeGate(cfg.occupancy)
        self.gate.set_shapes(self.shapes)
        self._empty = EmptyPictures(self.gate)  # each bay's picture when last confidently empty (bay_changed)
        self.fusion = {b.id: PresenceFusion(cfg.occupancy, partial(self.feed.read_sensor, b.id)) for b in cfg.bays}
        self.machines = {
            b.id: BayMachine(b.id, cfg.timers, self._verdict, clock, cfg.occupancy.identify_reads,
                             self.feed.lock_state(b.id))  # a redrawn bay's lock has not moved
            for b in cfg.bays
        }
        # per bay: the visit's most confident read and, until the visit is identified, its frame (for that
        # event's evidence photo; then only the read's crop is needed: a frame per parked car was ~25 MB at 4K)
        self._best: dict[str, tuple[float, np.ndarray | None, PlateRead]] = {}
        self._seen_empty: set[str] = set()  # bays the classifier has called empty since the start
        self._unmeasured: set[str] = set()  # bays published "unknown" at start, until a measurement says more
        self._camera_saw: dict[str, str] = {}  # bay → the visit the classifier has called occupied
        self._read_since: dict[str, float] = {}  # per bay: when its fast plate reading (re)started
        self._read_visit: dict[str, str | None] = {}  # per bay: the visit that (re)start was for (None: none open)
        self._last_read: dict[str, float] = {}  # per bay: when a detector run last covered it
        self._moved_at: dict[str, float] = {}  # per bay: when its change gate last opened (see Hysteresis)
        self._firm_moved_at: dict[str, float] = {}  # per bay: when FIRM_CHANGE of it last changed (see Hysteresis)
        self._left_seen: set[str] = set()  # bays seen changed for good from a kept picture (``_left_changed``)
        self._left_since: dict[str, float] = {}  # per bay in doubt: since when, at rest, it differs from its rest picture
        self._gone_from: set[str] = set()  # bays whose doubt that change ended: their rest picture is the car's
        self._stir: dict[str, list[tuple[float, float]]] = {}  # per bay: (time, change) of the last CUT_STILL_S (bays.cut)
        self._followed: set[str] = set()  # bays whose outline moved since their last classification (set_warp)
        self._redrawn: set[str] = set()  # bays whose outline was set anew: their next frame starts the gate's reference
        self._old_ground: dict[str, list[OldGround]] = {}  # bay redrawn off parked cars → the ground they stood on
        self._unplaced: dict[str, Unplaced] = {}  # bay saved over an unplaced view with a car: no car seen on it since
        # bays the last run left a car in (a visit open at its stop, or itself still unsure of them), not yet judged
        # on a view this run vouches for (``left_by_last_run``)
        self._unverified: set[str] = set()
        # bay → the visit whose car its presence sensor reported in this run: the next start's record of which waits
        # that sensor may end (``sensed``, ``Unplaced.cleared``)
        self._sensed: dict[str, str] = {}
        self._in_beam: dict[str, float] = {}  # bay → the first of its sensor's unbroken run of "vehicle" readings
        self._sought_empty: dict[str, float] = {}  # this frame's ``_classify`` readings of them for an "empty"
        self._unseen: dict[str, str] = {}  # bay → bay_flat | bay_clipped | bay_overlay: its last crop showed nothing
        #                                    or a block the camera paints (bays.blank);
        #                                    bay_blurred: its fine detail washed out (bays.blur)
        #                                    (and ``_under_overlay``: bay_overlay, an on-screen clock over it)
        self._blur = BlurWatch()
        self._lens = LensWatch()  # …or most of it softer than the rest of the frame: a lens wet from the start (bays.lens)
        # an on-screen clock ticking over bays (camera.overlay): those bays' views read text, not the ground
        self._osd = TickWatch()
        # the bays under the boxes last found, on the outlines they were found for (a camera shift moves the outlines
        # under a clock burnt into the frame, which stays put)
        # and those of the boxes that lie over a bay (their pixels are filled in for the bays' eyes: ``_masked``)
        self._osd_bays: tuple[Boxes, list[BayShape] | None, dict[str, str], Boxes] = ((), None, {}, ())
        # the installer's masks (camera.masks), as drawn; the bays under them, for the outlines they were found for;
        # their fill, for the warp and frame size it was worked out for
        self._masks: list[list[tuple[float, float]]] = [list(m) for m in cfg.camera.masks]
        self._mask_bays: tuple[list[BayShape] | None, dict[str, str]] = (None, {})
        self._mask_fill: tuple[tuple[Warp, tuple[int, ...]], MaskFill] | None = None
        self._cut = CutWatch()  # when the picture last jumped to another moment (bays.cut): the evidence starts over
        self._polygons = {b.id: b.polygon for b in cfg.bays}  # as drawn: a camera shift moves, not resizes, them
        self._scale = 1.0  # the camera's pixels per bay-drawing pixel (set_source_scale)
        self._small = too_small(self._polygons, self._scale)  # bay → bay_too_small
        self._read_text: set[str] = set()  # bays whose last detector run read a plate's text there
        self._last_frame: np.ndarray | None = None
        self._pictures = BayPictures()  # when each bay's picture arrived (a hung picture under a ticking clock)
        self._grey: np.ndarray | None = None  # the change gate's working copy of the current frame
        self._last_probe = float("-inf")  # the last whole-frame run
        self._lock = threading.RLock()
        self.camera_ok = True  # frames arrive and are usable (camera health)
        self.aligned = True  # the camera looks where the bays were drawn (registration)
        self.matched = True  # the last view registration measured matched the reference (``set_matched``)
        self.held = False  # unmatched as another scene came (``Alignment.held``): the bays hold their story
        self._vouched = True  # aligned and matched: the camera vouches for the outlines (``_vouching_changed``)
        self._revouch = False  # it vouches again since the last frame classified
        self.frames = 0
        self.detector_runs = 0
        self.region_runs = 0  # frames read on the bays that wanted a read (one run per merged region), not whole
        self.classified = 0  # bay crops classified
        self.inference_ms: float | None = None  # moving average of one detector + recogniser run
        self.last_inference_s: float | None = None  # the latest such run (the metrics' histogram)
        self.changes: dict[str, float] = {b.id: 0.0 for b in cfg.bays}  # change-gate share per bay
        self._unsubscribe = bus.subscribe(self._on_lock_moved, {EventType.LOCK_MOVED})
        self.feed.reset_vision(self.machines)  # nothing measured yet: no lock trusts a previous monitor
        self.kept: list[str] = self.adopt(replaces) if replaces is not None else []  # publishes their states
        for b, m in self.machines.items():
            if b not in self.kept:
                # nothing has measured it yet (a bay a reload added, or any bay of the first monitor): the bus
                # keeps each bay's last state and hands it to every sink that subscribes later, so a ``free``
                # told here reached MQTT before publish_states' ``unknown`` (free, unknown, free at every start)
                self._unmeasured.add(b)
                bus.publish_state(self._told(m))

    def publish_states(self) -> None:
        """Every bay's state on the bus again: at the agent's start, once MQTT and the other sinks listen (the
        first monitor is made before them; a bay nothing happens to had no retained state, and one the last run
        left in ``violation`` kept it until the bay next changed). A bay without a visit reads ``unknown`` until
        the first measurement: nothing has yet said it is empty (it is ``free`` once one does)."""
        with self._lock:
            for b, m in self.machines.items():
                if m.visit is None:
                    self._unmeasured.add(b)
                self.bus.publish_state(self._told(m))

    def _told(self, m: BayMachine) -> BayState:
        """``m.state()`` as published: ``unknown`` rather than ``free`` for a bay not measured since the start."""
        st = m.state()
        if st.state == FREE and m.visit is None and m.bay_id in self._unmeasured:
            return dataclasses.replace(st, state="unknown")
        return st

    def close(self) -> None:
        """Stop listening to the bus (a reload replaces this monitor)."""
        self._unsubscribe()

    def set_timers(self, cfg: AgentConfig) -> None:
        """A reload that changed only timers: running visits keep their story under the new times."""
        with self._lock:
            self.cfg = cfg
            for m in self.machines.values():
                m.timers = cfg.timers

    def adopt(self, old: BayMonitor) -> list[str]:
        """(Called by ``__init__`` with ``replaces``.) A reload that changed bays or occupancy: each bay that keeps its id keeps its story (visit,
        plate consensus, violation) from ``old``, also when its outline was redrawn, and its classifier's verdict
        (below): an outline that now holds no car ends the visit as any departure does, once something moves
        there or after ``still_confirm_s``.
        Why not start a redrawn bay over: a corner nudged under a parked car left its open violation
        without an end and opened a second one for the same car, its clock restarted from zero.
        Returns the bays kept."""
        kept = []
        with self._lock:
            before = {b.id: b.polygon for b in old.cfg.bays}
            self.set_warp(old.warp)
            # a kept bay keeps its classifier's memory too: its verdict, what backed it and when it last moved.
            # Started over, its first verdict needed no motion ("a car parked at start is a car"), and a still
            # parked car the model had come to read empty — held, not confident, by the still-bay rule — was
            # confidently empty two readings after any reload: a departure, and the policy raised the lock under
            # the car. One whose pixels are the same keeps its change gate's reference; a redrawn one gets its
            # first from the next frame, which is no motion in it (nothing says anything moved: a redraw is not
            # a car driving out)
            kept_ids = [b.id for b in self.cfg.bays if b.id in old.fusion]
            same = set(self.gate.adopt(old.gate, kept_ids, old._grey))
            self._empty.adopt(old._empty, set(kept_ids))
            self._pictures.adopt(old._pictures)  # the hung picture a reload finds is no newer for it
            self._osd = old._osd  # the same camera's clock: no TICKS seconds to find it again
            self._blur.adopt(old._blur, same)  # a drop on the lens a reload finds is still a drop (bays.blur)
            self._lens.adopt(old._lens, same)
            self._cut.adopt(old._cut)  # a replayed buffer a reload finds is still a replay (bays.cut)
            if old._masks != self._masks:  # the masks edited with the bays: no car's motion either (``set_masks``)
                self._mask_edited(old._mask_polygons() if old._masks else [])
            for bay in kept_ids:
                f = self.fusion[bay] = old.fusion[bay]
                f.cfg = f.hysteresis.cfg = self.cfg.occupancy
                if bay in old._moved_at:
                    self._moved_at[bay] = old._moved_at[bay]
                if bay in old._firm_moved_at:
                    self._firm_moved_at[bay] = old._firm_moved_at[bay]
                if bay in old._stir:
                    self._stir[bay] = old._stir[bay]
                if bay in same:  # its rest picture taken over with the gate's (``_left_changed``, ``_car_returned``)
                    if bay in old._left_since:
                        self._left_since[bay] = old._left_since[bay]
                    if bay in old._gone_from:
                        self._gone_from.add(bay)
                if bay not in same:
                    self._redrawn.add(bay)
                self._followed.add(bay)  # classified on the next frame, under this config's thresholds
            self.camera_ok, self.aligned, self.matched, self.held = old.camera_ok, old.aligned, old.matched, old.held
            self._vouched, self._revouch = old._vouched, old._revouch
            # the heartbeat's and replay's counts are the agent's since its start, not this monitor's: a reload
            # that set them back to 0 (and inference_ms to null) read as a restart on a fleet's dashboard
            self.frames, self.detector_runs, self.region_runs = old.frames, old.detector_runs, old.region_runs
            self.classified, self.inference_ms = old.classified, old.inference_ms
            for b in self.cfg.bays:
                if b.id not in old.machines:
                    continue
                m = old.machines[b.id]
                m.timers, m.identify_reads = self.cfg.timers, self.cfg.occupancy.identify_reads
                self.machines[b.id] = m
                if b.id in old._best:
                    self._best[b.id] = old._best[b.id]
                self._keep_old_ground(old, b.id, before.get(b.id), b.polygon)
                if b.id in old._unplaced:  # still no car seen on its outline: a run of readings starts over
                    # (redrawn, the outline is no longer the one the last run left its car on)
                    was = old._unplaced[b.id]
                    self._unplaced[b.id] = Unplaced(at_start=was.at_start and before.get(b.id) == b.polygon,
                                                    sensed=was.sensed, visit=was.visit)
                if b.id in old._sensed:
                    self._sensed[b.id] = old._sensed[b.id]
                if b.id in old._unverified:
                    self._unverified.add(b.id)
                if b.id in old._seen_empty and before.get(b.id) == b.polygon:  # a new outline is yet unseen
                    self._seen_empty.add(b.id)
                if m.visit is None and (b.id in old._unmeasured or before.get(b.id) != b.polygon):
                    # ``free`` only on a measurement of this outline: a bay still ``unknown`` since the start, or
                    # redrawn, stays / reads ``unknown`` until the classifier sees it empty (was ``free`` at once)
                    self._unmeasured.add(b.id)
                self.bus.publish_state(self._told(m))
                kept.append(b.id)
            # an old ground on the pixels of one the lens check found under a drop (its own, or its bay's outline
            # before the redraw) stays so: judged afresh, a drop drying in its doubt band read sharp (review100)
            self._lens.keep(old._lens, self._ground_outlines())
            for bay, m in old.machines.items():  # gone from the config: no departure will ever end its visit
                if bay not in self.machines and (closing := m.close(BAY_REMOVED)):
                    for ev in closing:
                        self.bus.publish(ev)
                    self.bus.publish_state(m.state())  # its retained state would say violation for ever
        return kept

    def _keep_old_ground(self, old: BayMonitor, bay: str, was: Sequence[tuple[float, float]] | None,
                         now: Sequence[tuple[float, float]]) -> None:
        """(``adopt``.) A bay redrawn while a car stood in it (a visit open, or the classifier's verdict occupied)
        keeps the outline it had: its arm waits until that ground is seen empty (``old_ground``). One already
        watched is kept through later edits (the car is where it first stood), and dropped when the outline is
        drawn back onto it (the bay's own readings cover that ground again). A later edit that drags the outline
        off a car its last reading saw (one that parked in the redrawn outline) adds that ground too: only the
        first was kept, so the car leaving it let the arm rise under the other (2026-12-05) — unless the edit draws it
        back onto a ground watched (the outline left was the slip, over a neighbour's car as likely as not). The
        visit or a held verdict says nothing of a redrawn outline's ground (they are the first car's)."""
        sx, sy = self._drawn_scale(old)
        grounds = [dataclasses.replace(g, polygon=[(x * sx, y * sy) for x, y in g.polygon])
                   for g in old._old_ground.get(bay, [])]
        if was is not None and not _same_outline(polygon := [(float(x) * sx, float(y) * sy) for x, y in was], now):
            verdict = old.fusion[bay].verdict
            last = verdict.p_occupied
            back = any(_same_outline(g.polygon, now) for g in grounds)  # the outline left was the slip: no ground
            # a bay whose view vouched for nothing (``_unseen``: a drop on the lens over it) may hold the car its
            # verdict, misled by the drop, let go: redrawn off it, the new outline read free beside the car and the
            # arm rose under it (review100)
            car = (not back and verdict.occupied is True and last is not None and last >= self.cfg.occupancy.enter_p
                   ) if grounds else old._holds(bay) or bay in old._unseen
            # a bay waiting for a car on its outline (``Unplaced``) goes on waiting on the new one: the outline left
            # is no ground known to be the car's (kept, its asphalt never changed from its picture: held for good)
            if car and bay not in old._unplaced and not any(_same_outline(g.polygon, polygon) for g in grounds):
                grounds.append(OldGround(polygon, self._picture_before(old, was)))
                log.warning("bay %s redrawn with a car in it: its lock stays down (%s) until the ground of its old "
                            "outline is seen empty", bay, REDRAWN)
        grounds = [g for g in grounds if not _same_outline(g.polygon, now)]
        if grounds:
            self._old_ground[bay] = grounds

    def _drawn_scale(self, old: BayMonitor) -> tuple[float, float]:
        """(x, y) factors from ``old``'s bay drawings to this config's: a Save on a snapshot of another size (a
        sub-stream, a new stream resolution) writes every outline in that size's pixels (``camera.width`` /
        ``height``). Unscaled, an old outline lay elsewhere on the new frames — over other ground, partly outside —
        and the same outline saved at another size counted as redrawn. ``old``'s size is that of the frames it was
        given while aligned (the camera's, fitted to its bays: a reload that changed only ``camera`` keeps the
        monitor and its config), else its config's; (1, 1) when either is unknown."""
        now = self.cfg.camera.width, self.cfg.camera.height
        if old._last_frame is not None and old.aligned:  # a frame of another aspect (not fitted) blinds: not aligned
            was: tuple[int | None, int | None] = (old._last_frame.shape[1], old._last_frame.shape[0])
        else:
            was = old.cfg.camera.width, old.cfg.camera.height
        if not (was[0] and was[1] and now[0] and now[1]):
            return 1.0, 1.0
        return now[0] / was[0], now[1] / was[1]

    @staticmethod
    def _picture_before(old: BayMonitor, polygon: Sequence[tuple[float, float]]) -> np.ndarray | None:
        """The ground's picture (``ground_picture``) on the last frame ``old`` saw, if the camera vouched for it
        (aligned, matched): the car as it stood at the redraw. Taken on the first frame after the redraw instead, a
        car that left while the camera was black had its picture the empty ground, which never changed from it:
        the arm stayed down for good. None: no such frame (the first one vouched for after the redraw is taken)."""
        if old._last_frame is None or not (old.aligned and old.matched) or old.held:
            return None
        (a, b, c), (d, e, f) = old.warp
        try:
            return ground_picture(old._last_frame, [(a * x + b * y + c, d * x + e * y + f) for x, y in polygon])
        except ValueError:
            return None

    def watch_old_ground(self, bay: str, polygon: Sequence[tuple[float, float]], sensed: bool = False) -> None:
        """(At the start.) ``bay`` may have a car on ``polygon``, an outline an earlier run judged it on: the
        config was edited while the agent was stopped and that run left a visit open there, or that run was itself
        waiting for the ground. Its lock waits for that ground as after a reload, except that no picture of the
        car is known, so ``confirm_frames`` readings of it empty let it go once a car has been seen on it in this run
        (``Unplaced``'s bar): read empty before that, a still car under a drop on a lens wet at the start let it go and
        the arm rose under the car (probe review87). A car gone while the agent was stopped holds it until the next
        car has come and gone there. ``sensed``: the bay's presence sensor reported that car (``Unplaced.sensed``)."""
        with self._lock:
            ground = [(float(x), float(y)) for x, y in polygon]
            grounds = self._old_ground.get(bay, [])
            if (bay in self.machines and not _same_outline(ground, self._polygons[bay])
                    and not any(_same_outline(g.polygon, ground) for g in grounds)):
                car = Unplaced(at_start=True, sensed=sensed)
                self._old_ground[bay] = [*grounds, OldGround(ground, at_start=True, car=car)]
                log.warning("bay %s: drawn elsewhere than the last run judged it, which left a car there: its lock "
                            "stays down (%s) until the ground of that outline is seen empty", bay, REDRAWN)

    def confirming(self, measured: Warp, before: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> None:
        """(The installer's Confirm current view, of a view the bays did not fit: moved beyond tolerance, or
        matching no reference.) The current view becomes the reference, and each outline as drawn lies on the ground
        it covers there. A bay holding a car (a visit open, or the classifier's verdict occupied) keeps the ground the
        car stood on, its outline carried by ``measured`` (the shift registration last measured: drawn px → this
        view's px): its arm waits until that ground is seen empty, as after a redraw (``old_ground``). Grounds
        already watched are carried the same way. Why: knocked 60 px, bay A's outline lay on the asphalt beside the
        parked car; confirmed, the bay's change from the car's last vouched picture counted as the car leaving, the
        visit departed within 5 s and the policy raised the arm under the car 20 s later. ``before``: the outlines the
        bays were judged on until now, where a Save (which takes the view as a confirmation does) redrew them; a
        bay's ground already kept by that redraw (``_keep_old_ground``, in those outlines' pixels) is carried too."""
        (a, b, c), (d, e, f) = measured
        with self._lock:
            for u in self._unplaced.values():  # each outline lies on other ground now: no longer the car's
                u.at_start = False
            for bay, drawn in self._polygons.items():
                carried = [dataclasses.replace(g, polygon=[(a * x + b * y + c, d * x + e * y + f) for x, y in g.polygon])
                           for g in self._old_ground.get(bay, [])]
                judged = before.get(bay, drawn) if before is not None else drawn
                ground = [(a * float(x) + b * float(y) + c, d * float(x) + e * float(y) + f) for x, y in judged]
                car = self._holds(bay)
                if car and not any(_same_outline(g.polygon, ground) for g in carried):
                    picture = None  # the car as it stands in the view confirmed (else: the first look after)
                    if self._last_frame is not None:
                        try:
                            picture = ground_picture(self._last_frame, ground)
                        except ValueError:
                            pass
                    carried.append(OldGround(ground, picture))
                    log.warning("bay %s: view confirmed with a car in it: its lock stays down (%s) until the ground the "
                                "car stood on is seen empty", bay, REDRAWN)
                carried = [g for g in carried if not _same_outline(g.polygon, [(float(x), float(y)) for x, y in drawn])]
                if carried:
                    self._old_ground[bay] = carried
                else:
                    self._old_ground.pop(bay, None)

    def carry_grounds(self, warp: Warp) -> None:
        """(The installer's Save over a view followed within tolerance, which takes that view as the reference: the
        outlines are its pixels now, ``set_offset(0, 0)`` follows.) Each old ground was kept in the old drawing's
        pixels (``_keep_old_ground``) and is carried by ``warp`` (the shift followed until the Save) onto that view,
        where the car stands; one that then lies on its bay's outline was no redraw — the page carried an outline
        nobody touched with the view — and is dropped. Why (probe leftovers29): with the view drifted 3-5 px, a Save
        that changed no outline made every bay holding a car ``bay_redrawn`` until the car left, its old ground
        watched 3-5 px off the car's."""
        (a, b, c), (d, e, f) = warp
        with self._lock:
            for bay in list(self._old_ground):
                drawn = [(float(x), float(y)) for x, y in self._polygons[bay]]
                carried = [dataclasses.replace(g, polygon=[(a * x + b * y + c, d * x + e * y + f) for x, y in g.polygon])
                           for g in self._old_ground[bay]]
                kept = [g for g in carried if not _same_outline(g.polygon, drawn)]
                if len(kept) < len(carried):
                    log.info("bay %s: its outline was carried with the view by the Save, not redrawn: no wait for "
                             "its old ground", bay)
                if kept:
                    self._old_ground[bay] = kept
                else:
                    del self._old_ground[bay]

    def holding_cars(self) -> list[str]:
        """The bays holding a car (a visit open, or the classifier's verdict occupied, as ``confirming`` tells them),
        or waiting for one to be seen leaving (an old ground, ``unplaced``). Why the waiting ones: their car is where
        an old outline lay on the old view, and a view matching no reference says nothing of where that is now; an
        old ground judged on such a view as drawn lay on other ground, changed from the car's picture and read empty
        (the car left, to it), and the arm rose under the car."""
        with self._lock:
            return [b for b in self._polygons if self._holds(b) or b in self._old_ground or b in self._unplaced]

    def _holds(self, bay: str) -> bool:
        """A car in ``bay``: a visit open, the classifier's verdict occupied, or one the last run left there not yet
        judged on a view this run vouches for (``left_by_last_run``)."""
        v = self.fusion[bay].verdict  # with a site calibration, a car the shipped head sees is one too (review72)
        return (self.machines[bay].visit is not None or v.occupied is True or v.shipped_occupied
                or bay in self._unverified)

    def left_by_last_run(self, bays: Sequence[str],
                         judged: Mapping[str, Sequence[Sequence[tuple[float, float]]]] | None = None,
                         visits: Mapping[str, str] | None = None, sensed: Collection[str] = ()) -> None:
        """(At the start.) ``bays`` held a car when the last run stopped (a visit it left open, or one it was itself
        still unsure of: ``unverified``). Each counts as holding it (``holding_cars``, ``confirming``, a redraw) until
        this run judges the bay on a view it vouches for. Why: the start ends the last run's visits
        (``agent_stopped``) and a new run knows a bay only by its readings, so started on a view matching no reference
        no bay held a car: Confirm current view was not refused (``cars_unplaced``), the installer's Save did not make
        the bay wait for its car (``Unplaced``), its outline beside the car read free and the arm rose under the car
        20 s later (probe review15).

        Its lock also waits (``bay_redrawn``) for a car seen on its outline in this run, as ``Unplaced`` does: only
        seeing the car (and then its leaving) says it left. Why: on a lens wet at the start (a drop over part of the
        bay) the still car reads surely empty with nothing in one frame to flag it, the drop changes the bay's
        picture as a departure does (over ``LEFT_CHANGE`` of it against the last dry picture of the car, for 26 of 40
        parked cars), and a passer-by's motion made the first "empty" confident: the arm rose under the car (probe
        wetstart). The cost: a car that drove off while the agent was stopped leaves its arm down until the next car has come and
        gone; a bay that held no car at the stop pays nothing. ``visits``: bay → the last run's visit its wait is for,
        where known; ``sensed``: the bays whose presence sensor reported that car (``Unplaced.sensed``)."""
        with self._lock:
            self._unverified.update(b for b in bays if b in self.machines)
            for b in bays:  # its first "empty" needs something seen moving there (``Hysteresis.car_left``), unless
                if b in self.fusion and b not in self._old_ground:  # the ground the car stood on says when it leaves
                    self.fusion[b].hysteresis.car_left()
                    if b not in self._unplaced:
                        # the restart's wait (a healthy sensor may end it) only on the outline the last run left its
                        # car on (``judged``: under each id it had): one edited while the agent was stopped may lie
                        # beside the car, as after a Save (probe review94)
                        was = (judged or {}).get(b, [])
                        self._unplaced[b] = Unplaced(at_start=bool(was) and all(
                            _same_outline(o, self._polygons[b]) for o in was), sensed=b in sensed,
                            visit=(visits or {}).get(b))
                        log.warning("bay %s: the last run left a car there: its lock stays down (%s) until a car is "
                                    "seen on the outline (and then leaves it)", b, REDRAWN)

    def unverified(self) -> list[str]:
        """The bays ``left_by_last_run`` not yet judged, to be kept over a restart (one on a view still unmatched)."""
        with self._lock:
            return sorted(self._unverified)

    def unplace(self, bays: Sequence[str], keep_grounds: bool = False) -> None:
        """(The installer's Save over a view whose relation to the old one is unknown, ``bays`` the ones that held
        a car or waited for a ground then; at the start, the ones the last run left waiting: ``keep_grounds``.)
        Each waits for a car to be seen on its outline (``Unplaced``); its old grounds, in the old view's pixels,
        lie on unrelated ground now and are dropped (kept at the start: they were saved in this view's)."""
        with self._lock:
            for bay in bays:
                if bay not in self.machines:
                    continue
                if not keep_grounds:
                    self._old_ground.pop(bay, None)
                    if bay in self._unplaced:  # its outline is no longer known to lie on the car's ground
                        self._unplaced[bay].at_start = False
                if bay not in self._unplaced:
                    self._unplaced[bay] = Unplaced()
                    why = ("the last run left it waiting for a car to be seen on its outline, saved over a view the "
                           "bays did not fit" if keep_grounds else "its outline saved over a view the bays did not "
                           "fit, with no shift to say where its car stands on it")
                    log.warning("bay %s: %s: its lock stays down (%s) until a car is seen on the outline (and then "
                                "leaves it)", bay, why, REDRAWN)

    def unplaced(self) -> list[str]:
        """The bays waiting for a car on their outline (``unplace``, ``left_by_last_run``), to be kept over a restart."""
        with self._lock:
            return sorted(self._unplaced)

    def left_waiting(self) -> list[str]:
        """Of ``unplaced``, those whose wait the last run's car made (``left_by_last_run``), not a Save: the next
        start resumes them as such, so a healthy presence sensor may end them (``Unplaced.cleared``)."""
        with self._lock:
            return sorted(b for b, u in self._unplaced.items() if u.at_start)

    def sensed(self) -> dict[str, str]:
        """Bay → the visit whose car its presence sensor reported: this run's open visits, and the restart's waits
        (``Unplaced.sensed``; "" where the visit is not known), to be kept over a restart: there only such a sensor's
        "clear" may end the wait for that car (``left_by_last_run``)."""
        with self._lock:
            waits = {b: u.visit or "" for b, u in self._unplaced.items() if u.at_start and u.sensed}
            grounds = {b: "" for b, gs in self._old_ground.items() if any(g.car is not None and g.car.sensed for g in gs)}
            return {**grounds, **waits, **self._sensed}

    def watched_grounds(self) -> dict[str, list[list[tuple[float, float]]]]:
        """Bay → the old outlines whose ground its lock waits for (``old_ground``), to be kept over a restart."""
        with self._lock:
            return {b: [list(g.polygon) for g in grounds] for b, grounds in self._old_ground.items()}

    def _old_ground_outlines(self) -> dict[str, list[tuple[float, float]]]:
        """Each old ground's outline in frame pixels (the view's warp applied), keyed for the lens check
        (``_ground_key``); none while the camera vouches for no frame (``_watch_old_ground``'s condition)."""
        if not self._old_ground or self.classifier is None or not (self.aligned and self.matched):
            return {}
        return self._ground_outlines()

    def _ground_outlines(self) -> dict[str, list[tuple[float, float]]]:
        """(``_old_ground_outlines``.) Each old ground's outline in frame pixels, whatever the camera vouches for."""
        (a, b, c), (d, e, f) = self.warp
        return {_ground_key(bay, g): [(a * x + b * y + c, d * x + e * y + f) for x, y in g.polygon]
                for bay, grounds in self._old_ground.items() for g in grounds}

    def _watch_old_ground(self, image: np.ndarray, now: float, hidden: set[str]) -> None:
        """Look at each old ground (``old_ground``) on a frame the camera vouches for (aligned and matched: on a
        view that drifted out of matching the outlines may lie on other ground): the ones the cars have left are
        let go, and a bay's view vouches again once none is left. A car seen leaving its old ground is motion in
        the bay (classified on the next frame): a redrawn outline that had turned "empty" with nothing moving in it
        (held, not confident: the still-bay rule) stayed so after the car drove off, until something crossed the
        new outline — its arm stayed down with the bay free (400 s and on, review of 2026-12-05). A ground the lens
        check finds under a drop (``hidden``: ``_ground_key``s, bays.lens) gives no reading: a drop landing over
        the car changed its ground's picture a car's worth and the model read it surely empty, the ground was let
        go as a departure and the arm rose under the car, its new outline sharp beside it (probe lens39)."""
        if not self._old_ground or self.classifier is None or not (self.aligned and self.matched):
            return
        (a, b, c), (d, e, f) = self.warp
        occ = self.cfg.occupancy
        left: set[tuple[str, int]] = set()
        witnessed: set[str] = set()  # bays whose ground the camera and the presence sensor let go (``cleared``)
        for i in range(max(len(g) for g in self._old_ground.values())):  # one classifier call per layer, by bay id
            looks: dict[str, list[tuple[float, float]]] = {}
            for bay, grounds in self._old_ground.items():
                if i >= len(grounds):
                    continue
                poly = [(a * x + b * y + c, d * x + e * y + f) for x, y in grounds[i].polygon]
                try:
                    picture = ground_picture(image, poly)
                except ValueError:
                    continue
                if grounds[i].changed(picture, occ.gate_threshold):
                    looks[bay] = poly
                else:
                    grounds[i].read(False, float("nan"), occ.exit_p, occ.confirm_frames)
            probs = self.classifier.classify(image, looks, {}) if looks else {}
            # calibrated: the ground reads empty only where the shipped head reads it so too (review72)
            shipped: dict[str, float] = (getattr(self.classifier, "shipped", None) or {}) if looks else {}
            for bay in looks:
                ground = self._old_ground[bay][i]
                p = float("nan") if _ground_key(bay, ground) in hidden else float(probs.get(bay, float("nan")))
                if bay in shipped and np.isfinite(p):
                    p = max(p, shipped[bay])
                if ground.car is not None:  # watched from the start: its car must be seen there first
                    settle = max(SEEN_PARKED_S, self.cfg.timers.arrival_confirm_s)
                    if ground.car.cleared(p, self.feed.read_sensor(bay), now, occ.exit_p, occ.confirm_frames, settle):
                        left.add((bay, i))  # …or the camera and a healthy presence sensor agree it is gone
                        witnessed.add(bay)
                    elif ground.car.read(p, now, occ.enter_p, occ.confirm_frames, settle):
                        ground.car = None
                    continue
                if ground.read(True, p, occ.exit_p, occ.confirm_frames):
                    left.add((bay, i))
        for bay, i in sorted(left, reverse=True):
            if not self._old_ground[bay][i].at_start or bay in witnessed:  # seen to change from the car's picture
                self._gone(bay, now)  # (or both witnesses saw it gone): the car drove off
            del self._old_ground[bay][i]
            if not self._old_ground[bay]:
                del self._old_ground[bay]
                log.info("bay %s: the ground of its old outline is empty now; its view vouches again", bay)

    def _verdict(self, c: Consensus) -> Verdict:
        # with no colour, the frames that counted other places than the identity outnumber those that read it
        return decide_visit(c.text, c.colour, self.lists, c.dark_chars, c.polarity, c.red_end,
                            uncounted=0 < c.reads <= c.uncounted, hue=c.hue)

    def bay_ids(self) -> list[str]:
        return list(self.machines)

    def verdicts(self) -> dict[str, CameraVerdict]:
        """Each bay's camera verdict (p_occupied, confident, measured_at); what the interlock reads."""
        with self._lock:
            return {b: f.verdict for b, f in self.fusion.items()}

    def unseen(self) -> dict[str, str]:
        """Bays the camera's view vouches for no empty bay on, though the camera itself is healthy, with the
        code a lock refusal on them gives (the heartbeat's ``bays_unseen``): all of them while it points
        elsewhere (``camera_moved``) or its view matches no reference (``camera_unmatched``); else those whose
        last crop showed nothing (``bay_flat`` / ``bay_clipped``) or lost its fine detail (``bay_blurred``), lie under an on-screen clock
        or the installer's masks (``bay_overlay``), too few of the camera's pixels across
        (``bay_too_small``) or whose outline shows no pixels of the frame (``mask_empty`` / ...). Camera health
        (black, frozen, lost) is the heartbeat's ``camera_ok`` / ``camera_reason``."""
        with self._lock:
            if not self.aligned:
                return dict.fromkeys(self.machines, "camera_moved")
            return self._view_problems()

    def _view_problems(self, waits: bool = True) -> dict[str, str]:
        """Bay → why its view vouches for nothing, on a frame the camera sends aligned (``unseen``); ``waits``
        False: leaving out the waits for a car (``bay_redrawn``), for the reasons the picture itself gives."""
        if not self.matched:
            return dict.fromkeys(self.machines, "camera_unmatched")
        redrawn = dict.fromkeys([*self._old_ground, *self._unplaced], REDRAWN) if waits else {}
        # the picture jumped to another moment (a replayed buffer, a stream switch): every bay, unless it has a reason
        # of its own (which outlasts the cut's settling)
        cut = dict.fromkeys(self.machines, CUT) if self._cut.settling(self.clock.monotonic()) else {}
        return {**cut, **redrawn, **self._under_overlay(), **self._under_mask(), **self._unseen,
                **self._small,  # too small says why blank
                **self.gate.mask_problems}

    def _under_overlay(self) -> dict[str, str]:
        """Bays an on-screen clock ticks over (``bay_overlay``): their crop holds the clock's text, which the
        classifier reads as a car or not, never the ground beneath (camera.overlay)."""
        boxes = tuple(o.box for o in self._osd.overlays())
        if boxes != self._osd_bays[0] or self.shapes is not self._osd_bays[1]:
            found = [Overlay(b) for b in boxes]
            self._osd_bays = (boxes, self.shapes, {s.bay_id: OVERLAY for s in self.shapes
                                                   if any(o.overlaps(s.polygon) for o in found)},
                              tuple(o.box for o in found if any(o.overlaps(s.polygon) for s in self.shapes)))
        return self._osd_bays[2]

    def _masked(self, image: np.ndarray) -> np.ndarray:
        """``image`` as the bays' classifier and change gate see it: the boxes of a clock ticking over bays filled in
        (``overlay.fill``), as an NVR masks a burnt-in timestamp, and so are the installer's masks (``camera.masks``,
        the same rule). Why: the text read as a car — on the live-like 2013-03-19 clip painted
        with the camera's clock across its top rows, two bays made false visits from the start and a real arrival
        was lost (docs/occupancy.md). The bays keep ``bay_overlay``: filled pixels are no evidence of an empty bay
        for a lock. A clock over no bay is left alone (nothing there is judged)."""
        self._under_overlay()
        image = fill(image, self._osd_bays[3])
        if not self._masks:
            return image
        key = (self.warp, image.shape[:2])
        if self._mask_fill is None or self._mask_fill[0] != key:
            self._mask_fill = (key, MaskFill(self._mask_polygons(), image.shape[:2]))
        return self._mask_fill[1].apply(image)

    def _mask_polygons(self) -> list[list[tuple[float, float]]]:
        """The masks on the frame: where they were drawn, and where the camera shift carried them (``warp``). Why
        both: text the camera burns in (its name, a logo, a privacy block: what masks are for) stays where it was
        drawn when the camera is knocked, as a clock does (``_under_overlay``), while a mask over a part of the
        scene follows the view as the bays do; either way the area stays covered (within ``shift_tolerance_px``)."""
        (a, b, c), (d, e, f) = self.warp
        moved = [[(a * x + b * y + c, d * x + e * y + f) for x, y in m] for m in self._masks]
        return self._masks + [m for m, was in zip(moved, self._masks) if not _same_outline(m, was)]

    def _under_mask(self) -> dict[str, str]:
        """Bays more than ``masks.MASK_SHARE`` under the installer's masks (``bay_overlay``): their verdict leans on
        the filled pixels, a guess, not on the ground (camera.masks)."""
        if not self._masks:
            return {}
        if self._mask_bays[0] is not self.shapes:
            covered = under_masks({s.bay_id: s.polygon for s in self.shapes}, self._mask_polygons())
            self._mask_bays = (self.shapes, dict.fromkeys(covered, OVERLAY))
        return self._mask_bays[1]

    def set_masks(self, masks: Sequence[Sequence[tuple[float, float]]]) -> None:
        """(A reload that changed only ``camera.masks``.) The bays are judged under the new masks from the next
        frame. The fill appearing or going changes the picture of each bay a mask touched, before or now: that is
        the installer's edit, no car's motion, so their next frame is taken as a redrawn outline's (``_mask_edited``).
        Why: a mask over most of a bay, taken out, left it ``bay_overlay``-free on the very frame its change was the
        motion that let a still parked car's held misread (dusk) be believed: confidently empty, and the arm rose
        under the car 20 s later (probe review29). A car the old mask hid is seen all the same; the lock waits for it
        (a reading against the verdict with nothing moving is no confident verdict)."""
        with self._lock:
            was = self._mask_polygons() if self._masks else []
            self._masks = [[(float(x), float(y)) for x, y in m] for m in masks]
            self._mask_bays, self._mask_fill = (None, {}), None
            self._mask_edited(was)

    def _mask_edited(self, was: Sequence[Sequence[tuple[float, float]]]) -> None:
        """The masks changed from ``was`` (as they lay on the frame): each bay either touches has its next frame taken
        as no motion (``_redrawn``), and its pictures kept for a view's return or a cut's settling, taken under the
        old fill, are dropped (no picture: nothing says it changed). So is its empty picture (``empty_picture``): the
        next confident "empty" takes it under the new fill (one that differed from it waits ``still_confirm_s``).
        Kept, a label clipping 2 % of a bay, masked, made the bay ``bay_changed`` for ``still_confirm_s`` (review31)."""
        now = self._mask_polygons() if self._masks else []
        polygons = {s.bay_id: s.polygon for s in self.shapes}
        touched = set(covered_shares(polygons, was)) | set(covered_shares(polygons, now))
        self._redrawn.update(touched)
        for b in touched:
            for since in ("vouched", "cut", EMPTY):
                self.gate.forget(b, since)

    def set_source_scale(self, scale: float) -> None:
        """The camera sends ``scale`` of the pixels the bays were drawn on (a sub-stream under 1): the frames
        reach the monitor scaled to the bays' size, so only this says how much of a bay the camera resolves."""
        with self._lock:
            if scale != self._scale:
                self._scale = scale
                self._small = too_small(self._polygons, scale)

    @property
    def vision_ok(self) -> bool:
        """Frames arrive, are usable, and the camera looks where the bays were drawn (or may: not held)."""
        return self.camera_ok and self.aligned and not self.held

    def set_offset(self, dx: float, dy: float) -> None:
        """The bays now lie (dx, dy) px from where they were drawn, on the view as it is (the installer's
        confirmation: 0, 0): no motion of the view is implied (``set_warp`` with ``camera_moved`` False)."""
        self.set_warp(((1.0, 0.0, dx), (0.0, 1.0, dy)), camera_moved=False)

    def set_warp(self, warp: Warp, camera_moved: bool = True) -> None:
        """The view moved within tolerance by ``warp`` (2x3: drawn px → the frame's px; a shift, a small turn,
        a zoom): each bay corner follows it, once any moved ≥ 1 px from where it is. ``offset``: the bays'
        mean shift (the heartbeat's ``camera_offset``). ``camera_moved``: the camera made that move (the
        change gate's references follow the view, ``ChangeGate.follow``); False: the outlines alone were set
        anew on the same view, and every bay starts over."""
        (a, b, c), (d, e, f) = warp
        with self._lock:
            (p, q, r), (u, v, w) = self.warp
            det = p * v - q * u
            shapes = [BayShape(s.bay_id, [(a * float(x) + b * float(y) + c, d * float(x) + e * float(y) + f)
                                          for x, y in s.polygon]) for s in self.drawn]
            if all(abs(x - u) < 1.0 and abs(y - v) < 1.0
                   for new, now in zip(shapes, self.shapes) for (x, y), (u, v) in zip(new.polygon, now.polygon)):
                return
            self.warp = ((a, b, c), (d, e, f))
            pts = [(x - float(u), y - float(v)) for new, was in zip(shapes, self.drawn)
                   for (x, y), (u, v) in zip(new.polygon, was.polygon)]
            self.offset = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)) if pts else (c, f)
            self.shapes = shapes
            self._followed = {sh.bay_id for sh in shapes}  # every bay is classified again on the next frame
            if not camera_moved or not det:
                self.gate.set_shapes(self.shapes)
                # no reference on the outlines now: the next frame is each bay's first, no motion in it. Counted as
                # motion, a reload after a tracked camera shift (its outlines set anew on the view, ``set_offset``)
                # let a held misread of a still parked car be believed at once: a departure, the arm raised under it
                self._redrawn.update(sh.bay_id for sh in shapes)
                return
            # the view's motion since the last frame: the new warp after the inverse of the old one
            inv = np.array([[v, -q], [-u, p]]) / det
            lin = np.array([[a, b], [d, e]]) @ inv
            moved = np.hstack([lin, (np.array([c, f]) - lin @ np.array([r, w]))[:, None]])
            self.gate.follow(self.shapes, moved, self._grey)

    def set_aligned(self, ok: bool) -> None:
        """Registration: False while the camera points elsewhere than where the bays were drawn."""
        with self._lock:
            self.aligned = ok
            if not ok:
                self._publish_blind("moved")
            self._vouching_changed()
            self._camera_changed()

    def set_matched(self, matched: bool, held: bool = False) -> None:
        """Registration: whether the last view it measured matched the reference. A view that matches nothing
        (a zoom slipped 3x, a camera knocked to face the ground or another row) tells nothing about where the
        bays are, so it vouches for no empty bay (``camera_unmatched``): the lock evidence only. The bays go on
        being judged where it drifted out of matching (dusk, fog: real views weeks from the reference sometimes
        match nothing for a frame, and the bank of later views bridges it), but not where another scene came
        (``held``: a knock that turned the camera away, a van at the lens): they are blind, holding their story."""
        with self._lock:
            was = self.vision_ok
            self.matched, self.held = matched, held and not matched
            if self.held:
                self._publish_blind("unmatched")
            self._vouching_changed()
            if self.vision_ok != was:
                self._camera_changed()

    def _vouching_changed(self) -> None:
        """Whether the camera vouches for the outlines (aligned and matched) changed: when it does again, no reading
        made meanwhile counts toward a raise (``Hysteresis.vouched``), and the next frame's change in each bay is the
        view's return, no car leaving: it is told at that frame's time, and every bay is classified on it."""
        vouched = self.aligned and self.matched
        if vouched == self._vouched:
            return
        self._vouched = self._revouch = vouched
        for b, f in self.fusion.items():
            if vouched:
                self._followed.add(b)  # classified on the next frame (``_classify`` calls ``vouched`` there)
            else:
                f.hysteresis.unvouched()
                self.gate.keep(b)  # the last picture of the bay it vouched for: the return is compared with it
        if not vouched:
            waits = [*self._unplaced.values(), *(g.car for gs in self._old_ground.values() for g in gs if g.car)]
            for u in waits:  # a car is seen on frames in a row the camera vouches for
                u.since, u.reads = None, 0

    # ---- per frame ----------------------------------------------------------------------
    def on_frame(self, image: np.ndarray, reader: PlateReader | None, usable: bool = True,
                 why: str = "", shown_since: float | None = None) -> list[Event]:
        """Judge one frame. ``usable=False`` (black / frozen) counts as blind, not as empty; so does
        a frame from a camera that moved beyond tolerance (the polygons miss the bays). ``why`` is
        the camera health's reason (no_frames | frozen | black | flat). ``shown_since``: when this
        picture first arrived (``HealthTracker.picture_since``; None: now) — a repeated frame is no
        newer than that, and the lock evidence measured on it ages from then (``bays.vision``)."""
        with self._lock:
            self.frames += 1
            now = self.clock.monotonic()
            if usable:  # a moved camera's view too: the installer redraws or confirms on it (not the old one)
                self._last_frame = image
            if not usable or not self.aligned or self.held:
                return self.on_blind(why if not usable else "moved" if not self.aligned else "unmatched")
            self._osd.see(image, now)
            sought = self._classify(self._masked(image), now)
            bay_shown = self._pictures.update(image, self.shapes, now)
            self._seek_cars(sought, bay_shown, now)
            reads_by_bay: dict[str, list[PlateRead]] = {b: [] for b in self.machines}
            due = self._reads_due(now) if reader is not None else None
            if reader is not None and due is not None:
                self.detector_runs += 1
                regions = self._read_regions(due, image.shape[:2]) if getattr(reader, "reads_regions", False) else None
                if regions is None:
                    self._last_probe = now
                else:
                    self.region_runs += 1
                covered = self._covered(regions)
                for b in covered:
                    self._last_read[b] = now
                    if self._grey is not None:
                        self.gate.reset(self._grey, b, "read")
                t = time.perf_counter()  # compute cost, not scenario time: wall clock on purpose
                if regions is None:
                    reads = reader.process(image)
                else:
                    reads = [r for region in regions for r in reader.process(image, region)]
                ms = (time.perf_counter() - t) * 1000
                self.last_inference_s = ms / 1000
                self.inference_ms = round(ms if self.inference_ms is None else 0.8 * self.inference_ms + 0.2 * ms, 1)
                for r in reads:
                    bay = assign_bay(r.corners, self.shapes, self.cfg.occupancy.assign_margin_px)
                    if bay is None:
                        continue
                    reads_by_bay[bay].append(r)
                    if r.text:
                        self.fusion[bay].plate_seen(now)
                        self._keep_best(bay, image, r)
                self._read_text.difference_update(covered)
                self._read_text.update(b for b in covered if any(r.text for r in reads_by_bay[b]))
            present = {b: self.fusion[b].update(now, VOUCH_HOLD_S if self._vouching(b) else None)
                       for b in self.machines}
            events = self._step_all(present, reads_by_bay, camera=True)
            self._publish_vision(present, now if shown_since is None else shown_since, bay_shown)
            return events

    def _publish_vision(self, present: dict[str, bool | None], shown_since: float,
                        bay_shown: dict[str, float | None]) -> None:
        """The camera's evidence per bay, for the lock interlock (see ``bays.vision``)."""
        occ = self.cfg.occupancy
        problems = self._view_problems()
        for b, v in classifier_vision(self.verdicts(), present, problems, occ.enter_p, shown_since,
                                      bay_shown, self._empty.changed(), exit_p=occ.exit_p).items():
            self.feed.publish_vision(b, v)

    def _publish_blind(self, why: str) -> None:
        """No usable view: say why; the last classification's time stays, so it ages into staleness."""
        measured = {b: f.verdict.measured_at for b, f in self.fusion.items()}
        for b, v in blind_vision(self.machines, why, measured).items():
            self.feed.publish_vision(b, v)

    def _classify(self, image: np.ndarray, now: float) -> dict[str, float]:
        """Classify the bays whose gate opened or whose verdict is due (every ``classify_every_s``). Returns the
        readings of the bays waiting for a car on their outline (``_seek_cars``; NaN: not vouched for)."""
        occ = self.cfg.occupancy
        self._grey = grey = self.gate.prepare(image)
        self._redrawn.update(self.gate.take_resized())  # its first at this size: as a redrawn outline's, no motion
        if self._revouch:
            self._revouch = False
            for b, f in self.fusion.items():
                f.hysteresis.vouched(now, self._changed_since_vouched(grey, b, now))
        if self._cut.open and not self._cut.settling(now):
            self._cut.open = False  # settled: each bay compared with its picture from before the cut (bays.cut)
            for b, f in self.fusion.items():
                # (no picture to compare with — an outline redrawn, another frame size —: nothing says it changed)
                if b in self._redrawn or not self.gate.has(b, "cut") or \
                        self.gate.compare(grey, b, "cut")[0] < FIRM_CHANGE:
                    held, moved = self._cut.held.get(b, (None, True))
                    if not moved:  # (a car seen going before the cut went: the cut hid nothing of it)
                        f.hysteresis.no_motion_until(now, held)
                self.gate.forget(b, "cut")  # compared: not carried through the shifts and reloads to come
        due: dict[str, list[tuple[float, float]]] = {}
        compared: dict[str, float] = {}  # bay → its change, where there is a picture of it to compare with (bays.cut)
        still: set[str] = set()  # …and nothing moved in it for CUT_STILL_S before this frame (bays.cut)
        before: dict[str, float] = {}  # …and its largest change on the frames of that second (bays.cut)
        firm_before = dict(self._firm_moved_at)  # a cut's own change is no motion: what moved before it (bays.cut)
        for s in self.shapes:
            f = self.fusion[s.bay_id]
            change, gain = self.gate.compare(grey, s.bay_id)
            self.changes[s.bay_id] = change
            if self.gate.has(s.bay_id) and s.bay_id not in self._redrawn and s.bay_id not in self.gate.mask_problems:
                compared[s.bay_id] = change
                if not now - self._moved_at.get(s.bay_id, float("-inf")) <= CUT_STILL_S:
                    still.add(s.bay_id)
                stir = [(t, c) for t, c in self._stir.get(s.bay_id, ()) if now - t <= CUT_STILL_S]
                before[s.bay_id] = max((c for _, c in stir), default=0.0)
                self._stir[s.bay_id] = [*stir, (now, change)]
            own = gain / self.gate.light_since(s.bay_id)  # the bay's light against the whole view's
            if s.bay_id in self._redrawn:  # no reference on its new outline yet: that says nothing moved
                self._redrawn.discard(s.bay_id)
            elif change >= occ.gate_fraction or not 1 / MOTION_GAIN < own < MOTION_GAIN:
                self._moved_at[s.bay_id] = now  # within one classification interval: something moved there
                if change >= FIRM_CHANGE:
                    self._firm_moved_at[s.bay_id] = now  # …and much of the bay: a car's size of motion
            last = f.verdict.measured_at
            if (change >= occ.gate_fraction or last is None or f.hysteresis.unsettled or s.bay_id in self._followed
                    or now - last >= occ.classify_every_s - 1e-6):
                due[s.bay_id] = [(float(x), float(y)) for x, y in s.polygon]
            if change >= occ.big_change_fraction and s.bay_id in self._read_since:
                self._read_since[s.bay_id] = now  # something new in a bay still unidentified: read fast again
        if self._cut.see(compared, still, now, before):
            log.warning("the picture jumped (%d of %d bays leapt from stillness to a car's worth of change at once: a "
                        "replayed buffer, a stream switch?): no bay vouches for an empty bay for %gs (%s)",
                        leaps(compared, still, before), len(compared), CUT_SETTLE_S, CUT)
            if not self._cut.open and self._vouched:
                # the change across a cut is the picture's jump, not a car's motion (bays.cut): each bay's picture and
                # verdict from before it kept, to tell at its settling whether anything in the bay changed since
                self._cut.open = True
                self._cut.held = {b: (f.verdict.occupied,
                                      f.hysteresis.moved_since_backed(firm_before.get(b, float("-inf"))))
                                  for b, f in self.fusion.items()}
                for b, f in self.fusion.items():
                    f.hysteresis.cut_began()
                    self.gate.keep(b, as_="cut")
        # the lens check (bays.lens) over the outlines and the old grounds, where the cars may still stand
        outlines = {s.bay_id: [(float(x), float(y)) for x, y in s.polygon] for s in self.shapes}
        hidden = (self._lens.see(image, outlines | self._old_ground_outlines(), now, occ.classify_every_s)
                  if self.classifier is not None else set())
        self._watch_old_ground(image, now, hidden)
        if not due or self.classifier is None:
            return {}
        # A crop that shows nothing (uniform, burnt out) is no measurement: NaN, the verdict holds, unconfident.
        unseen: dict[str, str] = {}
        probs = self.classifier.classify(image, due, unseen)
        shipped: dict[str, float] = getattr(self.classifier, "shipped", None) or {}  # calibrated: the shipped head's
        self.classified += len(due) - len(unseen)
        # A crop that lost its fine detail with nothing moving in it (a drop on the lens) is still classified, but
        # its view vouches for no empty bay (bays.blur)
        made: dict[str, np.ndarray] = getattr(self.classifier, "crops", None) or {}  # its crops of this frame
        for b in due:
            if b not in unseen:
                moved = now - self._moved_at.get(b, float("-inf")) <= occ.classify_every_s
                crop = made.get(b)
                if crop is None or crop.shape[0] != CROP_SIZE:  # a classifier that keeps none, or another size
                    crop = bay_crop(image, due[b])
                if (why := self._blur.see(b, crop, now, moved)) is not None:
                    unseen[b] = why
        # …and one mostly softer than the rest of the frame, with no sharp picture of it needed (bays.lens)
        for b in hidden & set(due):
            unseen.setdefault(b, BLURRED)
        self._unseen = {b: w for b, w in self._unseen.items() if b not in due} | unseen
        self._followed.difference_update(due)
        vouched = self.aligned and self.matched
        sought = {b: float(probs.get(b, float("nan"))) if vouched else float("nan") for b in self._unplaced if b in due}
        # "empty" only where the shipped head reads it so too (review72), and on a picture of the bay the camera
        # vouches for: a lens wet over it (bay_blurred), the wait's very cause, reads the still car surely empty, and
        # the sensor's "clear" would be the only witness (probe review94)
        blind = self._view_problems(waits=False)
        self._sought_empty = {b: float("nan") if b in blind else max(p, shipped[b]) if b in shipped and np.isfinite(p)
                              else p for b, p in sought.items()}
        problems = self._view_problems()  # a bay whose view vouches for nothing keeps no empty picture (empty_picture)
        for b in due:
            h = self.fusion[b].hysteresis
            self._car_returned(grey, b, h, now)
            v = h.update(float(probs.get(b, float("nan"))), now, self._firm_moved_at.get(b, float("-inf")),
                         self._moved_at.get(b, float("-inf")), shipped.get(b), self._left_changed(grey, b, h, now))
            self._keep_rest_picture(grey, b, h)
            self._empty.see(grey, b, vouching(v, occ.exit_p) if b not in problems else None, now, self._moved_at.get(b, float("-inf")),
                            occ.still_confirm_s)
            self.gate.reset(grey, b)
            if v.occupied is False:
                self._seen_empty.add(b)
            if v.occupied is not None and (v.occupied or v.confident) and self.aligned and self.matched:
                self._unverified.discard(b)  # judged on a view this run vouches for: its verdict says the rest
        return sought

    def _seek_cars(self, sought: Mapping[str, float], shown: Mapping[str, float | None], now: float) -> None:
        """(``on_frame``.) Each fresh reading (``sought``, from ``_classify``) of a bay waiting for a car on its
        outline (``Unplaced``), on a frame the camera vouches for; one it does not vouch for breaks the run. A reading
        of a picture of the bay that has not changed since the last frame (``shown``: ``BayPictures``) is no
        reading: it neither counts nor breaks the run. Why: a camera hung on a car passing through the outline (bit
        for bit, or under its ticking clock) was read "occupied" until ``frozen_after_s``; 5 s live and 25 s hung
        ended the wait before ``camera_frozen``, and once the camera was back the outline beside the parked car read
        free and the arm rose under it 23 s later (probe review15). A live camera's noise changes every bay's pixels."""
        if not self._unplaced:
            return
        occ = self.cfg.occupancy
        for bay, p in sought.items():
            if bay not in self._unplaced or (np.isfinite(p) and shown.get(bay) != now):
                continue
            settle = max(SEEN_PARKED_S, self.cfg.timers.arrival_confirm_s)
            empty = self._sought_empty.get(bay, p)
            if self._unplaced[bay].cleared(empty, self.feed.read_sensor(bay), now, occ.exit_p, occ.confirm_frames,
                                           settle):
                del self._unplaced[bay]
                self._gone(bay, now)
                log.info("bay %s: the camera and its presence sensor have both seen it empty for %.0f s: the car the "
                         "last run left is gone; its view vouches again", bay, settle)
            elif self._unplaced[bay].read(p, now, occ.enter_p, occ.confirm_frames, settle):
                del self._unplaced[bay]
                log.info("bay %s: a car seen on its outline; its view vouches again (its departure is watched there)",
                         bay)

    def _gone(self, bay: str, now: float) -> None:
        """A car's leaving ``bay`` witnessed at ``now`` (its old ground seen changed from its picture and empty, or
        the camera and a healthy presence sensor both seeing the bay empty): motion in the bay, classified on the
        next frame, and for good — it ends a still departure's doubt (``_left_changed``)."""
        self._moved_at[bay] = self._firm_moved_at[bay] = now
        self._left_seen.add(bay)
        self._followed.add(bay)

    def _left_changed(self, grey: np.ndarray, bay: str, h: Hysteresis, now: float) -> bool | None:
        """(``_classify``.) For a verdict in the still-bay rule's doubt (``Hysteresis.still_since``): whether the bay,
        at rest now (its change gate quiet since the last classification), has differed by a car's worth
        (``FIRM_CHANGE``) from its picture when last at rest before (``_keep_rest_picture``) for ``still_confirm_s``:
        what moved meanwhile left it changed for good. None: no doubt. Why: a parked car cannot leave without its
        bay's picture changing for good; a car passing along the row, or someone walking through, moves the bay and
        leaves it as it was. Under drops on the lens a passer-by made three faded parked cars' "empty" confident and
        the arms rose under them (probe wet100). Compared across the motion only, not with the picture as the doubt
        began: light drifting over minutes changed a still bay's picture by more than ``FIRM_CHANGE``. The change
        must stand ``still_confirm_s`` (the scene's time, as for the empty picture): a van stopping across the outline
        changed it as much as a departure, and at the first rest its "empty" was confident over the car (review88)."""
        if not h.in_still_doubt:
            self._left_seen.discard(bay)
            self._left_since.pop(bay, None)
            return None
        if bay in self._left_seen:  # the car's own picture seen gone (its old ground, the view's return)
            self._left_seen.discard(bay)
            return True
        if not self.gate.has(bay, "rest"):
            self._left_since.pop(bay, None)
            return False  # no picture of it at rest since the doubt began: nothing says it changed
        if self.changes.get(bay, 1.0) >= self.cfg.occupancy.gate_fraction:
            return False  # not at rest: judged once it is
        if self.gate.compare(grey, bay, "rest")[0] < FIRM_CHANGE:
            self._left_since.pop(bay, None)  # as it was before the motion: a passer-by
            return False
        if now - self._left_since.setdefault(bay, now) < self.cfg.occupancy.still_confirm_s:
            return False
        self._gone_from.add(bay)  # its rest picture is now the car's: ``_car_returned`` watches for it
        return True

    def _keep_rest_picture(self, grey: np.ndarray, bay: str, h: Hysteresis) -> None:
        """(``_classify``.) While the still-bay rule's doubt lasts, the bay's picture at its last classification at
        rest before the bay changed (``_left_changed`` compares the bay with it once motion has passed); kept while
        the "empty" that change made confident lasts (``_car_returned``)."""
        if not h.in_still_doubt:
            if bay not in self._gone_from or h.verdict.occupied is not False:
                self._gone_from.discard(bay)
                self.gate.forget(bay, "rest")
        elif self.changes.get(bay, 1.0) < self.cfg.occupancy.gate_fraction and bay not in self._left_since:
            self.gate.reset(grey, bay, "rest")

    def _car_returned(self, grey: np.ndarray, bay: str, h: Hysteresis, now: float) -> None:
        """(``_classify``, before the reading.) A bay whose doubt a lasting change ended, at rest and looking again
        within ``FIRM_CHANGE`` as before that change (its rest picture: the car's): the doubt again
        (``Hysteresis.car_seen_again``). Why: what changed it stood there and left (a van waiting over the outline
        past ``still_confirm_s``); the car under it never moved, and the arm must come down (review88)."""
        if bay not in self._gone_from or h.in_still_doubt or not self.gate.has(bay, "rest"):
            return
        if self.changes.get(bay, 1.0) >= self.cfg.occupancy.gate_fraction:
            return
        if self.gate.compare(grey, bay, "rest")[0] < FIRM_CHANGE:
            log.warning("bay %s: looks again as before the change that ended its doubt: its empty is doubt again", bay)
            self._gone_from.discard(bay)
            h.car_seen_again(now)

    def _changed_since_vouched(self, grey: np.ndarray, bay: str, now: float) -> bool | None:
        """Whether the bay, as the view returns, changed like a car coming or going since the last picture of it the
        camera vouched for (None: that picture is gone, or is of another outline or frame size). Such a change is
        motion in the bay now: a car came or went while the view could not be vouched for (a van, a bus or the car
        beside it hid the corners the view is matched on), and the frames meanwhile showed the bay under the
        occluder, not the car's going."""
        if bay in self._redrawn or not self.gate.has(bay, "vouched"):
            return None
        change, _ = self.gate.compare(grey, bay, "vouched")
        if change < FIRM_CHANGE:
            return False
        self._moved_at[bay] = self._firm_moved_at[bay] = now
        self._left_seen.add(bay)  # changed for good since that picture: ends a still departure's doubt
        return True

    def on_blind(self, why: str = "") -> list[Event]:
        """No usable frame: bays with a presence sensor follow it, the others hold their story."""
        with self._lock:
            self._publish_blind(why)
            return self._step_all({b: self.feed.read_sensor(b) for b in self.machines}, {})

    def tick(self) -> list[Event]:
        """Let timers run when no frame came (camera lost, slow source)."""
        with self._lock:
            return self._publish_all({b: m.tick() for b, m in self.machines.items()})

    def camera(self, ok: bool, why: str = "") -> None:
        """Camera health (frames arrive and are usable); ``why`` the health's reason when not."""
        with self._lock:
            self.camera_ok = ok
            if not ok:
                self._publish_blind(why)
            self._camera_changed()

    def _camera_changed(self) -> None:
        for m in self.machines.values():
            before = m.state()
            m.set_camera(self.vision_ok)
            if m.state() != before:
                self.bus.publish_state(self._told(m))

    def open_visit(self, bay_id: str) -> str | None:
        """The id of the bay's visit in progress (None: no car there, as far as the bay knows)."""
        with self._lock:
            m = self.machines[bay_id]
            return m.visit.visit_id if m.visit is not None else None

    def charger_status(self, bay_id: str, status: str) -> list[Event]:
        with self._lock:
            return self._publish_all({bay_id: self.machines[bay_id].charger(status)})

    def reverify(self) -> list[Event]:
        """The lists changed: re-decide every open visit."""
        with self._lock:
            return self._publish_all({b: m.reverify() for b, m in self.machines.items()})

    def placed(self) -> dict[str, tuple[list[list[float]], list[list[float]]]]:
        """Each bay: (its outline as drawn, where the bays are placed on the current view), in the current frame's
        pixels to 0.1 px (what the installer's page shows and saves: ``control.InstallerView``)."""
        with self._lock:
            return {b.id: ([[float(x), float(y)] for x, y in b.polygon],
                           [[round(float(x), 1), round(float(y), 1)] for x, y in s.polygon.tolist()])
                    for b, s in zip(self.cfg.bays, self.shapes)}

    def snapshot(self, bay_id: str | None) -> str | None:
        """Store the latest frame (annotated with the bay) as evidence now."""
        take = self.prepare_snapshot(bay_id)
        return take() if take is not None else None

    def prepare_snapshot(self, bay_id: str | None, caption: bool = True) -> Callable[[], str] | None:
        """What a snapshot shows, fixed now under the lock (a copy of the latest frame, the bay, its visit, the
        time); the call returned draws, encodes and stores it, under no lock (None: no frame or no store).
        ``caption=False``: the frame as the camera gave it (the installer pages' picture: "teach this camera"
        guesses on it and fits the calibration on it, as the classifier sees frames; a caption hid a corner).
        Why: a snapshot asked for by the page drew the caption, encoded the JPEG and wrote it durably (an fsync:
        tens of ms on an SD card) holding the lock the camera loop needs, in the page's low-priority thread:
        the loop waited 2.4 s in 8 s for a client sending snapshots, and a busy CPU made the wait longer."""
        with self._lock:
            if self.evidence is None or self._last_frame is None:
                return None
            evidence, frame = self.evidence, self._last_frame.copy()
            shape = next((s for s in self.shapes if s.bay_id == bay_id), None)
            m = self.machines.get(bay_id) if bay_id else None
            polygon = shape.polygon.tolist() if shape else None
            visit = m.visit.visit_id if m and m.visit else None
            models_dir = self.cfg.perception.models_dir
            lines = snapshot_lines(bay_id, iso(self.clock.now()), language(self.cfg.web.language, models_dir))
            # a bay's snapshot is shown on its card to every reviewer: with ``evidence.photo: bay`` it shows what a
            # visit's photo shows, the bay and a tenth around it; the whole view (the neighbours' cars and plates,
            # passers-by) is the installer's picture only (PIPL's minimum scope; probe newuser36)
            cut = caption and polygon is not None and self.cfg.evidence.photo == "bay"

        def take() -> str:
            img, drawn = frame, polygon
            if cut and drawn is not None:
                img, drawn, _ = around_bay(frame, drawn, None)
                if img is frame:  # the bay is not on this picture (a frame of another aspect): not the whole view
                    raise ControlError("bay_not_in_view", f"bay {bay_id} is not in the camera's picture "
                                       f"({frame.shape[1]}x{frame.shape[0]}): no snapshot (the whole view is not put in its place)")
            img = annotate(img, drawn, None, lines, models_dir=models_dir, band=cut) if caption else frame
            return evidence.save(bay_id, visit, "snapshot", encode_jpeg(img), None)

        return take

    # ---- internals ----------------------------------------------------------------------
    def _reads_due(self, now: float) -> set[str] | None:
        """The bays whose plate reads are due now (an empty set: the idle probe), or None.

        A bay with something unidentified in it is read, backing off while it stays unidentified
        (plates are often not visible from the camera): every frame for ``read_fast_s``, then once a
        second until ``read_medium_s``, then every ``read_slow_every_s``. A new arrival or a big
        change in the bay starts again at every frame. "Every frame" skips frames that cannot tell
        anything new: when the last run read no plate in the bay and the bay has not changed since
        (the change gate's ``gate_fraction``), the same pixels would give the same nothing, so such
        a bay is read once a second until it changes; past ``read_fast_s`` such a bay waits
        ``read_slow_every_s`` at once (once a second is for a bay that changed). A plate read there
        keeps every frame coming (the votes that identify the visit). A visit the camera does not see (plates
        opened it, the classifier says empty) is read once a second: the reads are what keeps it
        alive. The whole frame is probed every ``probe_s`` (a plate before the classifier sees a car)."""
        occ = self.cfg.occupancy
        due: set[str] = set()
        for b, m in self.machines.items():
            v = self.fusion[b].verdict
            since = now - self._last_read.get(b, float("-inf"))
            every = VOUCH_READ_EVERY_S if self._vouching(b) else float("inf")
            busy = (v.occupied or (v.p_occupied is not None and v.p_occupied > occ.exit_p)
                    or not m.idle) and (m.visit is None or m.visit.consensus is None)
            if busy:
                # The back-off restarts at a new arrival (a visit it did not start for) or a big change in the
                # bay (``_classify``), not each time the bay turns busy again: a doubtful bay whose reading hovers
                # at exit_p (0.30, 0.31, 0.30 on PKLot's sensor noise) dropped out of "busy" for a frame and came
                # back on a fresh fast spell, read once a second for ever instead of every read_slow_every_s.
                # A visit that opens while the fast spell that began with the car's coming runs is that arrival.
                vid = m.visit.visit_id if m.visit is not None else None
                if b not in self._read_since or (vid is not None and self._read_visit.get(b) != vid
                                                 and now - self._read_since[b] >= occ.read_fast_s):
                    self._read_since[b] = now
                self._read_visit[b] = vid
                age = now - self._read_since[b]
                if age < occ.read_fast_s:
                    new = b in self._read_text or self._changed_since_read(b)
                    every = min(every, 0.0 if new else 1.0)
                elif (age < occ.read_medium_s and since >= 1.0 - 1e-6  # under 1 s neither pace is due: no compare
                      and (b in self._read_text or self._changed_since_read(b))):
                    every = min(every, 1.0)
                else:
                    every = min(every, occ.read_slow_every_s)
            if every < float("inf") and since >= every - 1e-6:
                due.add(b)
        if due or now - self._last_probe >= occ.probe_s - 1e-6:
            return due
        return None

    def _changed_since_read(self, bay: str) -> bool:
        """Whether the bay's pixels changed since the detector last ran over it (or it never did)."""
        grey = self._grey
        return grey is None or self.gate.changed(grey, bay, "read") >= self.cfg.occupancy.gate_fraction

    def _read_regions(self, bays: set[str], frame: tuple[int, int]) -> list[Region] | None:
        """Where the detector looks for ``bays``: each bay's bounding box grown by ``READ_PAD`` of its
        size (a plate on the bumper, the context the detector needs) and by ``assign_margin_px``, boxes
        that overlap or lie close merged (``merge_boxes``). None (the whole frame) for the idle probe or
        when they cover most of the frame. A plate outside them could not be assigned to these bays anyway."""
        if not bays:
            return None
        h, w = frame
        margin = self.cfg.occupancy.assign_margin_px
        boxes = []
        for s in self.shapes:
            if s.bay_id in bays:
                x, y, bw, bh = s.rect
                pad = READ_PAD * max(bw, bh) + margin
                x1, y1 = max(0, int(x - pad)), max(0, int(y - pad))
                x2, y2 = min(w, int(x + bw + pad) + 1), min(h, int(y + bh + pad) + 1)
                if x2 > x1 and y2 > y1:
                    boxes.append((x1, y1, x2, y2))
        regions = merge_boxes(boxes)
        if not regions or sum((r[2] - r[0]) * (r[3] - r[1]) for r in regions) > READ_REGION_MAX * w * h:
            return None
        return regions

    def _covered(self, regions: list[Region] | None) -> list[str]:
        """The bays detector runs over ``regions`` read (every bay for the whole frame)."""
        if regions is None:
            return list(self.machines)
        return [s.bay_id for s in self.shapes
                if any(s.rect[0] >= x1 and s.rect[1] >= y1 and s.rect[0] + s.rect[2] <= x2 and s.rect[1] + s.rect[3] <= y2
                       for x1, y1, x2, y2 in regions)]

    def _vouching(self, bay: str) -> bool:
        """An open visit the classifier has not once called occupied: plate reads (and the sensor)
        vouch for it. A visit the camera did see ends as the camera says (no extra hold)."""
        visit = self.machines[bay].visit
        if visit is None:
            return False
        if self.fusion[bay].verdict.occupied:
            self._camera_saw[bay] = visit.visit_id
        return self._camera_saw.get(bay) != visit.visit_id

    def _keep_best(self, bay: str, image: np.ndarray, r: PlateRead) -> None:
        best = self._best.get(bay)
        if best is None or r.confidence > best[0]:
            visit = self.machines[bay].visit
            identified = visit is not None and visit.consensus is not None  # its frame's photo is written
            self._best[bay] = (r.confidence, None if identified else image, r)

    def _step_all(self, present: Mapping[str, bool | None], reads: dict[str, list[PlateRead]],
                  camera: bool = False) -> list[Event]:
        out = {}
        for b, m in self.machines.items():
            was_idle = m.idle
            # an arrival needs its presence backed: "occupied" held by the band after a passer-by's readings is not
            backed = not (camera and m.visit is None and self.fusion[b].camera_leans_empty)
            out[b] = m.step(present[b], reads.get(b, ()), self._moved_at.get(b), backed)
            if was_idle and m.idle:
                self._best.pop(b, None)  # nothing there: forget a passer-by's picture
            self._note_sensed(b, m)
        published = self._publish_all(out)
        for b in [b for b in self._unmeasured if present.get(b) is False or out.get(b)]:
            self._unmeasured.discard(b)
            if not out[b]:  # measured empty, no event: the start's "unknown" becomes "free"
                self.bus.publish_state(self.machines[b].state())
        return published

    def _note_sensed(self, bay: str, m: BayMachine) -> None:
        """Whether the bay's presence sensor has reported the car of its open visit (``sensed``): "vehicle" held as
        long as the camera's bar for a car come to rest. Why: one reading made the record, and someone walking through
        the beam once during the visit of a car off it made that sensor's "clear" end the next start's wait under a
        drop too small to tell: the arm rose under the car (probe review97)."""
        if m.visit is None:
            self._sensed.pop(bay, None)
            self._in_beam.pop(bay, None)
        elif self._sensed.get(bay) != m.visit.visit_id:
            now = self.clock.monotonic()
            if self.feed.read_sensor(bay) is not True:
                self._in_beam.pop(bay, None)
            elif held(self._in_beam.setdefault(bay, now), now,
                      max(SEEN_PARKED_S, self.cfg.timers.arrival_confirm_s)):
                self._sensed[bay] = m.visit.visit_id

    def _publish_all(self, per_bay: dict[str, list[Event]]) -> list[Event]:
        published: list[Event] = []
        for bay, events in per_bay.items():
            m = self.machines[bay]
            for ev in events:
                if ev.type == EventType.VEHICLE_ARRIVED and bay not in self._seen_empty:
                    # the classifier never saw this bay empty: the car was there when we started looking
                    ev = dataclasses.replace(ev, data={**ev.data, "parked_at_start": True})
                if ev.type in EVIDENCE_EVENTS:
                    ev = dataclasses.replace(ev, evidence_id=self._save_evidence(bay, ev))
                if ev.type == EventType.VEHICLE_IDENTIFIED and bay in self._best:  # photo written: the frame
                    self._best[bay] = (self._best[bay][0], None, self._best[bay][2])  # goes, the read stays
                self.bus.publish(ev)
                published.append(ev)
                if ev.type == EventType.VEHICLE_DEPARTED:
                    self._best.pop(bay, None)
            if events:
                self.bus.publish_state(m.state())
        return published

    def _save_evidence(self, bay: str, ev: Event) -> str | None:
        if self.evidence is None:
            return None
        best = self._best.get(bay)
        read = best[2] if best else None
        image, corners = (best[1], best[2].corners) if best and best[1] is not None else (self._last_frame, None)
        if ev.type == EventType.VIOLATION_STARTED and self._last_frame is not None:
            image, corners = self._last_frame, None  # the car still there now; the crop shows the plate
        if image is None:
            return None
        d = ev.data
        violation = ev.type == EventType.VIOLATION_STARTED
        verdict = "violation" if violation else ("ok" if d.get("nev") else "unknown")
        plate = d.get("plate")
        m = self.machines[bay]
        vd = m.visit.verdict if m.visit else None
        lines = event_lines(ev.type, bay, d, vd.nev if vd is not None else None, ev.ts,
                            language(self.cfg.web.language, self.cfg.perception.models_dir),
                            vd.reason if vd is not None else None)
        shape = next(s for s in self.shapes if s.bay_id == bay)
        polygon: list[list[float]] = shape.polygon.tolist()
        marks: Sequence[Sequence[float]] | None = corners
        cut = self.cfg.evidence.photo == "bay"
        if cut:
            # the crop holds the visit's best read plate even on the violation's later frame (the car is parked)
            image, polygon, marks = around_bay(image, polygon, corners, read.corners if read is not None else None)
        try:
            img = annotate(image, polygon, marks, lines, verdict, self.cfg.perception.models_dir, band=cut)
            q = self.cfg.evidence.jpeg_quality
            crop = encode_jpeg(read.crop, q) if read is not None and read.crop is not None else None
            return self.evidence.save(bay, ev.visit_id, ev.type, encode_jpeg(img, q), crop, plate,
                                      {"event_id": ev.event_id, **d})
        except EvidenceSkipped:  # the disk is full: the store counted and logged it; the event goes on
            return None
        except Exception:  # evidence is worth a lot, but never the event itself
            log.exception("saving evidence for %s failed", ev.type)
            return None

    def _on_lock_moved(self, ev: Event) -> None:
        state = (ev.data or {}).get("state")
        if not ev.bay_id or state not in ("up", "down", "moving", "fault"):
            return
        self.feed.note_lock(ev.bay_id, state)
        m = self.machines.get(ev.bay_id)
        if m is None:
            return
        # no self._lock here: the bus holds no lock while it calls us, but a lock-stage thread can
        # publish this while still holding its interlock's lock, and the frame loop takes ours before
        # the interlock's (bay events → lock controller) — taking ours here could deadlock. One
        # field is set.
        if m.lock != state:
            m.lock_moved(state)
            self.bus.publish_state(self._told(m))
