"""The setting an unknown key was probably meant to be: ``timers.fuel_grace`` → ``fuel_grace_s``.

Why: "unknown key … check the spelling" left the operator to find the right name in a 500-line table, and the
commonest slips (a missing unit suffix ``_s``, a section's singular ``timer:``) are one edit from a real key,
or the key without its suffix (``lock`` for ``lock_id``, ``ca`` for ``ca_file``). Only keys of the models are ever named, never the text written (``errors.shown_key``'s rule stands)."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

MIN_PLACED = 4  # a key this long or longer, found in one other section, is told that section (``elsewhere``)
CUTOFF = 0.75  # difflib ratio: `fuel_grace` ~ `fuel_grace_s` 0.91, `timer` ~ `timers` 0.91, `colour` ~ `locks` 0.36
VALUE_CUTOFF = 0.6  # a choice's: `relay` ~ `relays` 0.91, `webhok` ~ `webhook` 0.92, `arduino` ~ `gpiozero` 0.27
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def suggest_key(root: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The model key closest to ``loc[-1]`` among the keys of the section ``loc[:-1]`` names, or None."""
    if not loc or not isinstance(loc[-1], str):
        return None
    models = _section(root, loc[:-1])
    names = sorted({n for m in models for n in _keys(m)})
    suffixed = [n for n in names if n.startswith(loc[-1] + "_")]  # the suffix left off: `lock` → `lock_id`
    if len(suffixed) == 1:
        return suffixed[0]
    found = difflib.get_close_matches(loc[-1], names, n=1, cutoff=CUTOFF)
    return found[0] if found else None


def suggest_value(value: object, choices: Iterable[str], cutoff: float = VALUE_CUTOFF) -> str | None:
    """The choice ``value`` was probably meant to be (``gpiozer`` → ``gpiozero``, ``GPIOZero`` → ``gpiozero``), or
    None. Why: "Input should be 'gpiozero', 'jetson' or 'simulator'" left the operator to spot the slip (probe
    newuser41). Only a choice is ever named, never the text written."""
    if not isinstance(value, str):
        return None
    by_folded = {c.casefold(): c for c in choices}
    folded = value.strip().casefold()
    if folded in by_folded:
        return by_folded[folded]
    swapped = [c for c in by_folded if _one_swap(folded, c)]  # `rtps`: difflib rates `rtsps` (0.89) over `rtsp`
    if len(swapped) == 1:
        return by_folded[swapped[0]]
    found = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=cutoff)
    return by_folded[found[0]] if found else None


def suggest_zone(value: object, zones: Iterable[str]) -> str | None:
    """The zone a misspelt ``site.timezone`` was meant to be (``Asia/Shanghia``, ``Europe/Shanghai`` →
    ``Asia/Shanghai``): its place matched by the place's own name, at the keys' cutoff; none for a name with a digit.
    Why: the whole text's nearest was another clock: ``UTC+8`` was told 'UTC', ``GMT+8`` 'GMT+0', ``CST`` 'UCT',
    ``Europe/Shanghai`` 'Europe/San_Marino' (probe review108). An offset or an abbreviation is no slip of the keys,
    and a hint followed is a valid config whose quiet hours and daily statistics are hours off."""
    if not isinstance(value, str) or any(ch.isdigit() for ch in value):
        return None
    places: dict[str, list[str]] = {}
    for zone in sorted(zones):
        places.setdefault(zone.rsplit("/", 1)[-1].casefold(), []).append(zone)
    written = value.strip().rsplit("/", 1)[-1].casefold()
    place = suggest_value(written, places, cutoff=CUTOFF)
    if place is None:
        return None
    # of the zones of the place (`utc`: `Etc/UTC`, `UTC`), or of the places as near (`hong kong`: `Hongkong`,
    # `Asia/Hong_Kong`), the one nearest the whole text
    near = [place] if place == written else [place, *difflib.get_close_matches(written, places, n=3, cutoff=CUTOFF)]
    whole = value.strip().casefold()
    return max((z for p in dict.fromkeys(near) for z in places[p]),
               key=lambda z: difflib.SequenceMatcher(None, whole, z.casefold()).ratio())


def _one_swap(a: str, b: str) -> bool:
    """``b`` is ``a`` with two neighbouring letters swapped: the commonest slip of a typist."""
    if len(a) != len(b):
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def quoted_choices(expected: object) -> list[str]:
    """The choices in pydantic's ``expected`` text (``"'gpiozero', 'jetson' or 'simulator'"``)."""
    return _QUOTED.findall(expected) if isinstance(expected, str) else []


def _keys(model: type[BaseModel]) -> Iterable[str]:
    for name, field in model.model_fields.items():
        yield field.alias or name


def _section(root: type[BaseModel], path: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The models a key path may lead to (several below a union of entry kinds: a lock's motor, a sink)."""
    current: list[Any] = [root]
    for part in path:
        nxt: list[Any] = []
        for t in current:
            for u in _members(t):
                if isinstance(part, int):
                    if typing.get_origin(u) in (list, tuple):
                        nxt += [a for a in typing.get_args(u) if a is not Ellipsis]
                elif isinstance(u, type) and issubclass(u, BaseModel):
                    field = u.model_fields.get(part) or next(
                        (f for f in u.model_fields.values() if f.alias == part), None)
                    if field is not None and field.annotation is not None:
                        nxt.append(field.annotation)
        current = nxt
    return [m for t in current for m in _members(t) if isinstance(m, type) and issubclass(m, BaseModel)]


def _members(t: Any) -> list[Any]:
    """``t`` without its wrappers: the members of a union (``X | None``), the type inside ``Annotated``."""
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return _members(typing.get_args(t)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(t) for m in _members(a)]
    return [t]


def elsewhere(root: type[BaseModel], loc: tuple[Any, ...], depth: int = 4) -> str | None:
    """The one other place in the config a key spelt right belongs (``timers.overstay_s`` for ``camera.overstay_s``),
    or None when it is a setting of no section or of several, or a word too short to place (``on``, ``up``: a slip
    of another kind). Why: a key indented under the section above was "unknown key … check the spelling", and the
    operator, who spelt it right, searched the docs for its section."""
    if not loc or not isinstance(loc[-1], str) or len(loc[-1]) < MIN_PLACED:
        return None
    found = {p for p in _paths(root, loc[-1], (), depth) if p != _shown(loc)}
    return found.pop() if len(found) == 1 else None


def _paths(model: Any, key: str, at: tuple[str, ...], depth: int) -> Iterable[str]:
    for m in _members(model):
        if typing.get_origin(m) in (list, tuple):
            for a in typing.get_args(m):
                if a is not Ellipsis:
                    yield from _paths(a, key, (*at[:-1], at[-1] + "[]") if at else at, depth)
        elif isinstance(m, type) and issubclass(m, BaseModel) and depth > 0:
            for name, field in m.model_fields.items():
                shown = field.alias or name
                if shown == key:
                    yield ".".join((*at, shown))
                yield from _paths(field.annotation, key, (*at, shown), depth - 1)


def _shown(loc: tuple[Any, ...]) -> str:
    """``loc`` as ``_paths`` writes it: list indexes as ``[]``."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int) and out:
            out[-1] += "[]"
        elif isinstance(part, str):
            out.append(part)
    return ".".join(out)
