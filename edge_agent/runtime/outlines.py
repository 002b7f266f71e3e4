"""The bays' outlines a run judged them on, and the old grounds their locks wait for, kept over a restart.

A bay redrawn while a car stood in it keeps its old outline's ground for its lock (``bays/old_ground.py``): the arm
is where the car was. A reload keeps that in memory; a restart knew nothing of it, nor of an outline edited while
the agent was stopped: the new outline on empty ground beside a parked car read empty, and the policy raised the
arm under the car once the bay had been free ``auto_raise_delay_s``. So ``{data_dir}/bays/outlines.json`` keeps
each bay's outline and any old ground being waited for (and the bays waiting for a car on their outline after a
Save over a view matching no reference: ``unplaced``, ``bays/old_ground.Unplaced``), and the bay each lock guarded
(``locks``: a bay renamed with its lock has that bay's past, ``was_named``); at the next start a bay is watched again on the ground
the last run waited for, or on its last outline if that run left a visit open there and the outline changed since.
A bay the last run left a car in (a visit open at its stop, or ``unverified``: one it had itself started with and
not yet judged on a view it vouched for, as on a camera matching no reference) counts as holding that car until
this run judges it (``BayMonitor.left_by_last_run``): Confirm and Save treat it as they treat a parked car.

The file only ever adds waiting: one that is missing (a data dir of 0.11.0), damaged or not this format is read as
nothing known, with a log line, and the agent starts as before.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.durable import read_small, write_durably
from edge_agent.jsondepth import too_deep

log = logging.getLogger(__name__)

FILE = "outlines.json"
VERSION = 1
MAX_BYTES = 1 << 22  # outlines of a few hundred bays; more is not ours

Outline = list[tuple[float, float]]


def _outline(value: object) -> Outline | None:
    """A stored outline (three or more finite points), or None."""
    if not isinstance(value, list) or len(value) < 3:
        return None
    out = []
    for pt in value:
        if not (isinstance(pt, list) and len(pt) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pt)):
            return None
        x, y = float(pt[0]), float(pt[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        out.append((x, y))
    return out


def _outlines(value: object) -> dict[str, Outline]:
    if not isinstance(value, dict):
        return {}
    return {str(b): o for b, poly in value.items() if (o := _outline(poly)) is not None}


def _grounds(value: object) -> dict[str, list[Outline]]:
    """Bay → its old outlines (a list each); an outline that does not read is left out."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for b, polys in value.items():
        kept = [o for poly in polys if (o := _outline(poly)) is not None] if isinstance(polys, list) else []
        if kept:
            out[str(b)] = kept
    return out


@dataclass
class Kept:
    """What the last run left: each bay's outline, and the old grounds its locks waited for."""

    bays: dict[str, Outline] = field(default_factory=dict)
    old_ground: dict[str, list[Outline]] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)  # bays waiting for a car on their outline (``Unplaced``)
    locks: dict[str, str] = field(default_factory=dict)  # lock id → the bay it guarded (``was_named``)
    # bays the run started with a car left in and had not yet judged on a view it vouched for (``left_by_last_run``)
    unverified: list[str] = field(default_factory=list)
    # of ``unplaced``, the waits the last run's car made (``left_by_last_run``), not a Save: the outline is the car's,
    # so a healthy presence sensor may end them (``Unplaced.cleared``). Listed in ``unplaced`` too: an agent that
    # knows no ``left_waiting`` keeps them as a Save's, the stricter wait
    left_waiting: list[str] = field(default_factory=list)
    # bay → the visit whose car its presence sensor reported ("" a restart's wait whose visit is not known): only such
    # a sensor's "clear" may end the restart's wait (``Unplaced.sensed``). Missing (an older file): none may
    sensed: dict[str, str] = field(default_factory=dict)
    # bay → the identity of the presence sensor its ``sensed`` record is of (``LockConfig.presence_identity``): the
    # record counts only for that sensor. Missing (an older file) or another: the strict wait
    sensors: dict[str, str] = field(default_factory=dict)


