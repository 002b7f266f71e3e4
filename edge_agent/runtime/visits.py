"""``edge-agent occupancy eval-visits TRUTH EVENTS``: score a replay's bay story against truth.

TRUTH is a CSV with a header and one row per visit: ``bay_id,start_s,end_s[,scene]`` in clip
seconds (the replay's ``replay_started`` marker is 0). ``start_s`` 0 means the car was there
when the clip starts (parked at start); an empty ``end_s`` means it is still there at the end.
EVENTS is what ``edge-agent replay`` wrote.

Scores, per bay and per scene: per-frame accuracy (bay state sampled at the replay's fps:
occupied from ``vehicle_arrived`` to ``vehicle_departed``), arrivals found (within
``ARRIVE_S`` after the truth start), departures found (within ``DEPART_S`` after the truth end),
visits found (both, for visits that end in the clip), false arrivals and departures (agent
events matching no truth), latencies. The truth is cut to the clip (``replay_finished``'s
``clip_s``): visits that start after it are not counted, visits still running at its end are open.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import stat
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from edge_agent.cliargs import os_error_text, output_over_input, output_ready
from edge_agent.config.camera import MAX_FPS
from edge_agent.csvcell import repeated_column
from edge_agent.durable import write_output
from edge_agent.occupancy.dataset import blank_row, header_note

ARRIVE_S = 10.0
DEPART_S = 15.0
NO_SCENE = "(no scene)"  # bays the truth gives no scene (and agent-only bays): not a total
EARLY_S = 2.0  # an event this much before the labelled moment still matches (labels are by eye)
# The events file is checked like any input: the state is sampled clip_s × fps times per bay, so a clip_s of
# 1e15 (or an event dated year 9999 in a file without replay_finished) ran for ever, and a NaN fps raised.
MAX_CLIP_S = 7 * 86400.0  # a week of footage


@dataclass
class TruthVisit:
    bay_id: str
    start_s: float
    end_s: float | None
    scene: str = NO_SCENE


@dataclass
class AgentEvent:
    t: float
    bay_id: str
    type: str
    parked_at_start: bool = False
    matched: bool = False


@dataclass
class Replay:
    events: list[AgentEvent]
    clip_s: float
    fps: float
    finished: bool = True  # the replay_finished marker gave clip_s (else: the last event's time)
    bays: list[str] | None = None  # the replayed config's bay ids (replay_started's ``bays``; older files: None)


def read_truth(path: Path) -> list[TruthVisit]:
    """The truth CSV; every problem names its line and column. Two visits of one bay that overlap are
    refused: one car at a time per bay, and the agent's one arrival could match only one of them."""
    try:
        return _read_truth(path)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text: save it as UTF-8") from None
    except csv.Error as exc:  # a cell over 128 KiB: was the csv module's traceback
        raise ValueError(f"{path}: not a truth CSV ({exc})") from None


