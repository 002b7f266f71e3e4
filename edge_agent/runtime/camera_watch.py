"""The camera as the agent watches it: health (lost / frozen / restored) and shift, turned into events.

Kept apart from the frame loop so ``Agent.step`` reads as "frame in, bays judged": this unit
decides whether a frame counts, tells the bays when they are blind or misaligned, and
publishes ``camera_lost`` / ``camera_restored`` / ``camera_moved`` / ``camera_aligned``.
The bay monitor is passed per call because a config reload replaces it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edge_agent.bays.monitor import BayMonitor
from edge_agent.camera.frame_size import FitWatch, FrameSize
from edge_agent.camera.health import CameraHealth, HealthTracker
from edge_agent.camera.orient import Orientation
from edge_agent.camera.registration import (
    UNMATCHED_REPORT_S,
    Alignment,
    PlateBoxes,
    Registration,
    shares_outline,
)
from edge_agent.camera.reported import Episode, ReportedState, kind_of
from edge_agent.camera.source import FrameSource
from edge_agent.clock import Clock
from edge_agent.config.models import AgentConfig
from edge_agent.control import ControlError, ControlResult, Warp
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType

log = logging.getLogger(__name__)


def _bays(cfg: AgentConfig) -> list:
    return [[b.id, b.polygon] for b in cfg.bays]


class CameraWatch:
    def __init__(self, cfg: AgentConfig, bus: EventBus, clock: Clock, source: FrameSource,
                 hide: PlateBoxes | None = None) -> None:
        self.cfg, self.bus, self.clock, self.source = cfg, bus, clock, source
        self.hide = hide  # the plates blurred on the kept reference picture (``Registration.kept_view``)
        self._ref_dir = Path(cfg.data_dir) / "camera"  # the reference view stays where the agent started
        c = cfg.camera
        self.view = Orientation.of(c)  # as the agent turns its frames, for its life (a reload cannot change it)
        self.health = HealthTracker(clock, c.lost_after_s, c.frozen_after_s, c.black_level, c.flat_level)
        self.alignment = self._new_alignment(inherit=True)  # the bays may have been edited while it was stopped
        self._measured: Warp | None = None  # the last shift registration measured (beyond tolerance too): ``confirm``
        # counts the references the bays' placement was measured against: a shift means nothing on another one
        # (``control.InstallerView.reference``)
        self.reference = 0
        self.frame_size = self._new_frame_size(inherit=True)
        # whether the frames fit the bays' aspect ratio, debounced: blind at the first that does not, ``camera_moved``
        # once that held ``moved_confirm_s``, seen again once frames fitted as long (``FitWatch``)
        self.fit = FitWatch(c.moved_confirm_s)
        self.ok = True
        self._lost_at: float | None = None
        self._reported = ReportedState(self._ref_dir)
        # the ``camera_moved`` published and not yet closed, by this run or an earlier one (``camera/reported.py``)
        self.episode: Episode | None = self._reported.load()
        self._closing: dict | None = None  # the earlier episode's ``camera_aligned``, sent once the sinks listen
        self._resume()

    def _resume(self) -> None:
        """An episode an earlier run reported goes on: the bays are held as that run left them (moved, or
        unmatched) until a view is seen in place for ``moved_confirm_s`` (or matches again), confirmed or redrawn,
        and a view still moved says nothing new (no second ``camera_moved``). Bays redrawn while the agent was
        stopped (no outline as it was: the first frame is their reference) close it at the start, as a reload's
        redraw does. Only ever more blindness: a restored move blinds the bays until the view is measured in
        place, a restored unmatched view is read again at its first matching frame, as without the file."""
        ep = self.episode
        if ep is None:
            return
        bays = _bays(self.cfg)
        if bays != ep.bays and not shares_outline(ep.bays, bays):
            log.info("bays redrawn while the agent was stopped: the camera_moved %s an earlier run reported ends",
                     ep.event_id)
            self._closing = {"redrawn": True}
            return
        log.info("the camera_moved %s (%s) an earlier run reported goes on until the view is seen in place, "
                 "confirmed or the bays redrawn", ep.event_id, ep.kind)
        if self.alignment is not None:
            if ep.kind == "unmatched":
                self.alignment.reported_unmatched = True
            else:
                self.alignment.reported_moved, self.alignment.ok = True, False

    def _close_redrawn(self) -> None:
        """The end ``_resume`` found, published from the loop (it runs once ``Agent.start`` has the sinks listening),
        before anything the first frame says: a first frame whose reference cannot be read (``"reference_lost"``)
        opens an episode of its own, which the earlier one's ``camera_aligned`` must not close."""
        if self._closing is not None:
            self._aligned(self._closing)

    def _moved(self, data: dict) -> None:
        """Publish ``camera_moved`` and keep the episode it opens; none while an earlier run's goes on (the
        backend has it: a second one under a new ``event_id`` is a second episode to it)."""
        if self.episode is not None and self.episode.earlier:
            log.info("camera still moved (%s): the camera_moved %s an earlier run published goes on", data,
                     self.episode.event_id)
            return
        ev = Event.make(EventType.CAMERA_MOVED, self.clock, data=data)
        self.bus.publish(ev)
        if self.episode is None:
            self.episode = Episode(ev.event_id, ev.ts, kind_of(data), data, _bays(self.cfg))
            self._reported.save(self.episode)

    def _aligned(self, data: dict) -> None:
        """Publish ``camera_aligned``, closing the episode; one an earlier run reported is named
        (``earlier_run``, ``moved_event_id``: the backend may have nothing else from this run to pair it with)."""
        ep, self.episode, self._closing = self.episode, None, None
        if ep is not None and ep.earlier:
            data = {**data, "earlier_run": True, "moved_event_id": ep.event_id}
        self.bus.publish(Event.make(EventType.CAMERA_ALIGNED, self.clock, data=data))
        if ep is not None:
            self._reported.clear()

    def reconfigure(self, cfg: AgentConfig, bays_changed: bool, installer: bool = False) -> bool:
        """``_reconfigure``; an episode that goes on names the bays it now holds (a restart compares with them)."""
        anew = self._reconfigure(cfg, bays_changed, installer)
        if self.episode is not None:
            self.episode = self._reported.rebays(self.episode, _bays(cfg))
        return anew

    def _reconfigure(self, cfg: AgentConfig, bays_changed: bool, installer: bool) -> bool:
        """After a reload: redrawn bays need a new reference picture (registration starts over) and a new
        frame-size judgement. True when it starts over: the bays' outlines are then the current view's, with no
        shift to carry them by. ``installer``: the installer's Save of the bays drawn over the current picture.

        A hand edit (SIGHUP, ``reload-config``) while the view does not fit the bays (beyond tolerance, turned,
        another frame shape, or matching no reference) that leaves some outline as it was keeps the reference
        and the moved state: the new outlines are read as drawn on the reference. Why: it took the knocked view as
        the reference for every bay, the bays left alone taken as drawn on it, ``camera_aligned`` ``{"redrawn":
        true}``, and an arm could rise over ground their outlines no longer covered. Only the installer's act over
        the current picture (the page's Save, **Confirm current view**) or an edit of every outline accepts it.
        Another ``camera.width`` / ``height`` alone judges the frames' size again but keeps the registration: a
        knocked camera stays moved (it published ``camera_aligned`` then ``camera_moved`` again). So does another
        size by hand while the view does not fit (with or without a bay edited): outlines left as they were under a
        new size are the old drawing read at it, so the reference picture is kept, scaled to the new size, and the
        view judged against it (the reload took the knocked view, scaled, as the reference: ``camera_aligned``).
        The installer's Save while the view does not fit is a redraw even when it left every outline as shown (the
        page: "check every bay on this picture; Save makes it the new reference"): it was a reload that changed
        nothing, the page said "saved" and the bays stayed blind (a camera replaced while the agent was stopped,
        ``camera_unmatched``, had no way out on the page).
        A hand edit that keeps some outline keeps the reference with the view in place (followed within tolerance)
        too, as a restart does (``Registration`` ``inherit``): it took the current view as the reference, and the
        outlines left as they were, drawn on the old one, moved with it by the whole followed shift (16 px: a
        parked car read empty in 1.7 % of PKLot crops, none in place)."""
        before, self.cfg = self.cfg, cfg
        self.fit.confirm_s = cfg.camera.moved_confirm_s
        if self.alignment is not None and cfg.camera.masks != before.camera.masks:  # burnt-in text left out anew
            self.alignment.reg.set_masks(cfg.camera.masks)
        sized = (cfg.camera.width, cfg.camera.height) != (before.camera.width, before.camera.height)
        bays_changed = bays_changed or (installer and self.placement != "ok")
        placement = self.placement
        if (bays_changed or sized) and not installer and (placement != "ok" or not sized) \
                and shares_outline(_bays(before), _bays(cfg)):
            was, self.frame_size = self.frame_size.expected, self._new_frame_size(self.frame_size)
            if self.alignment is not None:
                self.alignment.reg.keep_for([[b.id, b.polygon] for b in cfg.bays], self.frame_size.expected)
            if self.frame_size.expected != was:
                self.reference += 1  # the same picture in other pixels: a shift measured on the old ones means nothing
            if placement == "ok":  # followed within tolerance: the outlines kept stay where the camera sees them
                self.reference += 1  # as when a hand edit took a new one: a Save from a picture of the old bays is stale
                log.info("bays edited by hand, some outlines as they were: their reference picture is kept, every "
                         "outline read as drawn on it (the installer page's Save draws on the current view)")
                return False
            log.warning("bays%s edited while the camera's view does not fit them: their reference picture is kept%s, "
                        "the outlines read as drawn on it; confirm the view or redraw the bays on the installer page",
                        " (their frame size)" if sized else "", " (scaled to the new size)" if sized else "")
            return False
        if sized and not bays_changed:
            was, self.frame_size = self.frame_size.expected, self._new_frame_size(self.frame_size)
            if self.frame_size.expected == was:  # the same size (a key taken out): the bays fit as they did
                return False
            if was is not None and self.frame_size.expected is not None:
                log.warning("camera.width/height now %dx%d (was %dx%d) and no outline changed: the outlines are read "
                            "as pixels of the new size, on the current view as their reference; redraw the bays on "
                            "the installer page if they were drawn on the old size", *self.frame_size.expected, *was)
            self.reference += 1  # registration takes its reference at the new size (``Registration.measure``)
            return True  # whether the frames fit it, and so any banner, the next frame says (``_size_changed``)
        if bays_changed:
            was_moved = self.moved or (self.alignment is not None and self.alignment.reported_unmatched)
            if installer and self.alignment is not None:  # drawn over the current picture: its reference is new
                self.alignment.reg.forget()
            self.alignment, self._measured = self._new_alignment(), None
            self.reference += 1
            # drawn over frames that fitted (scaled to the bays' size, as the page shows them): that size; over
            # frames of another shape (the page shows them as they come): the next frame's
            self.frame_size = self._new_frame_size(self.frame_size if self.fit.last else None)
            self.fit = FitWatch(cfg.camera.moved_confirm_s)  # judged again from the next frame
            if was_moved or self._closing is not None:  # the bays now fit the view they were drawn on: the banner goes
                self._aligned({"redrawn": True})
            return True
        return False

    def _new_alignment(self, inherit: bool = False) -> Alignment | None:
        """``inherit``: at the start, a stored reference of bays sharing an outline with these is theirs
        (``Registration``); after a redraw or a confirmation the next frame is the reference."""
        c = self.cfg.camera
        if not c.track_shift:
            return None
        reg = Registration(c.shift_tolerance_px, [[b.id, b.polygon] for b in self.cfg.bays], self._ref_dir, self.view,
                           inherit=inherit, hide=self.hide)
        reg.set_masks(c.masks)
        return Alignment(reg, c.moved_confirm_s, c.shift_every_s)

    def _new_frame_size(self, before: FrameSize | None = None, inherit: bool = False) -> FrameSize:
        """The bays' frame size: the config's, else the one stored for these bays, else the one they ran under
        (``before``), else the next frame's. Why not the next frame's after a reload: an edit that added a bay or
        took ``camera.width`` / ``height`` out adopted whatever the camera sent then (a 4:3 sub-stream, a 720p
        stream under bays drawn on 1080p) as the size every bay was drawn on. ``inherit`` (at the start): the size
        stored for bays that share an outline with these, edited while the agent was stopped, as a reload keeps it."""
        c = self.cfg.camera
        configured = (c.width, c.height) if c.width is not None and c.height is not None else None
        size = FrameSize(configured, [[b.id, b.polygon] for b in self.cfg.bays], self.view.key, self._ref_dir,
                         inherit=inherit)
        if size.expected is None and before is not None and before.expected is not None:
            size.adopt(before.expected)
        elif size.expected is None and before is not None and before.lost is not None:  # still unknown: blind
            size.lost = before.lost
        return size

    def accept(self, image: Any, monitor: BayMonitor, captured: float | None = None) -> tuple[Any, CameraHealth | None]:
        """A new frame → (the frame at the bays' size, its health if it counts; None: a frame that is
        no image, counted as corrupt). Aligns the bays; a frame of another aspect ratio blinds them. ``captured``:
        the frame's capture time (``Frame.t``): its age is from then (``HealthTracker.on_frame``)."""
        self._close_redrawn()
        if not self.health.on_frame(image, captured):
            return image, None
        fit = self.frame_size.fit(image, self.clock.monotonic())
        image = fit.image
        self._size_changed(fit.fits, fit.size, monitor)
        if not fit.fits and self.alignment is not None:
            self.alignment.unmeasured()
            self._measured = None  # a shift measured on frames of the bays' shape places nothing on these
        if fit.fits:  # how many of the camera's own pixels each bay has: fewer on a sub-stream scaled up to the
            monitor.set_source_scale(min(1.0, fit.size[0] / image.shape[1]))  # bays' size, never more than drawn
        h = self.health.health()
        if h.ok and fit.fits:
            self._align(image, monitor)
        return image, h

    def _size_changed(self, fits: bool, size: tuple[int, int], monitor: BayMonitor) -> None:
        """Blind the bays at the first frame that does not fit them; say so (once) when that doubt held
        ``moved_confirm_s``; lift it once frames fitted as long (``FitWatch``). Why not at once both ways: a camera
        flipping between two stream profiles every frame was a ``camera_moved`` / ``camera_aligned`` pair per flip."""
        report = self.fit.update(fits, self.clock.monotonic())
        if self.fit.blind:
            if monitor.aligned:  # also a reload's new monitor: it starts aligned
                monitor.set_aligned(False)
            if report == "moved":
                want = self.frame_size.expected
                self._moved({"frame_size": list(size), "bays_frame_size": list(want) if want else None})
            return
        if report is None:
            return
        monitor.set_aligned(self.alignment is None or self.alignment.ok)
        if report == "aligned" and not (self.alignment is not None and self.alignment.reported_moved):
            self._aligned({"frame_size": list(size)})

    def check(self, monitor: BayMonitor) -> None:
        """Once per loop turn: ``camera_lost`` / ``camera_restored`` when health flips (and, the first turn, the
        end of an episode an earlier run reported on bays redrawn since: ``_resume``)."""
        self._close_redrawn()
        self.health.reconnects = self.source.reconnects  # the reader counts them; health() reports them
        self.health.source_corrupt = getattr(self.source, "corrupt", 0)  # frames the reader could not decode
        h = self.health.health()
        if h.ok == self.ok:
            return
        self.ok = h.ok
        now = self.clock.monotonic()
        if not h.ok:
            self._lost_at = now
            ev = Event.make(EventType.CAMERA_LOST, self.clock, data={"reason": h.reason,
                            "last_frame_age_s": h.last_frame_age_s, "reconnects": self.source.reconnects})
        else:
            blind = None if self._lost_at is None else round(now - self._lost_at, 1)
            ev = Event.make(EventType.CAMERA_RESTORED, self.clock, data={"blind_s": blind, "fps": h.fps})
        monitor.camera(h.ok, h.reason)
        self.bus.publish(ev)

    def _align(self, image: Any, monitor: BayMonitor) -> None:
        """Camera shift: bays follow a small one; a large one is ``camera_moved`` and blinds the bays."""
        if self.alignment is None:  # not tracked (a reload may have turned it off under an unmatched view)
            monitor.set_matched(True)
            if self.episode is not None and self.episode.earlier and not self.fit.blind:  # tracking turned off
                self._aligned({"frame_size": [image.shape[1], image.shape[0]]})  # says moved but the frame's size
            return
        shift, report = self.alignment.update(image, self.clock.monotonic())
        if shift is not None or not self.alignment.matched:  # (None, None) for a frame skipped: the last one stands
            self._measured = shift.warp if shift is not None else None
        monitor.set_matched(self.alignment.matched, self.alignment.held)
        if shift is not None and self.alignment.ok:
            monitor.set_warp(shift.warp)
        aligned = self.alignment.ok and not self.fit.blind  # frame sizes in doubt: blind whatever the shift
        if monitor.aligned != aligned:
            monitor.set_aligned(aligned)
        if report == "turned":  # the bays were drawn on another view: nothing was measured, the view says it
            self._moved({"turned": True, "rotate": self.view.rotate, "flip": self.view.flip})
        elif report == "lost":  # the reference of these bays cannot be read: the view they fit is unknown
            self._moved({"reference_lost": True})
        elif report == "unmatched":  # matched nothing for a minute: turned away, replaced, blocked or too dark
            self._moved({"unmatched": True, "unmatched_s": round(UNMATCHED_REPORT_S, 1)})
        elif report is not None and shift is not None:  # "matched": the view matches its reference again, in place
            data = {"dx": round(shift.dx, 1), "dy": round(shift.dy, 1), "shift_px": round(shift.px, 1),
                    "tolerance_px": self.cfg.camera.shift_tolerance_px}
            if report == "moved":
                self._moved(data)
            else:
                self._aligned({"unmatched": True, **data} if report == "matched" else data)

    @property
    def moved(self) -> bool:
        """Reported ``camera_moved`` and not yet aligned or confirmed (the live page's banner), by this run or, the
        view not yet measured without shift tracking, an earlier one (``_resume``)."""
        if self.alignment is not None:
            return self.fit.reported or self.alignment.reported_moved
        ep = self.episode
        return self.fit.reported or (ep is not None and ep.earlier and ep.kind != "unmatched" and self._closing is None)

    @property
    def placement(self) -> str:
        """How far the bays' placement on the current view can be trusted (``control.InstallerView.camera``):
        ``moved`` (beyond tolerance, turned, another frame shape: blind, also before it is reported), ``unmatched``
        (the last view measured matched no reference) or ``ok`` (in place, followed, or not tracked)."""
        if self.moved or self.fit.blind or (self.alignment is not None and not self.alignment.ok):
            return "moved"
        if self.alignment is not None and not self.alignment.matched:
            return "unmatched"
        return "ok"

    @property
    def measured(self) -> Warp | None:
        """The shift registration last measured (drawn px → the view's px; beyond tolerance too), None: none (not
        tracked, or the view matches no reference): where the bays' ground lies on the view as it is now."""
        return self._measured

    def confirm(self, monitor: BayMonitor) -> ControlResult:
        """The installer confirmed that the bays fit the current view: it becomes the reference (and,
        when the size was learned from the frames, its frame size the bays' size). ``camera_aligned``
        ``{"confirmed": true}`` ends a reported move; a view that matched no reference (never a ``camera_moved``:
        it can flicker so for a frame) adds ``"unmatched": true``. Why: such a confirmation left only the audit row,
        and a backend tracking the camera's health never heard it come back. So did one of a shift beyond tolerance
        confirmed before ``moved_confirm_s`` reported it."""
        frame = monitor._last_frame
        if frame is None or (self.alignment is None and not self.fit.blind):
            raise ControlError("no_frame", "no camera frame yet (or camera.track_shift is off)")
        if self.alignment is not None and not self.alignment.reg.matchable(frame):
            raise ControlError("view_unmatchable", "the current view has too little in it to match later views "
                               "against (too dark, covered or blurred): light or clear it, then confirm again")
        was = self.placement  # "moved" also while a reported move or another frame shape stands
        if self.alignment is not None and self.alignment.reported_unmatched:  # matching again, not yet reported
            was = "unmatched"
        if was != "ok" and self.fit.last and self._measured is None and (cars := monitor.holding_cars()):
            # no shift measured (a view that matches no reference): where each outline lies on the ground is unknown,
            # so no car can keep the ground it stood on (``confirming``). Confirmed anyway, a bay's outline beside its
            # parked car read free and the arm rose under the car 23 s later. (Frames of another shape: the change
            # gate keeps a parked car's reading held over the new size, ``test_vision_paths``.)
            raise ControlError("cars_unplaced", f"bay(s) {', '.join(cars)} hold a car and this view matches no "
                               "reference, so where those cars stand on it is unknown: their locks could rise under "
                               "them. Redraw the bays on the installer page (Save), or confirm once those bays are "
                               "empty (a bay that waits for a car to be seen there, bay_redrawn, only once one has "
                               "come and gone)")
        if not self.fit.last:  # the frame shown (and confirmed) is of another shape
            size, want = (frame.shape[1], frame.shape[0]), self.frame_size.expected
            if not self.frame_size.learned and want is not None:
                raise ControlError("frame_size", f"the camera sends {size[0]}x{size[1]} frames but camera.width/"
                                   f"height say {want[0]}x{want[1]}: set the camera back, or redraw the bays "
                                   "on the installer page (it saves the new size with them)")
            self.frame_size.adopt(size)
        self.fit = FitWatch(self.cfg.camera.moved_confirm_s)  # the view is vouched for: sizes judged anew from here
        if was != "ok" and self._measured is not None:  # the outlines move over the scene: cars keep their ground
            monitor.confirming(self._measured)
        self._measured = None
        if self.alignment is not None:
            self.alignment.reg.confirm(frame)
            self.alignment = self._new_alignment()
        self.reference += 1
        monitor.set_offset(0.0, 0.0)
        monitor.set_matched(True)  # the confirmed view is the reference: it matches itself
        monitor.set_aligned(True)
        if was == "unmatched":  # ``unmatched`` says what the installer ended (reported or not yet)
            self._aligned({"confirmed": True, "unmatched": True})
        elif was != "ok" or self.episode is not None:  # a reported move, and a shift beyond tolerance not yet
            self._aligned({"confirmed": True})  # held ``moved_confirm_s``; an earlier run's episode, whatever the view
        return ControlResult(True, "camera view confirmed as the new reference")
