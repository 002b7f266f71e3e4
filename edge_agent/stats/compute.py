"""Per bay, per local day: occupancy, charging, visits by kind, violations, dwell — from stored events.

Pure: event rows in, figures out; the days are the site's (``site.timezone``), so a visit over
midnight counts on both days by the minute. Nothing is kept between calls, so a restart of the agent
changes nothing: the stored events are the truth. How visits are rebuilt:

* a visit runs from ``vehicle_arrived`` to ``vehicle_departed`` (same ``visit_id``); one left open
  (the agent stopped mid-visit) ends at the bay's next arrival, else at the end of the window / now;
* its kind comes from ``vehicle_identified`` (``nev`` true → NEV, false → fuel), else unidentified;
* a violation runs from ``violation_started`` to ``violation_ended`` (or the visit's end); one a
  reviewer dismissed (the violation log's decision) is not counted: figures follow the decision now;
* charging is where the bay's last ``charger_status`` is ``charging`` *and* a vehicle is parked;
  a bay whose charger never reported has no charging figures (None), not zero, nor has a day before
  its first report.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

ARRIVED, IDENT, DEPARTED = "vehicle_arrived", "vehicle_identified", "vehicle_departed"
V_START, V_END, CHARGER = "violation_started", "violation_ended", "charger_status"
TYPES = (ARRIVED, IDENT, DEPARTED, V_START, V_END, CHARGER)


class Row(NamedTuple):
    """One stored event, as much of it as statistics need (a tuple: a year is 150,000 of them)."""

    type: str
    t: float  # epoch seconds
    bay: str
    visit: str | None
    nev: bool | None = None  # vehicle_identified
    status: str | None = None  # charger_status; vehicle_departed: its reason (none: the car was seen leaving)
    dur: float | None = None  # vehicle_departed.stayed_s / violation_ended.duration_s / violation_started.parked_s
    # (monotonic: since the arrival, the violation's start, the arrival)
    dismissed: bool = False  # violation_started: a reviewer dismissed the violation (not one)


@dataclass
class BayDay:
    day: str  # YYYY-MM-DD, site time
    bay: str
    day_s: float  # 86400, or the part of the day inside the window (today: until now)
    occupied_s: float = 0.0
    unknown_s: float = 0.0  # the agent was not running (run ledger): neither occupied nor free
    charging_s: float | None = None  # None: no charger status known for this bay
    parked_not_charging_s: float | None = None
    visits_nev: int = 0
    visits_fuel: int = 0
    visits_unidentified: int = 0
    violations: int = 0
    violation_s: float = 0.0
    fuel_on_bay_s: float = 0.0
    median_dwell_s: float | None = None
    _dwell: list[float] = field(default_factory=list, repr=False)

    @property
    def occupied_share(self) -> float:
        return self.occupied_s / self.day_s if self.day_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "_dwell"}
        d["occupied_share"] = round(self.occupied_share, 4)
        return d


@dataclass
class Stats:
    start: date
    end: date  # inclusive
    tz: str
    bays: list[str]
    rows: list[BayDay]  # one per (day, bay), days ascending
    heat: list[list[float | None]]  # [weekday 0=Mon][hour] occupied share over the window, None: no such hour

    def days(self) -> list[str]:
        return sorted({r.day for r in self.rows})

    def per_day(self) -> list[dict[str, Any]]:
        """All bays added up per day (the violations chart)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.rows:
            d = out.setdefault(r.day, {"day": r.day, "violations": 0, "violation_s": 0.0, "occupied_s": 0.0,
                                       "fuel_on_bay_s": 0.0, "visits": 0})
            d["violations"] += r.violations
            d["violation_s"] += r.violation_s
            d["occupied_s"] += r.occupied_s
            d["fuel_on_bay_s"] += r.fuel_on_bay_s
            d["visits"] += r.visits_nev + r.visits_fuel + r.visits_unidentified
        return list(out.values())

    def per_bay(self) -> list[dict[str, Any]]:
        """The window per bay (the occupied / charging / free chart)."""
        out = []
        for bay in self.bays:
            rs = [r for r in self.rows if r.bay == bay]
            total = sum(r.day_s for r in rs)
            occ = sum(r.occupied_s for r in rs)
            known = [r for r in rs if r.charging_s is not None]  # days since the charger's first report
            charging = sum(r.charging_s or 0.0 for r in known) if known else None
            not_charging = sum(r.parked_not_charging_s or 0.0 for r in known) if known else None
            unknown = sum(r.unknown_s for r in rs)
            out.append({"bay": bay, "window_s": total, "occupied_s": occ, "charging_s": charging,
                        "parked_not_charging_s": not_charging, "unknown_s": unknown,
                        "free_s": max(0.0, total - occ - unknown), "violations": sum(r.violations for r in rs),
                        "violation_s": sum(r.violation_s for r in rs),
                        "fuel_on_bay_s": sum(r.fuel_on_bay_s for r in rs)})
        return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The sorted, disjoint intervals covering the same time as ``spans``."""
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:  # an empty one too: a run just started still ends the gap before it
            out.append((lo, max(lo, hi)))
    return out


def _minus(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``xs`` outside ``ys`` (both sorted lists of disjoint intervals)."""
    out = []
    for lo, hi in xs:
        for a, b in ys[max(0, bisect.bisect_left(ys, (lo,)) - 1):]:
            if a >= hi:
                break
            if b > lo:
                if a > lo:
                    out.append((lo, a))
                lo = max(lo, b)
        if hi > lo:
            out.append((lo, hi))
    return out