def _regular(path: Path) -> None:
    """``ValueError`` when ``path`` is there but no regular file: ``/dev/zero`` was read as one endless line (1.6 GB
    of memory in 8 s) and a FIFO waited for a writer for ever. A missing one is left to ``open`` to name."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file")


def _read_truth(path: Path) -> list[TruthVisit]:
    _regular(path)
    out, lines = [], []
    with path.open(encoding="utf-8-sig", newline="") as f:  # -sig: a spreadsheet's byte-order mark
        rows = csv.DictReader(f, skipinitialspace=True)  # "bay_id, start_s, end_s" typed by hand
        missing = {"bay_id", "start_s", "end_s"} - set(rows.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))} (need bay_id,start_s,end_s)"
                             f"{header_note(rows.fieldnames)}")
        twice = repeated_column(rows.fieldnames, ("bay_id", "start_s", "end_s", "scene"))
        if twice:
            raise ValueError(f"{path}: {twice}")
        for r in rows:
            if blank_row(r):
                continue
            n = rows.line_num  # the file's line: blank lines and cells over two lines count (a row count did not)
            try:
                start = float(r["start_s"] or "")  # a short row's missing cell is None
                end = float(r["end_s"]) if (r["end_s"] or "").strip() else None
            except ValueError:
                raise ValueError(f"{path}:{n}: start_s / end_s must be numbers") from None
            if not math.isfinite(start) or start < 0 or (end is not None and (not math.isfinite(end) or end <= start)):
                raise ValueError(f"{path}:{n}: need 0 ≤ start_s < end_s (finite), "
                                 f"got {r['start_s']!r}, {r['end_s']!r}")
            if not (r["bay_id"] or "").strip():
                raise ValueError(f"{path}:{n}: bay_id is empty")
            out.append(TruthVisit(r["bay_id"].strip(), start, end, (r.get("scene") or "").strip() or NO_SCENE))
            lines.append(n)
    last: dict[str, tuple[TruthVisit, int]] = {}
    for v, n in sorted(zip(out, lines), key=lambda x: (x[0].bay_id, x[0].start_s)):
        prev = last.get(v.bay_id)
        if prev is not None and (prev[0].end_s is None or v.start_s < prev[0].end_s):
            raise ValueError(f"{path}:{n}: bay {v.bay_id} visit from {v.start_s:g} s overlaps the one on line "
                             f"{prev[1]} (until {'the end' if prev[0].end_s is None else f'{prev[0].end_s:g} s'})")
        last[v.bay_id] = (v, n)
    return out


def read_events(path: Path) -> Replay:
    """A replay's JSON lines → bay-story events in clip seconds. Each value used is checked and a bad one named
    by line and key (``fps``, ``clip_s``, ``ts``, ``bay_id``, ``data``): none is trusted to be what replay wrote."""
    t0: datetime | None = None
    fps, clip_s, events = 5.0, None, []
    bays: list[str] | None = None
    _regular(path)
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{n}"
                d, ts = _event_line(line, where)
                if d.get("type") == "replay_started":
                    if t0 is not None:  # clip time restarts: the second replay's events would score as the first's
                        raise ValueError(f"{where}: a second replay_started marker (two replays in one file?): "
                                         "score each replay's events on their own")
                    t0 = ts
                    fps = _in_range(fps if d.get("fps") is None else d["fps"], 0.0, MAX_FPS, f"{where}: fps",
                                    low_open=True)
                    bays = d.get("bays")
                    if bays is not None and not (isinstance(bays, list) and all(isinstance(b, str) for b in bays)):
                        raise ValueError(f"{where}: replay_started's bays must be a list of bay ids")
                    continue
                if t0 is None:
                    raise ValueError(f"{path}: no replay_started marker before line {n} (is this a replay's output?)")
                t = (ts - t0).total_seconds()
                if abs(t) > MAX_CLIP_S:
                    raise ValueError(f"{where}: ts {d['ts']!r} is {t:.0f} s from replay_started: over a week of "
                                     "footage (is this one replay's output?)")
                if d.get("type") == "replay_finished":
                    if "clip_s" not in d:
                        raise ValueError(f"{where}: replay_finished without a clip_s number")
                    clip_s = _in_range(d["clip_s"], 0.0, MAX_CLIP_S, f"{where}: replay_finished's clip_s")
                elif d.get("type") in ("vehicle_arrived", "vehicle_departed") and d.get("bay_id") is not None:
                    data = d.get("data") or {}
                    if not isinstance(d["bay_id"], str) or not isinstance(data, dict):
                        raise ValueError(f"{where}: bay_id must be text and data a mapping")
                    events.append(AgentEvent(t, d["bay_id"], d["type"], bool(data.get("parked_at_start"))))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (a replay writes UTF-8 JSON lines)") from None
    if t0 is None:
        raise ValueError(f"{path}: no replay_started marker")
    end = clip_s if clip_s is not None else max((e.t for e in events), default=0.0)
    return Replay(events, max(end, 0.0), fps, finished=clip_s is not None, bays=bays)


def _event_line(line: str, where: str) -> tuple[dict, datetime]:
    """One JSON object with a timezone-aware ISO-8601 ``ts`` (naive and aware times cannot be subtracted)."""
    try:
        d = json.loads(line)
        ts = datetime.fromisoformat(d["ts"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ValueError(f"{where}: not a JSON event line with a ts") from None
    if ts.tzinfo is None:
        raise ValueError(f"{where}: ts {d['ts']!r} has no UTC offset (replay writes one, e.g. +08:00)")
    return d, ts


def _in_range(value: object, low: float, high: float, what: str, low_open: bool = False) -> float:
    """``value`` as a finite number within [low, high] (above ``low`` when ``low_open``), else a ValueError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise ValueError(f"{what} must be a number {'above' if low_open else 'from'} {low:g} "
                         f"{'and at most' if low_open else 'to'} {high:g}, got {value!r}")
    return float(value)  # type: ignore[arg-type]  # checked above


