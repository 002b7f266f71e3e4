"""Is an on-screen clock (OSD) stamped over the picture? Find the small box that ticks once a second.

Why: IP cameras burn a date-and-time line into every frame, and an installer who leaves it over the bays has text
read as a car: painted across the top rows of the live-like 2013-03-19 clip, two bays made false visits from the
start and a real arrival was lost (docs/occupancy.md, "Camera quirks"), and a bay under the digits judged the text,
not the ground, for the lock. The camera's menu moves or turns the OSD off; the agent's part is to notice and say so.

The one thing that tells a clock from the scene: its seconds digit changes **once a second, every second**, a sharp
step (text on the picture, tens of grey levels) on one frame and none on the frames between, to a new digit (a light
blinking 1 s on, 1 s off steps at the same beat, back to what it showed before). Sensor noise is a few
grey levels on a cell's mean; a car, a tree in the wind or a passer-by changes at no fixed period. So each cell of a
coarse grid (``GRID_COLS`` across) keeps the time of its last sharp change and a score: a change ~1 s after the last
one counts up, one at a time no tick explains (sooner, or between whole seconds) counts well down, a whole number of
seconds later (a digit step too faint in this cell) counts nothing. ``TICKS`` seconds in a row tick a cell; the
clock's other digits (tens of seconds, minutes) are then found by changing **only on the frames** the ticking cells
change on, in the same text line. Needs ≥ ~2 frames a second: at 1 fps a cell that changes on every frame reads as
ticking, so slower frames are never judged; a frame after a slow turn of the loop counts neither way, but keeps what
was found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

OVERLAY = "bay_overlay"  # the view code of a bay under a ticking overlay (BayVision.vision, bays_unseen)
GRID_COLS = 160  # cells across the frame: 8 px at 1280, 12 at 1920; an OSD digit is ≥ 2 cells tall
STEP = 24.0  # a cell's mean grey moving this much between frames is a sharp change (text, not sensor noise)
TOL_S = 0.25  # a tick's interval is 1 s within this
TICKS = 20  # this many ticks in a row (≈ seconds) make a ticking cell
BAD = 5  # a change no tick explains takes this many from the cell's score
QUIET_S = 5.0  # a ticking cell silent this long stopped ticking (the OSD moved or was turned off)
MAX_FRAME_GAP_S = 0.6  # frames further apart than this cannot tell a once-a-second tick from change on every frame
GAP = 3  # cells: the clock's digits lie this close side by side (a separator ":" between)
LINE_CHARS = 20  # an OSD line "2024-01-05 14:23:11" is ~19 characters, the seconds at one end (or a weekday after)
CHAR_W = 0.6  # an OSD character's width per its height
NEAR = 2  # cells: a step this close counts for a cell (a digit is 2-4 cells tall)
BACK = 0.75  # a ticking place whose ticks showed again what it showed before more than this share of the time is a
#              light blinking (1 s on, 1 s off: every tick), no clock: a seconds digit shows a new digit at most ticks
#              (two digits apart look alike on the coarse grid now and then: 0.2-0.41 of the ticks, painted clocks)
PAD = 2  # px: a filled box reaches this far past the box found (the text's dark edge, its anti-aliasing)
SYNC = 2  # a cell in the clock's line that changed this many times, each on a tick's frame and never otherwise


@dataclass(frozen=True)
class Overlay:
    """A ticking box in frame pixels: ``(x0, y0, x1, y1)`` (x1, y1 exclusive)."""

    box: tuple[int, int, int, int]

    def overlaps(self, polygon: np.ndarray) -> bool:
        """Does the box cover any pixel of ``polygon`` (N×2, frame pixels)?"""
        x0, y0, x1, y1 = self.box
        rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        area, _ = cv2.intersectConvexConvex(rect, cv2.convexHull(np.asarray(polygon, np.float32)))
        return area > 0.0


def fill(image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """``image`` with each box's pixels filled in from the rows just above and below it (a copy; ``image`` itself
    when there is no box). Why: the clock's text reads as a car to the bay classifier and as motion to the change
    gate; an NVR masks a burnt-in timestamp out of its motion detection the same way. The box is a text line, wide
    and a few digits tall, so each column is drawn straight across from its edge above to its edge below (a box at
    the frame's edge: from the one edge it has) — the ground under the text is not known, only that it is not text.
    """
    if not boxes:
        return image
    out = image.copy()
    h, w = image.shape[:2]
    for bx0, by0, bx1, by1 in boxes:
        x0, x1 = max(0, bx0 - PAD), min(w, bx1 + PAD)
        y0, y1 = max(0, by0 - PAD), min(h, by1 + PAD)
        if x1 <= x0 or y1 <= y0:
            continue
        above = image[y0 - 1, x0:x1].astype(np.float32) if y0 > 0 else None
        below = image[y1, x0:x1].astype(np.float32) if y1 < h else None
        if above is None and below is None:  # the box spans the frame's height: nothing to draw from
            continue
        top = above if above is not None else below
        bottom = below if below is not None else above
        k = ((np.arange(y1 - y0, dtype=np.float32) + 1) / (y1 - y0 + 1)).reshape((-1, 1) + (1,) * (image.ndim - 2))
        out[y0:y1, x0:x1] = np.rint(top[None] * (1 - k) + bottom[None] * k).astype(image.dtype)
    return out


class TickWatch:
    """Feed it every frame (``see``); ``overlays()`` are the boxes ticking now."""

    def __init__(self) -> None:
        self._small: np.ndarray | None = None
        self._t: float | None = None
        self._cell = 1.0
        self._width = 0
        self._last = np.empty(0)  # per cell: when it last changed sharply
        self._score = np.empty(0)  # per cell: ticks in a row, less the changes no tick explains
        self._sync = np.empty(0, np.int32)  # per cell: sharp changes on the frames the ticking cells changed
        self._async = np.empty(0, np.int32)  # per cell: sharp changes on other frames, since something ticked
        # per cell: its last change was seen across a gap (``MAX_FRAME_GAP_S``), at no time a beat can be told from:
        # its next change is timed from there, and counts neither way
        self._unsure = np.empty(0, bool)
        # per cell: its mean grey before the last sharp change near it. A clock's digit shows a new digit at each
        # tick; a light blinking 1 s on, 1 s off shows again what it showed before, at the same beat
        self._before = np.empty(0, np.float32)
        self._back = np.empty(0)  # per cell: of its ticks in a row (``_score``), those that showed nothing new
        self._now = 0.0

    def _reset(self, shape: tuple[int, int]) -> None:
        self._last = np.full(shape, -1e9)  # long ago (finite: no inf - inf)
        self._score = np.zeros(shape)
        self._sync = np.zeros(shape, np.int32)
        self._async = np.zeros(shape, np.int32)
        self._unsure = np.zeros(shape, bool)
        self._before = np.full(shape, np.nan, np.float32)
        self._back = np.zeros(shape)

    def see(self, image: np.ndarray, now: float) -> None:
        """One frame (BGR or grey) at ``now`` (seconds, monotonic)."""
        h, w = image.shape[:2]
        cols = min(GRID_COLS, w)
        rows = max(1, round(h * cols / w))
        small = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32)
        if small.ndim == 3:
            small = small.mean(axis=2)
        prev, t, self._small, self._t, self._now = self._small, self._t, small, now, now
        if prev is None or prev.shape != small.shape or t is None or not now > t:
            self._cell, self._width = w / cols, w
            self._reset(small.shape)
            return
        sharp = np.abs(small - prev) > STEP
        if not sharp.any():
            return
        # a digit's step changes only part of its cells, a different part at each second: the cell counts the steps
        # near it (NEAR cells), as the digit's place does
        near_of = np.ones((2 * NEAR + 1,) * 2, np.uint8)
        changed = cv2.dilate(sharp.astype(np.uint8), near_of) > 0
        # a tick only where the place shows something new: a cell near it unlike before the last change there (a
        # seconds digit's next digit; not a light going back to what it showed; NaN: nothing known before)
        new = cv2.dilate((changed & (np.abs(small - self._before) > STEP)).astype(np.uint8), near_of) > 0
        self._before[changed] = prev[changed]
        if now - t > MAX_FRAME_GAP_S:
            # too far apart to see a tick apart (a slow turn of the loop): a change across the gap counts neither
            # way, nor does the next one, timed from it. Why not forget all: one slow turn (a plate read on a small
            # board, an SD card's sync) lifted every bay_overlay at once, for the TICKS seconds to find it again
            self._last[changed], self._unsure[changed] = now, True
            return
        dt = now - self._last[changed]
        whole = np.round(dt)
        near = np.abs(dt - whole) <= TOL_S
        score, unsure = self._score[changed], self._unsure[changed]
        tick = near & (whole == 1) & ~unsure
        score = np.where(unsure, score,
                         np.where(tick, score + 1, np.where(near & (whole >= 2), score, np.maximum(score - BAD, 0))))
        self._score[changed] = score
        self._back[changed] = np.minimum(self._back[changed] + (tick & ~new[changed]), score)
        self._last[changed], self._unsure[changed] = now, False
        ticking = self._ticking()
        if ticking.any():
            if (sharp & ticking).any():
                self._sync[sharp] += 1
            else:
                self._async[sharp] += 1
        else:
            self._sync[:] = 0
            self._async[:] = 0

    def _ticking(self) -> np.ndarray:
        return (self._score >= TICKS) & (self._now - self._last <= QUIET_S)

    def overlays(self) -> list[Overlay]:
        """The ticking boxes, each with the cells of its text line that change only with its ticks."""
        if self._small is None or not self._last.size:
            return []
        ticking = self._ticking()
        if not ticking.any():
            return []
        n, labels = cv2.connectedComponents(
            cv2.dilate(ticking.astype(np.uint8), np.ones((3, 3), np.uint8)), connectivity=8)
        along = (self._sync >= SYNC) & (self._async == 0)
        out = []
        for i in range(1, n):
            place = ticking & (labels == i)
            if self._back[place].sum() > BACK * self._score[place].sum():  # a light blinking, no digits
                continue
            ys, xs = np.nonzero(place)  # the digits' place, NEAR cells round them
            # less NEAR - 1 cells each side: one cell round the digits (their edges step too little to count)
            x, y = int(xs.min()) + NEAR - 1, int(ys.min()) + NEAR - 1
            bw, bh = max(1, int(xs.max()) - NEAR + 2 - x), max(1, int(ys.max()) - NEAR + 2 - y)
            cols = along[y:y + bh].any(axis=0)  # the same text line: the clock's other digits, side by side
            x0, x1 = x, x + bw
            while x0 > 0 and cols[max(0, x0 - GAP):x0].any():
                x0 -= 1
            while x1 < cols.size and cols[x1:x1 + GAP].any():
                x1 += 1
            # the rest of the line (the date beside the time, the hours) seldom or never ticks: it reaches up to
            # LINE_CHARS characters of the digits' height either side
            # (the digits' height: the box less its margins, give or take a cell), less what was found of it
            c = self._cell
            reach = max(0.0, LINE_CHARS * CHAR_W * max(1, bh - 1) - (x1 - x0)) * c
            out.append(Overlay((max(0, int(x0 * c - reach)), int(y * c),
                                min(self._width, int(np.ceil(x1 * c + reach))), int(np.ceil((y + bh) * c)))))
        return out
