"""Bays, timers, occupancy tuning and plate lists (owned by the bays stage).

Checks that need another section (polygon inside the camera frame, lock ids that exist)
live in ``models.AgentConfig``'s validator; the rest is here, next to the fields. The lock↔bay
rules have one owner, ``cross_section_problems``; ``lock_bays`` then reads the pairing from a
config that passed them (the lock stage relies on it and checks nothing again).
"""

from __future__ import annotations

import difflib
import logging
import math
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from edge_agent.config.base import Ident, StrictModel, load_warning, problems_at
from edge_agent.config.camera import live_camera_problem
from edge_agent.config.errors import key_path
from edge_agent.config.pins import describe, header_pin
from edge_agent.config.polygon import Point
from edge_agent.config.polygon import edges_cross as _edges_cross
from edge_agent.config.polygon import polygon_area as _polygon_area
from edge_agent.config.suggest import CUTOFF
from edge_agent.plates import not_a_plate
from edge_agent.quad import MAX_COORD_PX, quad_problem

log = logging.getLogger(__name__)


MAX_POLYGON_POINTS = 64  # a bay is four corners and a few clicks along its sides, not a traced outline


class BayConfig(StrictModel):
    id: Ident
    polygon: list[Point] = Field(..., max_length=MAX_POLYGON_POINTS,
                                 description="bay outline in image pixels, in order around the bay")
    charger_id: str | None = None
    lock_id: str | None = None

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError("needs at least 3 points")
        # comparisons written so that a NaN fails them (the base model already refuses NaN;
        # this stays right for a polygon built without validation)
        if not all(x >= 0 and y >= 0 for x, y in v):
            raise ValueError("points must have non-negative pixel coordinates")
        # before the geometry below: past ~1e305 its products overflow to inf, and [[40, 300], [1e308, 300], …] was
        # refused as "points are in a line" (the installer page's save, a config)
        if not all(x <= MAX_COORD_PX and y <= MAX_COORD_PX for x, y in v):
            raise ValueError(quad_problem(v) or f"a point is beyond any camera frame (over {MAX_COORD_PX:g} px)")
        crossing = _edges_cross(v)
        if crossing:
            i, j = crossing
            raise ValueError(f"the side from point {i} to point {i + 1} crosses the one from point {j} to point "
                             f"{(j + 1) % len(v)}: list the points in order around the bay")
        if not _polygon_area(v) >= 1.0:
            raise ValueError("points are in a line (the polygon encloses under 1 square pixel)")
        problem = quad_problem(v)  # the crop's own rule: accepted here means the classifier can crop it
        if problem:
            raise ValueError(problem)
        return v


class TimersConfig(StrictModel):
    """Ceilings keep each timer a timer: a confirmation of minutes, a grace of at most a day (1e300 s
    was accepted and meant "never")."""

    arrival_confirm_s: float = Field(3.0, ge=0, le=60, description="vehicle present this long → vehicle_arrived")
    arrival_settle_s: float = Field(1.0, ge=0, le=10, description="…and the bay at rest (nothing moving in it) this "
                                    "long: a car driving past is not parking; 0: presence alone")
    arrival_settle_max_s: float = Field(3.0, ge=0, le=60, description="the longest an arrival waits after "
                                        "arrival_confirm_s for the bay to come to rest (people getting out move too)")
    departure_confirm_s: float = Field(10.0, ge=0, le=600, description="bay empty this long → vehicle_departed")
    fuel_grace_s: float = Field(120.0, ge=0, le=86_400, description="fuel car parked this long → violation")
    unidentified_timeout_s: float = Field(300.0, ge=0, le=86_400, description="no plate read this long → violation")
    overstay_s: float = Field(900.0, ge=0, le=86_400, description="charger finished and still parked this long → overstay")


DEPRECATED_OCCUPANCY_KEYS = ("change_threshold", "enter_fraction", "exit_fraction", "learn_rate")