def within_clip(truth: list[TruthVisit], clip_s: float) -> list[TruthVisit]:
    """The truth the clip can show: visits that start after its end are dropped, and a visit still
    running at the end is open (its departure is not in the clip), so a truth file written for a
    whole recording scores a replay of its first minutes fairly."""
    return [TruthVisit(v.bay_id, v.start_s, v.end_s if v.end_s is not None and v.end_s < clip_s else None, v.scene)
            for v in truth if v.start_s < clip_s]


def _take(events: list[AgentEvent], type_: str, bay: str, lo: float, hi: float) -> AgentEvent | None:
    for e in events:
        if not e.matched and e.type == type_ and e.bay_id == bay and lo <= e.t <= hi:
            e.matched = True
            return e
    return None


def _occupied(intervals: list[tuple[float, float | None]], t: np.ndarray) -> np.ndarray:
    """Whether each sample time of ``t`` (ascending) lies in one of ``intervals`` (``a <= t < b``, b None: open).
    Marked interval by interval, not sample by sample against every interval: that was clip × visits per bay,
    minutes for a day's replay (4 h of 43 bays at 5 fps: 9 s)."""
    out = np.zeros(len(t), dtype=bool)
    for a, b in intervals:
        out[np.searchsorted(t, a, "left"):len(t) if b is None else np.searchsorted(t, b, "left")] = True
    return out


@dataclass
class Tally:
    frames: int = 0
    agree: int = 0
    truth_visits: int = 0
    arrivals: int = 0  # truth arrivals (parked-at-start cars excluded)
    arrivals_found: int = 0
    departures: int = 0
    departures_found: int = 0
    complete: int = 0
    visits_found: int = 0
    parked_at_start: int = 0
    parked_at_start_found: int = 0  # the agent opened its visit at start, flagged parked_at_start
    false_arrivals: int = 0
    false_departures: int = 0
    arrival_latency: list[float] = field(default_factory=list)
    departure_latency: list[float] = field(default_factory=list)

    def add(self, o: "Tally") -> None:
        for k, v in vars(o).items():
            setattr(self, k, getattr(self, k) + v)

    def to_dict(self) -> dict:
        d = {k: v for k, v in vars(self).items() if not isinstance(v, list)}
        d["accuracy"] = round(self.agree / self.frames, 4) if self.frames else None
        for k in ("arrival_latency", "departure_latency"):
            xs = getattr(self, k)
            d[k + "_s"] = {"mean": round(sum(xs) / len(xs), 2), "max": round(max(xs), 2)} if xs else None
        return d


