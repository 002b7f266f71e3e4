"""The province slot: a second, larger look when it is uncertain, and the site's priority list.

Why: on small plates the province is a dozen pixels of a complex glyph, and similar shapes
(湘/浙, 粤/鄂, 津/蒙) swap. When the recogniser's margin between its first and second province
is small, the left part of the plate (province + issuing letter) is read again on its own —
warped from the frame at a larger scale, so the glyph fills the recogniser's height — and the
two rankings are averaged. Only then, and only if the slot is *still* uncertain, the site's
``priority_provinces`` (what commercial plate cameras call 优先省份) decide among the
candidates: a local plate is the likelier one. A confident read is never overruled.

A slot still a close call after that larger look gets one more: the whole plate read from the frame
smoothed by less than a pixel (``DEBLOCK_SIGMA``). A re-compressed photo (a chat app's or phone's JPEG) cuts
the plate into 8×8-pixel blocks whose edges run through a province glyph's strokes, and the recogniser,
reading the edges as strokes, confuses provinces that differ by a few strokes (粤 / 鄂); the edges are a
step of one pixel, the strokes several, so the smoothing removes the one and keeps the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.perception.recognizer import province_ranking
from edge_agent.perception.rectify import rectify
from edge_agent.perception.retry import widen
from edge_agent.plates import PROVINCES

# First minus second province probability below this: look again. The recogniser is
# over-confident (新 0.91 over 浙 0.05 on a 54 px plate whose re-read says 浙 0.999); on
# plates-dev the re-read fixed 1 province and broke none at every threshold from 0.9 to "always".
UNCERTAIN_MARGIN = 0.9
# The site's priority decides only a close call: margin (after the re-read) below this.
PRIORITY_MARGIN = 0.3
PRIORITY_MIN = 0.05  # a priority province must at least be a candidate with this probability
LEFT_SHARE = 0.34  # province + dot + issuing letter: about a third of a 440 mm plate
LEFT_MARGIN = 0.06  # keep a strip left of the corners (they often cut the province)
CROP_SIZE = (72, 64)  # the left part warped larger: the glyph ~1.5× the height it has in 168×48
#: The third look's smoothing (Gaussian σ, frame pixels). Measured on plates-dev every 2nd photo (2026-12-06):
#: JPEG quality 30 粤 read 鄂 on 4 plates (71–128 px), complete; σ 0.7 gave 2 of them back, and no province of
#: the clean photos, JPEG q30 or ⅓ size changed for the worse (⅓: 1 more right, 新 → 浙); σ 1.0 turned a ⅓-size
#: 皖 into 鄂 — strokes, not only block edges, go under a wider blur
DEBLOCK_SIGMA = 0.7


@dataclass(frozen=True)
class ProvinceCall:
    province: str
    confidence: float
    margin: float
    source: str  # "read" | "reread" | "priority"


def margin_of(ranking: Sequence[tuple[str, float]]) -> float:
    if not ranking:
        return 0.0
    return ranking[0][1] - (ranking[1][1] if len(ranking) > 1 else 0.0)


def left_part(corners: np.ndarray) -> np.ndarray:
    """The quadrilateral of the plate's left third (province and issuing letter)."""
    c = np.asarray(corners, np.float32)
    tl, tr, br, bl = c
    return widen(np.array([tl, tl + (tr - tl) * LEFT_SHARE, bl + (br - bl) * LEFT_SHARE, bl], np.float32),
                 left=LEFT_MARGIN / LEFT_SHARE)


def fuse(*rankings: Sequence[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """Average several rankings (a province absent from one counts 0 there), best first."""
    rankings = [r for r in rankings if r]
    if not rankings:
        return ()
    total: dict[str, float] = {}
    for r in rankings:
        for ch, p in r:
            total[ch] = total.get(ch, 0.0) + p / len(rankings)
    return tuple(sorted(total.items(), key=lambda kv: -kv[1]))


class ProvinceReader:
    """Decides the province of one complete read: ``call(frame, corners, read)``."""

    def __init__(self, recognizer, priority: Sequence[str] = (), margin: float = UNCERTAIN_MARGIN,
                 reread: bool = True, pad: tuple[float, float] = (0.0, 0.0)) -> None:
        """``pad``: the plate crop's margins (``rectify``), as the pipeline reads plates."""
        self.recognizer = recognizer
        self.priority = tuple(priority)
        self.margin = margin
        self.reread = reread and hasattr(recognizer, "read_padded")
        self.pad = pad

    def call(self, frame: np.ndarray | None, corners: np.ndarray | None, read) -> ProvinceCall | None:
        text = read[0]
        ranking = province_ranking(read)
        if not text or text[0] not in PROVINCES or not ranking:
            return None
        if margin_of(ranking) >= self.margin:
            return ProvinceCall(ranking[0][0], ranking[0][1], margin_of(ranking), "read")
        source = "read"
        if self.reread and frame is not None and corners is not None:
            crop = rectify(frame, left_part(corners), *CROP_SIZE)
            again = province_ranking(self.recognizer.read_padded([crop])[0])
            if again:
                ranking, source = fuse(ranking, again), "reread"
            if margin_of(ranking) < PRIORITY_MARGIN:  # still a close call (or the larger look read no province)
                smooth = province_ranking(self.recognizer.read([self._deblocked(frame, corners)])[0])
                if smooth:
                    ranking, source = fuse(province_ranking(read), again, smooth), "reread"
        m = margin_of(ranking)
        if m < PRIORITY_MARGIN:
            for ch, p in ranking:
                if ch in self.priority and p >= PRIORITY_MIN:
                    return ProvinceCall(ch, p, m, "priority")
        return ProvinceCall(ranking[0][0], ranking[0][1], m, source)

    def _deblocked(self, frame: np.ndarray, corners: np.ndarray) -> np.ndarray:
        """The plate crop warped from the frame around it smoothed by ``DEBLOCK_SIGMA`` (only a window about the
        plate is smoothed: the cost of one read, not of the frame)."""
        c = np.asarray(corners, np.float32)
        (x1, y1), (x2, y2) = c.min(axis=0), c.max(axis=0)
        w, h = x2 - x1, y2 - y1
        fh, fw = frame.shape[:2]
        x0, y0 = int(max(0, x1 - w)), int(max(0, y1 - 2 * h))
        xe, ye = int(min(fw, x2 + w + 1)), int(min(fh, y2 + 2 * h + 1))
        window = cv2.GaussianBlur(frame[y0:ye, x0:xe], (0, 0), DEBLOCK_SIGMA)
        return rectify(window, c - np.float32([x0, y0]), pad_x=self.pad[0], pad_y=self.pad[1])