def _intersect(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intersection of two sorted lists of disjoint intervals."""
    out, i, j = [], 0, 0
    while i < len(xs) and j < len(ys):
        lo, hi = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if lo < hi:
            out.append((lo, hi))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def day_bounds(start: date, end: date, tz: ZoneInfo) -> list[float]:
    """Epoch of each local midnight from ``start`` to the day after ``end`` (len = days + 1)."""
    n = (end - start).days + 1
    return [datetime.combine(start + timedelta(days=i), time(0), tz).timestamp() for i in range(n + 1)]


@dataclass
class _Visit:
    bay: str
    t0: float
    t1: float | None = None
    kind: str = "unidentified"
    cut: bool = False  # ended by the next arrival, not seen leaving: its dwell is unknown


STEP_S = 1.0  # a start further than this from "end - monotonic duration": the wall clock was stepped between


def redate(rows: Iterable[Row]) -> list[Row]:
    """Rows in time order, with each arrival (violation start) moved to its departure's (end's)
    stamp minus the monotonic ``stayed_s`` (``duration_s``) when the two disagree.

    Why: NTP steps the wall clock (a Pi boots with its clock behind and jumps at sync; a step
    back sorted a departure before its arrival, and the visit then ran until now). The later stamp
    is the one taken after the sync, and the duration is exact whatever the clock did. A visit not seen
    leaving yet is re-dated by its violation's ``parked_s`` the same way."""
    rows = list(rows)
    arrive: dict[str, float] = {}
    parked: dict[str, float] = {}  # from the visit's first violation, while it has no departure
    ends: dict[str, list[Row]] = defaultdict(list)
    starts: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.visit and r.dur is not None and r.type == DEPARTED:
            arrive[r.visit] = r.t - r.dur
        elif r.visit and r.type == V_END:
            ends[r.visit].append(r)
        elif r.visit and r.type == V_START:
            starts[r.visit] += 1
            if r.dur is not None:
                parked.setdefault(r.visit, r.t - r.dur)
    arrive = {**parked, **arrive}  # a car still parked (a fuel car at boot before NTP): its violation says when
    begin = {v: e[0].t - e[0].dur for v, e in ends.items()
             if len(e) == 1 and starts[v] == 1 and e[0].dur is not None}  # one violation: no pairing to guess
    out = []
    for r in rows:
        t = arrive.get(r.visit or "") if r.type == ARRIVED else begin.get(r.visit or "") if r.type == V_START else None
        out.append(r._replace(t=t) if t is not None and abs(t - r.t) > STEP_S else r)
    return sorted(out, key=lambda r: r.t)  # stable: same-time rows keep their stored order


