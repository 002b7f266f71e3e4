"""Where on a single-row plate a character the recogniser skipped was: GA 36's fixed pitch.

Why: a read one character short of its plate (``苏A9970`` for 苏A99070, its fourth character
skipped) says from its text only which characters it saw, not where the missing one sits, so
the ``?`` went to the end (``苏A9970?``) and evidence showed a wrong text. The plate knows:
GA 36-2018 prints its characters at a fixed pitch, with a wider gap after the second one (the
separator dot), and the recogniser records where on the crop it read each character
(``Read.centres``). Fitting the read's centres to the plate's slots with one slot left out, the
slot that leaves the smallest misfit is where the gap is — when no other slot fits nearly as well.

Slot centres in mm from the plate's left edge (GA 36-2018): 440 mm plates, 7 characters 45 mm
wide, 12 mm apart, 34 mm (dot) after the second; 480 mm NEV plates, 8 characters 43 mm wide,
9 mm apart, 49 mm after the second. Only the spacing matters: the fit takes any scale and
offset (a crop cut loose or tight around the plate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_agent.perception.shape import MISSING, Shape, fillable

#: slot centres (mm) of single-row plates, by number of characters
SLOTS: dict[int, tuple[float, ...]] = {
    7: (38.0, 95.0, 174.0, 231.0, 288.0, 345.0, 402.0),
    8: (37.5, 89.5, 181.5, 233.5, 285.5, 337.5, 389.5, 441.5),
}
#: The best slot's misfit (root mean square, as a share of the pitch) must stay under this, and the
#: next candidate's exceed it by ``CLEAR``; else the gap is ambiguous and nothing is placed.
MAX_MISFIT = 0.25
CLEAR = 0.1
#: the first to the last slot as a share of the crop's width: a plate's worth (0.83 of a tight crop), not a fragment
SPAN = (0.5, 1.1)


def misfits(centres: Sequence[float], n: int) -> list[float]:
    """For each slot ``k`` of an ``n``-character plate, the root-mean-square misfit (share of the
    pitch) of ``centres`` (``n - 1`` of them, left to right) on the other slots, best scale and
    offset; ``inf`` where the fit needs an implausible scale."""
    return [_misfit(centres, n, (k,)) for k in range(n)]


def _misfit(centres: Sequence[float], n: int, gaps: tuple[int, ...]) -> float:
    """Root-mean-square misfit (share of the pitch) of ``centres`` on the slots of an ``n``-character
    plate other than ``gaps``, best scale and offset; ``inf`` where that needs an implausible scale."""
    return _fit(centres, n, gaps)[2]


def _fit(centres: Sequence[float], n: int, gaps: tuple[int, ...]) -> tuple[float, float, float]:
    """``(a, b, misfit)``: centre = a * slot (mm) + b, fitted on the slots other than ``gaps``."""
    slots = np.asarray(SLOTS[n])
    c = np.asarray(centres, float)
    s = np.delete(slots, list(gaps))
    a, b = np.polyfit(s, c, 1)  # centre = a * slot + b
    if not SPAN[0] <= a * (slots[-1] - slots[0]) <= SPAN[1]:
        return float(a), float(b), float("inf")
    resid = c - (a * s + b)
    return float(a), float(b), float(np.sqrt(np.mean(resid ** 2))) / (a * (slots[1] - slots[0]))


def nev_fit(centres: Sequence[float], gap: int) -> tuple[float, float] | None:
    """Seven read characters' ``centres`` as an NEV plate's (480 mm, 8 slots) with slot ``gap`` empty:
    ``(misfit, where the gap's centre is)`` — shares of the pitch, and of the crop's width. None when the
    centres are no seven, left to right."""
    if len(centres) != 7 or not 0 <= gap < 8 or any(b <= a for a, b in zip(centres, centres[1:])):
        return None
    a, b, misfit = _fit(centres, 8, (gap,))
    return misfit, a * SLOTS[8][gap] + b


def whole_misfit(centres: Sequence[float]) -> float:
    """Seven read characters' ``centres`` as a whole blue / yellow plate's (440 mm, all 7 slots filled): the
    misfit (share of its pitch), ``inf`` where the fit needs an implausible scale or the centres are no seven."""
    if len(centres) != 7:
        return float("inf")
    return _misfit(centres, 7, ())


def gap_slot(centres: Sequence[float], n: int, candidates: Sequence[int] | None = None) -> int | None:
    """The slot of an ``n``-character single-row plate (7 or 8) that ``centres`` (``n - 1`` read
    characters' centres, shares of the crop's width, left to right) leave out, among
    ``candidates`` (the slots the text allows; default all) — None when it is ambiguous."""
    if n not in SLOTS or len(centres) != n - 1 or any(b <= a for a, b in zip(centres, centres[1:])):
        return None
    m = misfits(centres, n)
    order = sorted(candidates if candidates is not None else range(n), key=lambda k: m[k])
    if not order or not m[order[0]] < MAX_MISFIT:
        return None
    if len(order) > 1 and m[order[1]] - m[order[0]] < CLEAR:
        return None
    return order[0]


def placed(shape: Shape, centres: Sequence[float], kind: str | None = None) -> Shape:
    """``shape``, a partial read one character short of a 7- or 8-character single-row plate, with
    its ``?`` at the slot the read's ``centres`` leave out, among the slots where some character
    makes the text a plate (of ``kind``, when given; an NEV plate for 8): moved from where the text alone put it
    (``苏A9970?`` → ``苏A99?70``), or added to a read that fits no partial shape (a police plate's
    ``京A124警`` → ``京A12?4警``). The shape as it was when the gap is ambiguous, the read has no
    centres, or its ``?`` replaced a character the read did show (as many centres as places)."""
    known = shape.known
    marks = shape.text.count(MISSING)
    n = len(known) + 1
    if shape.complete or n not in SLOTS or marks > 1 or (marks and len(shape.text) != n) or len(centres) != len(known):
        return shape
    texts = [known[:k] + MISSING + known[k:] for k in range(n)]
    # the 8 slots are an NEV plate's (480 mm): an emergency plate's 8 characters sit otherwise on 440 mm
    kinds = (kind,) if kind or n == 7 else ("small_nev", "large_nev")
    k = gap_slot(centres, n, [k for k, m in enumerate(texts) if any(fillable(m, kd) for kd in kinds)])
    if k is None or texts[k] == shape.text:
        return shape
    return Shape(texts[k], False, "left" if k == 0 else "right" if k == n - 1 else None)