class OccupancyConfig(StrictModel):
    """How the per-bay classifier, plate reads and a presence sensor decide that a bay holds a vehicle.

    The classifier gives p_occupied per bay crop; a bay becomes occupied after ``confirm_frames``
    classifications at or above ``enter_p`` and empty after as many at or below ``exit_p``; in
    between it keeps its verdict but is not *confident* (the lock interlock then refuses to raise).
    """

    model: str = Field("occupancy.onnx", min_length=1, description="classifier file in perception.models_dir")
    calibration: str | None = Field(None, min_length=1, description="per-site head from `edge-agent occupancy "
                                    "calibrate` (absolute, or relative to data_dir); none: the shipped head")
    # Why a key: the page offers a calibration only from pictures spanning ``occupancy.site.LIGHT_SPAN_H`` of the day
    # (one light fitted, another misread), so an indoor camera was never offered one
    steady_light: bool = Field(False, description="the bays are under one light at every hour (indoors, lamps always "
                               "on, no daylight reaching them): the installer page offers a calibration from pictures "
                               "taken at any hours")
    enter_p: float = Field(0.7, gt=0, le=1, description="p_occupied at or above this counts toward 'occupied'")
    exit_p: float = Field(0.3, ge=0, lt=1, description="p_occupied at or below this counts toward 'empty'")
    confirm_frames: int = Field(2, ge=1, le=50, description="consecutive classifications that change the verdict")
    classify_every_s: float = Field(1.0, gt=0, le=2.0, description="classify every bay at least this often "
                                    "(the interlock needs a fresh verdict)")
    still_confirm_s: float = Field(300.0, ge=0, le=86400, description="a verdict change with nothing moving in "
                                   "the bay since the verdict was last backed (a shadow, dusk) must last this long; "
                                   "0: confirm_frames alone")
    doubt_confirm_s: float = Field(600.0, ge=0, le=86400, description="readings that stay in the doubt band between "
                                   "exit_p and enter_p, below its midpoint, turn an 'occupied' verdict 'empty' after "
                                   "this long (not confidently; never the other way); 0: the band holds a verdict "
                                   "for ever")
    gate_threshold: float = Field(18.0, gt=0, le=255, description="grey-level difference the change gate counts on a "
                                  "clear view; scaled down with the view's contrast (fog, dusk), to a third at least")
    gate_fraction: float = Field(0.04, gt=0, le=1, description="changed share of a bay that makes it be classified "
                                 "now instead of at its next periodic turn")
    big_change_fraction: float = Field(0.25, gt=0, le=1, description="changed share that restarts fast plate reading")
    read_fast_s: float = Field(8.0, ge=0, le=600, description="an unidentified visit is read every frame this long (a "
                               "still bay whose last read found no plate: once a second)")
    read_medium_s: float = Field(60.0, ge=0, le=3600, description="then once a second until this long (a bay "
                                 "unchanged since a read that found no plate: every read_slow_every_s)")
    read_slow_every_s: float = Field(5.0, gt=0, le=600, description="then every this many seconds")
    plate_hold_s: float = Field(1.0, ge=0, le=60, description="a plate read counts as presence this long")
    identify_reads: int = Field(3, ge=1, le=50, description="plate reads a visit needs before it is identified")
    probe_s: float = Field(10.0, gt=0, le=300, description="run the plate detector at least this often, even when idle")
    assign_margin_px: float = Field(8.0, ge=0, le=500, description="a plate this close outside a bay still belongs to it")

    @property
    def leans_empty_below(self) -> float:
        """The doubt band's midpoint: a reading under it leans "empty" (the doubt rule, an arrival's backing)."""
        return 0.5 * (self.enter_p + self.exit_p)

    @model_validator(mode="before")
    @classmethod
    def _drop_deprecated(cls, data, info: ValidationInfo):  # noqa: ANN001, ANN206 - raw YAML mapping
        """The change-fraction keys of the old reference-picture model: accepted, ignored, warned about."""
        if isinstance(data, dict):
            old = [k for k in DEPRECATED_OCCUPANCY_KEYS if k in data]
            if old:
                load_warning(info, log, f"occupancy: {', '.join(old)} no longer used (the per-bay classifier "
                             "decides); remove them")
                data = {k: v for k, v in data.items() if k not in old}
        return data

    @model_validator(mode="after")
    def _between_keys(self) -> OccupancyConfig:
        """After the fields, so a default takes part: ``enter_p: 0.2`` alone is below the default exit_p."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if not self.exit_p < self.enter_p:
            problems.append((("exit_p",), f"must be below enter_p ({self.enter_p:g}): hysteresis"))
        if not self.read_medium_s >= self.read_fast_s:
            problems.append((("read_medium_s",), f"must be ≥ read_fast_s ({self.read_fast_s:g})"))
        if problems:
            raise problems_at(type(self).__name__, problems)
        return self


def _a_plate(text: str) -> str:
    """A list entry no GA 36 format matches can never be read from a car: a typo, which would
    silently leave an allowed NEV flagged (the MQTT ``set-lists`` and the page refuse the same)."""
    problem = not_a_plate(text)
    if problem:
        raise ValueError(problem)
    return text


class ListsConfig(StrictModel):
    allow: list[Annotated[str, AfterValidator(_a_plate)]] = Field(default_factory=list)
    deny: list[Annotated[str, AfterValidator(_a_plate)]] = Field(default_factory=list)


def cross_section_problems(cfg, info: ValidationInfo | None = None) -> list[tuple[tuple, str]]:  # noqa: ANN001
    """Checks that span sections: ``[(key path, message)]`` for ``AgentConfig``'s validator (``cfg``: an
    ``AgentConfig``, an import cycle; ``info``: its validation's, where the warnings go: ``base.load_warning``).

    Each problem names the exact key (``bays[1].polygon``) so ``check-config`` can point at it.
    """
    problems: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    for i, bay in enumerate(cfg.bays):
        if bay.id in seen:
            problems.append((("bays", i, "id"), f"duplicate bay id {bay.id!r} (also bays[{seen[bay.id]}])"))
        seen.setdefault(bay.id, i)
    drawn: dict[frozenset[tuple[float, float]], int] = {}
    locked = {b.id for b in cfg.bays if b.lock_id} | {lk.bay for lk in cfg.locks if lk.bay}
    for i, bay in enumerate(cfg.bays):  # a copied bay: one camera view judging two bays
        corners = frozenset((round(x, 1), round(y, 1)) for x, y in bay.polygon)
        first = drawn.setdefault(corners, i)
        if first == i:
            continue
        same = f"the same outline as bays[{first}] ({cfg.bays[first].id!r})"
        if {bay.id, cfg.bays[first].id} & locked:  # a lock would rise on the other bay's view: refused
            problems.append((("bays", i, "polygon"), f"{same}: one bay's view would decide both, and a lock "
                                                     "rises only on its own bay's view"))
        else:  # events twice for one car: a mistake, but no arm moves on it
            load_warning(info, log, f"bays[{i}].polygon ({bay.id}): {same}; one car will be reported in both")
    w, h = cfg.camera.width, cfg.camera.height
    if w and h:
        for i, bay in enumerate(cfg.bays):
            outside = [(x, y) for x, y in bay.polygon if not (x <= w and y <= h)]
            if outside:
                x, y = outside[0]
                problems.append(
                    (("bays", i, "polygon"), f"point ({x:g}, {y:g}) is outside the {w}x{h} camera frame")
                )
    problems += _max_age_problems(cfg)
    armed = [(i, lk) for i, lk in enumerate(cfg.locks) if lk.driver != "simulator"]
    not_live = live_camera_problem(cfg.camera.source) if armed else None
    if armed and not_live:
        # `replay` leaves the locks out of a recording; `run` drove a real arm on one: the recording's empty bay,
        # fresh to every check, raised the arm over whatever car stood in the real bay (and again at each loop). A
        # path with nothing there was retried as a camera until a clip copied there was played (camsource17).
        i, lk = armed[0]
        if not_live.startswith("a recording"):
            what = ("it would rise on the recording's picture of the bay, not on the bay as it is now; use the "
                    "camera, or driver: simulator (`replay` plays a recording without locks)")
        else:
            what = ("whatever is put there would be played as the camera; use the camera's URL (rtsp://…), its USB "
                    "index (0) or device node (/dev/video0, /dev/v4l/by-id/…), or driver: simulator")
        problems.append((("camera", "source"), f"{not_live}, and locks[{i}] ({lk.id}) drives a real arm "
                         f"({lk.driver}): {what}"))
    if cfg.locks and cfg.occupancy.confirm_frames < 2:
        # the verdict "empty" then rests on one classification, and with still_confirm_s 0 and
        # timers.departure_confirm_s 0 (both allowed) so did the departure: one reading of 0.05 in a parked car's bay
        # ended its visit, and a remote `lock` answered "raising" on it, the car still there
        problems.append((("occupancy", "confirm_frames"), "1 with locks: a bay's verdict, and with it a lock's raise, "
                         "would rest on one classification (needs ≥ 2)"))
    for i, lk in enumerate(cfg.locks):  # no second, independent witness under the arm: allowed, but said
        if lk.driver != "simulator" and lk.presence is None and lk.policy.auto_raise:
            load_warning(info, log, f"locks[{i}].presence ({lk.id}): none fitted, so the arm rises on the camera's "
                         "word alone; on lots the model never saw, up to 6 % of parked-car crops read as empty "
                         "(p <= 0.3): fit a presence sensor, or calibrate the site (docs/locks.md#camera-only-locks)")
        if lk.driver != "simulator" and lk.presence is not None and not lk.presence_clear_is_shown():
            # its "clear" is also what it says cut or dead: the restart's wait cannot take the last run's record of
            # it (``LockConfig.presence_clear_is_shown``, probe locks43), a cost the operator should hear of at once
            cost = ("so after a restart the sensor cannot vouch for an empty bay, and a bay whose car left while the "
                    "agent was stopped keeps its arm down until the next car has come and gone")
            if lk.presence.kind == "ultrasonic":  # a module that hears no echo answers "clear" (probe review103)
                load_warning(info, log, f"locks[{i}].presence.kind ({lk.id}): ultrasonic: a module that hears no echo "
                             f"(receiver dead or iced, knocked off its aim) reads as an empty bay, {cost}; a digital "
                             "sensor wired fail-safe (pin_active: clear) can (docs/wiring.md)")
            elif lk.presence.health_pin is not None:  # it watches the module, not the output's wire (probe locks45)
                load_warning(info, log, f"locks[{i}].presence.pin_active ({lk.id}): vehicle, with a health_pin: its "
                             "output wire alone coming loose reads as an empty bay while the health line stays OK, "
                             f"{cost}; wire it fail-safe (an output that conducts while the bay is clear, "
                             "pin_active: clear) (docs/wiring.md)")
            else:
                load_warning(info, log, f"locks[{i}].presence.pin_active ({lk.id}): vehicle with no health_pin: a cut "
                             f"wire or a dead sensor reads as an empty bay, {cost}; wire it fail-safe (an output that "
                             "conducts while the bay is clear, pin_active: clear); a health output (health_pin) "
                             "catches a dead module, not a cut output wire (docs/wiring.md)")
    first_lock: dict[str, int] = {}
    for i, lk in enumerate(cfg.locks):  # a second lock of one id would leave one bay silently without a lock
        if lk.id in first_lock:
            problems.append((("locks", i, "id"), f"duplicate lock id {lk.id!r} (also locks[{first_lock[lk.id]}])"))
        first_lock.setdefault(lk.id, i)
    problems += _pins_used_twice(cfg)
    lock_ids = [lk.id for lk in cfg.locks]
    # a lock no bay names nor names a bay: an unknown lock_id one slip from its id was meant for it, and is told so
    # in one line (it was two: the unknown lock and this lock "not assigned to a bay", probe newuser40)
    free = [lk.id for lk in cfg.locks if getattr(lk, "bay", None) is None and lk.id not in {b.lock_id for b in cfg.bays}]
    meant_for: set[str] = set()
    used: dict[str, str] = {}
    for i, bay in enumerate(cfg.bays):
        if bay.lock_id is None:
            continue
        if bay.lock_id not in lock_ids:
            known = ", ".join(lock_ids) or "none configured"
            meant = difflib.get_close_matches(bay.lock_id, free, n=1, cutoff=CUTOFF)
            meant_for.update(meant)
            problems.append((("bays", i, "lock_id"), f"unknown lock {bay.lock_id!r} (locks: {known})"
                                                     + (f": did you mean {meant[0]}?" if meant else "")))
        elif bay.lock_id in used:
            problems.append((("bays", i, "lock_id"), f"lock {bay.lock_id!r} is already used by bay {used[bay.lock_id]!r}"))
        used.setdefault(bay.lock_id, bay.id)
    bay_ids = [b.id for b in cfg.bays]
    by_lock = {b.lock_id: b.id for b in cfg.bays if b.lock_id}
    locked_bays: dict[str, str] = {}
    for i, lock in enumerate(cfg.locks):
        bay = getattr(lock, "bay", None)
        if bay is not None and bay not in bay_ids:
            problems.append((("locks", i, "bay"), f"unknown bay {bay!r} (bays: {', '.join(bay_ids) or 'none'})"))
            continue
        named_by = by_lock.get(lock.id)
        if bay is not None and named_by is not None and named_by != bay:
            problems.append((("locks", i, "bay"), f"{bay!r}, but bay {named_by!r} names this lock in its lock_id"))
            continue
        bay = bay or named_by
        if bay is None and lock.id in meant_for:
            continue  # the bay's unknown lock_id names it
        if bay is None:
            problems.append((("locks", i, "bay"), f"lock {lock.id!r} is not assigned to a bay "
                                                  "(set locks[].bay or the bay's lock_id)"))
        elif bay in locked_bays:
            problems.append((("locks", i, "bay"), f"bay {bay!r} already has lock {locked_bays[bay]!r}"))
        else:
            locked_bays[bay] = lock.id
    if not cfg.bays:
        problems.append((("bays",), "needs at least one bay"))
    return problems


def _max_age_problems(cfg) -> list[tuple[tuple, str]]:  # noqa: ANN001 - AgentConfig (import cycle)
    """A lock's ``occupancy_max_age_s`` must span the longest gap between two measurements, and one
    dropped frame more: else the evidence goes stale between them, and the arm never rises, or
    aborts its rise, in a bay that is plainly empty. A still bay is classified on the first frame
    ``occupancy.classify_every_s`` after the last (so gaps of whole frame periods); at 1 / fps or
    less that is every frame, and the rule is two frame periods. And no longer than ``camera.lost_after_s``
    (below)."""
    fps, every = cfg.camera.fps, cfg.occupancy.classify_every_s
    frames = max(1, math.ceil(every * fps - 1e-6))  # frame periods between two measurements of a still bay
    least = (frames + 1) / fps
    out: list[tuple[tuple, str]] = []
    lost = cfg.camera.lost_after_s
    # a slow camera (fps 0.2: ≥ 10 s) needs more than the default lost_after_s (5 s) allows: both lines then name
    # the one way out: "set it ≤ camera.lost_after_s" contradicted "needs ≥ 10s" (a site the release before ran)
    squeezed = least > lost + 1e-9
    for i, lk in enumerate(cfg.locks):
        if lk.occupancy_max_age_s >= least - 1e-9:
            continue
        why = f"two frame periods at camera.fps {fps:g}" if frames == 1 else \
            f"occupancy.classify_every_s {every:g} and one frame period at camera.fps {fps:g}"
        also = f", and camera.lost_after_s {lost:g}s raised to ≥ {least:g}s with it" if squeezed else ""
        out.append((("locks", i, "occupancy_max_age_s"),
                    f"{lk.occupancy_max_age_s:g}s is under {why} (needs ≥ {least:g}s{also})"))
    # Nor may it outlast the camera's own limit: a picture the camera keeps sending unchanged (a hung sensor under
    # its ticking on-screen clock, a hung encoder) is as old as its first arrival, and judged by this age alone
    # until camera.frozen_after_s (30 s); frames that stop are blind after lost_after_s. With 20 s (allowed, with
    # lost_after_s 5) a remote `lock` 12 s into a freeze raised the arm over the bay a car had parked in unseen.
    for i, lk in enumerate(cfg.locks):
        if lk.occupancy_max_age_s > lost + 1e-9:
            fix = f"camera.fps {fps:g} needs ≥ {least:g}s here: raise camera.lost_after_s to ≥ " \
                f"{lk.occupancy_max_age_s:g}s" if squeezed else "set it ≤ camera.lost_after_s, or raise that"
            out.append((("locks", i, "occupancy_max_age_s"),
                        f"{lk.occupancy_max_age_s:g}s is over camera.lost_after_s {lost:g}s: a picture that stops "
                        "changing (a hung sensor, its on-screen clock ticking on) would be trusted longer than a "
                        f"camera that sends no frame at all ({fix})"))
    # Where the camera looks is part of the evidence too: between two registration checks the bays are judged on
    # outlines nobody has verified. With shift_every_s 60 a camera knocked 5 s after a check (its zoom slipped)
    # read a parked NEV's bay as empty asphalt, the visit ended, and the policy raised the arm under the car at
    # 28 s, long before the next check would have blinded the bay.
    c = cfg.camera
    ages = [(i, lk.occupancy_max_age_s) for i, lk in enumerate(cfg.locks)]
    if c.track_shift and ages and c.shift_every_s > min(a for _, a in ages) + 1e-9:
        i, age = min(ages, key=lambda x: x[1])
        out.append((("camera", "shift_every_s"),
                    f"{c.shift_every_s:g}s is over locks[{i}].occupancy_max_age_s {age:g}s: a camera knocked between "
                    "two checks of where it looks has its bays judged on outlines that no longer fit, for longer than "
                    "a lock trusts any evidence (set it ≤ the shortest occupancy_max_age_s)"))
    return out


def _pins_used_twice(cfg) -> list[tuple[tuple, str]]:  # noqa: ANN001 - AgentConfig (import cycle)
    """One header pin, one job: compared by the physical pin (``config/pins.py``), so ``17``, ``"GPIO17"``
    and ``"BOARD11"`` are one pin, within a lock and across locks (two locks on one pin: GPIOPinInUse)."""
    problems: list[tuple[tuple, str]] = []
    used: dict[int, str] = {}
    for i, lk in enumerate(cfg.locks):
        for loc, pin in lk.pin_keys():
            header = header_pin(lk.driver, pin)  # valid: LockConfig checked every name
            key = key_path(("locks", i, *loc))
            if header in used:
                problems.append((("locks", i, *loc), f"{describe(lk.driver, pin, header)} is already used by "
                                                     f"{used[header]} (one pin, one job)"))
            else:
                used[header] = key
    return problems


def lock_bays(cfg) -> dict[str, str]:  # noqa: ANN001 - AgentConfig (import cycle)
    """lock id → bay id, from ``locks[].bay`` or the bay's ``lock_id``, for a *validated* config:
    ``cross_section_problems`` has made the pairing complete and one-to-one."""
    named_by = {b.lock_id: b.id for b in cfg.bays if b.lock_id}
    return {lk.id: lk.bay or named_by[lk.id] for lk in cfg.locks}