def score(truth: list[TruthVisit], rep: Replay) -> dict:
    """Per-bay and per-scene tallies plus the total (truth cut to the clip when its end is known).
    Every bay of the truth file is scored, with its scene, also when all its visits come after the clip
    (it was empty all through it): cut away with its visits, such a bay's false arrivals were filed under
    "(no scene)" and its empty frames counted nowhere. So is every bay the replay ran (``replay_started``'s
    ``bays``), events or none: a bay with no truth visit was scored only when the agent reported something there,
    so a run that stopped a false arrival lost that bay's right all-empty frames from the total and scored worse;
    two runs of one config are now scored on the same bays."""
    scene_of = {v.bay_id: v.scene for v in truth}
    known = set(scene_of) | set(rep.bays or ())
    if rep.finished:
        truth = within_clip(truth, rep.clip_s)
    events = sorted(rep.events, key=lambda e: e.t)
    bays = sorted(known | {e.bay_id for e in events})
    per_bay = {b: Tally() for b in bays}
    missed: list[dict] = []  # the truth changes no event matched, to look at (the counts say only how many)

    def cut_off(window_end: float) -> bool:
        """Whether a matching window runs past the clip's end: an arrival 2 s before the end cannot be confirmed
        in the clip (arrival confirm 3 s), a departure 5 s before it not reported (departure confirm 10 s). Missed
        there, they were charged to the agent; found, they count as any other."""
        return rep.finished and window_end > rep.clip_s
    for v in sorted(truth, key=lambda v: v.start_s):
        t = per_bay[v.bay_id]
        t.truth_visits += 1
        at_start = v.start_s <= 0
        arr = _take(events, "vehicle_arrived", v.bay_id, v.start_s - EARLY_S, v.start_s + ARRIVE_S)
        if at_start:
            t.parked_at_start += 1
            t.parked_at_start_found += bool(arr is not None and arr.parked_at_start)
            if arr is None or not arr.parked_at_start:
                missed.append({"bay_id": v.bay_id, "kind": "parked_at_start", "t_s": v.start_s})
        elif arr is not None or not cut_off(v.start_s + ARRIVE_S):
            t.arrivals += 1
            if arr is not None:
                t.arrivals_found += 1
                t.arrival_latency.append(arr.t - v.start_s)
            else:
                missed.append({"bay_id": v.bay_id, "kind": "arrival", "t_s": v.start_s})
        dep = None
        if v.end_s is not None:
            dep = _take(events, "vehicle_departed", v.bay_id, v.end_s - EARLY_S, v.end_s + DEPART_S)
            if dep is None and cut_off(v.end_s + DEPART_S):
                continue  # the clip ends before the agent's time to say so is up: not owed (nor a miss)
            t.departures += 1
            t.complete += 1
            if dep is not None:
                t.departures_found += 1
                t.departure_latency.append(dep.t - v.end_s)
            else:
                missed.append({"bay_id": v.bay_id, "kind": "departure", "t_s": v.end_s})
            t.visits_found += bool(arr is not None and dep is not None)
    false_events = []
    for e in events:
        if not e.matched:
            false_events.append({"bay_id": e.bay_id, "type": e.type, "t_s": round(e.t, 3)})
            tally = per_bay[e.bay_id]
            if e.type == "vehicle_arrived":
                tally.false_arrivals += 1
            else:
                tally.false_departures += 1
    step = 1.0 / rep.fps
    n = int(rep.clip_s / step) + 1
    times = np.arange(n) * step  # the sample times, as i * step
    for b in bays:
        truth_iv = [(v.start_s, v.end_s) for v in truth if v.bay_id == b]
        agent_iv, opened = [], None
        for e in (e for e in events if e.bay_id == b):
            if e.type == "vehicle_arrived" and opened is None:
                opened = e.t
            elif e.type == "vehicle_departed" and opened is not None:
                agent_iv.append((opened, e.t))
                opened = None
        if opened is not None:
            agent_iv.append((opened, None))
        per_bay[b].frames += n
        per_bay[b].agree += int(np.count_nonzero(_occupied(truth_iv, times) == _occupied(agent_iv, times)))
    scenes: dict[str, Tally] = defaultdict(Tally)
    total = Tally()
    for b, t in per_bay.items():
        scenes[scene_of.get(b, NO_SCENE)].add(t)
        total.add(t)
    return {"total": total.to_dict(), "scenes": {s: t.to_dict() for s, t in sorted(scenes.items())},
            "bays": {b: t.to_dict() for b, t in per_bay.items()}, "clip_s": rep.clip_s, "fps": rep.fps,
            "false_events": false_events,
            "missed": sorted(missed, key=lambda m: (m["t_s"], m["bay_id"]))}