class OutlineStore:
    """``FILE`` in ``{data_dir}/bays``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "bays" / FILE
        self._saved: tuple[dict[str, Outline], dict[str, list[Outline]], list[str], dict[str, str], list[str],
                           list[str], dict[str, str], dict[str, str]] | None = None

    def load(self) -> Kept:
        try:
            raw = read_small(self.path, MAX_BYTES)
            if len(raw) > MAX_BYTES or too_deep(raw):  # not ours; '[' x 200000 was json's RecursionError
                raise ValueError(f"over {MAX_BYTES} bytes or nested too deep")
            doc = json.loads(raw)
        except FileNotFoundError:
            return Kept()
        except (OSError, ValueError, RecursionError) as exc:
            log.warning("%s cannot be read (%s): no bay outline of the last run is known", self.path, exc)
            return Kept()
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            log.warning("%s is not this agent's (version %r): no bay outline of the last run is known", self.path,
                        doc.get("version") if isinstance(doc, dict) else None)
            return Kept()
        unplaced, locks = doc.get("unplaced"), doc.get("locks")
        return Kept(_outlines(doc.get("bays")), _grounds(doc.get("old_ground")), _names(unplaced),
                    _strings(locks), _names(doc.get("unverified")),
                    [b for b in _names(doc.get("left_waiting")) if b in _names(unplaced)], _strings(doc.get("sensed")),
                    _strings(doc.get("sensors")))

    def save(self, bays: dict[str, Outline], old_ground: dict[str, list[Outline]],
             unplaced: Sequence[str] = (), locks: Mapping[str, str] | None = None,
             unverified: Sequence[str] = (), left_waiting: Sequence[str] = (),
             sensed: Mapping[str, str] | None = None, sensors: Mapping[str, str] | None = None) -> None:
        """Write when changed since the last write (a failure is logged and tried again at the next call)."""
        state = ({b: [(float(x), float(y)) for x, y in o] for b, o in bays.items()},
                 {b: [[(float(x), float(y)) for x, y in o] for o in os] for b, os in old_ground.items()},
                 sorted(unplaced), dict(sorted((locks or {}).items())), sorted(unverified), sorted(left_waiting),
                 dict(sorted((sensed or {}).items())), dict(sorted((sensors or {}).items())))
        if state == self._saved:
            return
        doc = {"version": VERSION, "bays": {b: [list(p) for p in o] for b, o in sorted(state[0].items())},
               "old_ground": {b: [[list(p) for p in o] for o in os] for b, os in sorted(state[1].items())},
               "unplaced": state[2], "locks": state[3], "unverified": state[4], "left_waiting": state[5],
               "sensed": state[6], "sensors": state[7]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(self.path, json.dumps(doc).encode())
        except OSError as exc:
            log.warning("%s not written (%s): a restart would not know the bays' outlines", self.path, exc)
            return
        self._saved = state


def _strings(value: object) -> dict[str, str]:
    """A kept mapping of names to strings (anything else in it dropped; not a mapping: none)."""
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(value, dict) \
        else {}


def _names(value: object) -> list[str]:
    """A kept list of bay ids (anything else in it dropped; not a list: none)."""
    return sorted({b for b in value if isinstance(b, str)}) if isinstance(value, list) else []


def was_named(kept: Kept, bays: Iterable[str], locks: Mapping[str, str]) -> dict[str, list[str]]:
    """Bay → the ids the last run knew it by: its own, and that of the bay its lock (``locks``: lock id → bay now)
    guarded then. The arm is where the lock is: a Save that renamed a locked bay (its ``lock_id`` taken along; the
    reload refused, "lock changes need a restart") and moved its outline off the parked car left the renamed bay no
    past at the restart, its outline beside the car read free and the arm rose under the car 20 s after the start."""
    out = {b: [b] for b in bays}
    for lock, bay in locks.items():
        was = kept.locks.get(lock)
        if bay in out and was is not None and was not in out[bay]:
            out[bay].append(was)
    return out


def grounds_to_watch(kept: Kept, bays: dict[str, Outline], left_open: set[str],
                     locks: Mapping[str, str] | None = None) -> dict[str, list[Outline]]:
    """Bay → the grounds its lock must wait for at this start: those the last run waited for, and its last outline
    where that run left a visit open (``left_open``: ended at this start, ``agent_stopped``) and it is drawn
    elsewhere now, under each id it had then (``was_named``). A ground the bay is drawn back onto is left out (its
    own readings cover it: ``BayMonitor.watch_old_ground``)."""
    out = {}
    for bay, names in was_named(kept, bays, locks or {}).items():
        grounds = []
        for was in names:
            grounds += kept.old_ground.get(was, [])
            last = kept.bays.get(was)
            if was in left_open and last is not None:
                grounds.append(last)
        if grounds:
            out[bay] = grounds
    return out