def compute(rows: Iterable[Row], bays: list[str], start: date, end: date, tz: ZoneInfo, now: float,
            runs: list[tuple[float, float]] | None = None, since: float | None = None) -> Stats:
    """Figures for local days ``start``..``end`` (inclusive); ``rows`` sorted by time, from before
    ``start`` as far back as a visit can last (the caller loads a margin). ``runs``: when the agent ran
    (None: not known); the time between two runs (a power cut, a device switched off) is unknown.
    ``since``: the first thing the store knows (its first run's start or first event, whichever is earlier);
    the time before it is unknown too — a device installed on the 20th did not watch the 1st to the 19th, and a
    30-day window showed its bays free for 19 days (newuser34)."""
    rows = redate(rows)
    bounds = day_bounds(start, end, tz)
    w0, w1 = bounds[0], min(bounds[-1], now)
    ran = _union(runs or [])
    # the time no run watched, from a run's last alive mark to the next run's start (the ledger ends the visits
    # left open there); not after the last run: a running agent marks itself alive only once a minute, and
    # a clock stepped by NTP puts the mark far behind "now" until the next
    gaps = [(a, b) for (_, a), (b, _) in zip(ran, ran[1:])]
    if since is not None and since > w0:
        gaps.insert(0, (w0, since))  # before the device was there (clipped to the window by ``spread``)
    visits: dict[str, _Visit] = {}
    open_by_bay: dict[str, str] = {}
    kinds: dict[str, str] = {}  # visit -> its last identification's kind
    vio: list[tuple[str, float, float | None, str | None]] = []  # bay, t0, t1, visit
    vio_open: dict[str, int] = {}
    status: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for r in rows:
        if r.type == ARRIVED and r.visit:
            prev = open_by_bay.pop(r.bay, None)
            if prev is not None and visits[prev].t1 is None:
                visits[prev].t1, visits[prev].cut = r.t, True  # left open by a restart: ends where the next begins
            visits[r.visit] = _Visit(r.bay, r.t)
            open_by_bay[r.bay] = r.visit
        elif r.type == IDENT and r.visit:  # applied below: a re-dated arrival may now sort after it
            kinds[r.visit] = "nev" if r.nev is True else "fuel" if r.nev is False else "unidentified"
        elif r.type == DEPARTED and r.visit in visits:
            visits[r.visit].t1 = r.t
            if r.status:  # ended unseen (agent_stopped: a power cut; bay_removed): how long it stayed is not known
                visits[r.visit].cut = True
            if open_by_bay.get(r.bay) == r.visit:
                del open_by_bay[r.bay]
        elif r.type == V_START and r.dismissed:  # its end then closes nothing
            vio_open.pop(r.visit or r.bay, None)
        elif r.type == V_START:
            vio_open[r.visit or r.bay] = len(vio)
            vio.append((r.bay, r.t, None, r.visit))
        elif r.type == V_END:
            i = vio_open.pop(r.visit or r.bay, None)
            if i is not None:
                vio[i] = (*vio[i][:2], r.t, vio[i][3])
        elif r.type == CHARGER:
            status[r.bay].append((r.t, str(r.status)))

    for vid, kind in kinds.items():
        if vid in visits:
            visits[vid].kind = kind

    def end_of(v: _Visit) -> float:
        return v.t1 if v.t1 is not None else max(v.t0, w1)

    ndays = len(bounds) - 1
    cells = {(i, b): BayDay((start + timedelta(days=i)).isoformat(), b, _overlap(bounds[i], bounds[i + 1], w0, w1))
             for i in range(ndays) for b in bays}

    def spread(bay: str, t0: float, t1: float, attr: str) -> None:
        """Add the interval's seconds to each day it covers (clipped to the window)."""
        t0, t1 = max(t0, w0), min(t1, w1)
        if t1 <= t0 or (0, bay) not in cells:
            return
        i = max(0, bisect.bisect_right(bounds, t0) - 1)
        while i < ndays and bounds[i] < t1:
            c = cells[(i, bay)]
            a, b = bounds[i], bounds[i + 1]
            setattr(c, attr, (getattr(c, attr) or 0.0) + (min(b, t1)) - (max(a, t0)))
            i += 1

    def day_of(t: float) -> int | None:
        if not w0 <= t < w1:
            return None
        return bisect.bisect_right(bounds, t) - 1

    parked: dict[str, list[tuple[float, float]]] = defaultdict(list)
    fuel: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for v in visits.values():
        t1 = end_of(v)
        parked[v.bay].append((v.t0, t1))
        if v.kind == "fuel":
            fuel[v.bay].append((v.t0, t1))
        i = day_of(v.t0)
        if i is not None and (i, v.bay) in cells:
            c = cells[(i, v.bay)]
            setattr(c, f"visits_{v.kind}", getattr(c, f"visits_{v.kind}") + 1)
            if v.t1 is not None and not v.cut:
                c._dwell.append(v.t1 - v.t0)
    violating: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for bay, t0, t1, visit in vio:
        stop = t1 if t1 is not None else (end_of(visits[visit]) if visit in visits else w1)
        violating[bay].append((t0, stop))
        i = day_of(t0)
        if i is not None and (i, bay) in cells:
            cells[(i, bay)].violations += 1
    # a bay holds one car: its time is the union of its visits (a wall clock stepped back, or a departure
    # stored after the next arrival, made two visits overlap and counted the same minutes twice: an hour
    # 182 % occupied on the heat map, charging over the parked time)
    parked = {bay: _union(spans) for bay, spans in parked.items()}
    for bay in bays:  # a visit the ledger could not end (an older release's) stays occupied, not unknown
        for t0, t1 in _minus(gaps, parked.get(bay, [])):
            spread(bay, t0, t1, "unknown_s")
    for attr, spans_of in (("occupied_s", parked), ("fuel_on_bay_s", fuel), ("violation_s", violating)):
        for bay, spans in spans_of.items():
            for t0, t1 in _union(spans):
                spread(bay, t0, t1, attr)
    for bay, changes in status.items():
        if (0, bay) not in cells:
            continue
        for i in range(ndays):  # a fed charger: zero until shown otherwise, from the day of its first report on
            if bounds[i + 1] > changes[0][0]:  # (before it, unknown: the same whatever window is asked)
                cells[(i, bay)].charging_s = 0.0
        on = [(t, changes[k + 1][0] if k + 1 < len(changes) else w1) for k, (t, s) in enumerate(changes)
              if s == "charging"]
        for a, b in _intersect(parked.get(bay, []), on):
            spread(bay, a, b, "charging_s")
    for c in cells.values():
        if c.charging_s is not None:
            c.parked_not_charging_s = max(0.0, c.occupied_s - c.charging_s)
        c.median_dwell_s = statistics.median(c._dwell) if c._dwell else None
    return Stats(start, end, str(tz), list(bays), [cells[(i, b)] for i in range(ndays) for b in bays],
                 _heat(parked, bays, w0, w1, tz, gaps))