def format_report(r: dict) -> str:
    cols = ("accuracy", "arrivals_found", "arrivals", "departures_found", "departures", "visits_found", "complete",
            "parked_at_start_found", "parked_at_start", "false_arrivals", "false_departures")
    head = (f"{'':<16}{'acc':>7} {'arr':>7} {'dep':>7} {'visits':>7} {'at-start':>9} {'false a/d':>10}"
            "  latency a/d (mean s)")
    lines = [head]
    rows = [("TOTAL", r["total"])] + [(f"scene {s}", t) for s, t in r["scenes"].items()] + \
           [(f"  bay {b}", t) for b, t in r["bays"].items()]
    for name, t in rows:
        v = {c: t[c] for c in cols}
        lat = "/".join(f"{t[k]['mean']:.1f}" if t[k] else "-" for k in ("arrival_latency_s", "departure_latency_s"))
        acc = f"{v['accuracy']:.3f}" if v["accuracy"] is not None else "-"
        lines.append(f"{name:<16}{acc:>7} {v['arrivals_found']:>3}/{v['arrivals']:<3} "
                     f"{v['departures_found']:>3}/{v['departures']:<3} {v['visits_found']:>3}/{v['complete']:<3} "
                     f"{v['parked_at_start_found']:>4}/{v['parked_at_start']:<4} "
                     f"{v['false_arrivals']:>4}/{v['false_departures']:<5}  {lat}")
    return "\n".join(lines)


def _few(ids: list[str]) -> str:
    """The first five bay ids, and how many more."""
    return ", ".join(ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")


def eval_visits_command(args: argparse.Namespace) -> int:
    """``edge-agent occupancy eval-visits`` (its parser: ``runtime/occupancy_commands.py``)."""
    if output_over_input("eval-visits", "--json", args.json, {"truth file": args.truth, "events file": args.events}):
        return 2
    if not output_ready("eval-visits", "--json", args.json, args.json and args.json.parent):  # as eval's --json
        return 2
    try:
        truth, replay = read_truth(args.truth), read_events(args.events)
    except OSError as exc:  # was "[Errno 2] No such file or directory: 'x'"
        print(f"eval-visits: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"eval-visits: {exc}", file=sys.stderr)
        return 2
    unknown = sorted({e.bay_id for e in replay.events} - {v.bay_id for v in truth})
    if unknown:  # a truth file lists visits, so such a bay was empty all along — or its id is spelt otherwise
        print(f"eval-visits: no truth visit for bay(s) {_few(unknown)} with events: scored as empty all along "
              "(check the bay ids if they were not)", file=sys.stderr)
    # the bays the replay knows: its config's (the marker's list), or, in a file without it (an older replay, one
    # put together by hand), those its events name
    known = set(replay.bays) if replay.bays is not None else {e.bay_id for e in replay.events}
    truth_bays = {v.bay_id for v in truth}
    absent = sorted(truth_bays - known)
    where = "the replayed config" if replay.bays is not None else "the events (whose marker lists no bays)"
    if absent and known and not truth_bays & known:  # a truth file for another site, or every id spelt otherwise
        print(f"eval-visits: no truth bay is in {where}: truth {_few(sorted(truth_bays))}, replay "
              f"{_few(sorted(known))}; check the bay ids (nothing scored)", file=sys.stderr)
        return 2
    if absent:  # the agent could not report them, or did under another id: every visit is missed
        print(f"eval-visits: truth bay(s) {_few(absent)} not in {where}: their visits count as missed "
              "(check the bay ids)", file=sys.stderr)
    report = score(truth, replay)
    print(format_report(report))
    if args.json:
        try:
            write_output(args.json, json.dumps(report, indent=1))
        except OSError as exc:
            print(f"eval-visits: cannot write --json {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 0