SLICE_S = 900  # every UTC offset since 1972 is whole quarter-hours, so no such slice straddles two local hours


def _slices(w0: float, w1: float, tz: ZoneInfo) -> tuple[float, list[tuple[int, int]]]:
    """The step and the local (weekday, hour) of each slice from ``w0`` (a local midnight): whole hours,
    unless the zone's offset changes by part of an hour in the window (Lord Howe Island's 30-minute summer
    time), then quarter-hours."""
    for step in (3600.0, SLICE_S):
        stamps = [datetime.fromtimestamp(w0 + k * step, tz) for k in range(int((w1 - w0) // step) + 1)]
        if step == SLICE_S or all(lt.minute == 0 for lt in stamps):
            break
    return step, [(lt.weekday(), lt.hour) for lt in stamps]


def _heat(parked: dict[str, list[tuple[float, float]]], bays: list[str], w0: float, w1: float,
          tz: ZoneInfo, gaps: list[tuple[float, float]]) -> list[list[float | None]]:
    """Occupied share by (local weekday, hour) over the window, each slice counted in the local hour it
    falls in (stepping whole hours from midnight put Lord Howe's summer hours half in the hour before)."""
    occ = [[0.0] * 24 for _ in range(7)]
    seen = [[0.0] * 24 for _ in range(7)]
    if w1 <= w0 or not bays:
        return [[None] * 24 for _ in range(7)]
    step, labels = _slices(w0, w1, tz)
    n = len(labels)
    for k, (wd, hr) in enumerate(labels):
        seen[wd][hr] += _overlap(w0 + k * step, w0 + (k + 1) * step, w0, w1) * len(bays)

    def add(to: list[list[float]], spans: Iterable[tuple[float, float]], sign: float) -> None:
        for t0, t1 in spans:
            t0, t1 = max(t0, w0), min(t1, w1)
            k = int((t0 - w0) // step)
            while k < n and w0 + k * step < t1:  # only the slices this interval touches
                h0 = w0 + k * step
                wd, hr = labels[k]
                to[wd][hr] += sign * (min(h0 + step, t1) - max(h0, t0))
                k += 1

    for bay in bays:
        add(occ, parked.get(bay, ()), 1.0)
        add(seen, _minus(gaps, parked.get(bay, [])), -1.0)  # the agent not running: not seen, not free
    return [[round(occ[d][h] / seen[d][h], 4) if seen[d][h] > 1e-6 else None for h in range(24)] for d in range(7)]
