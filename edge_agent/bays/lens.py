"""Which bays does a drop or dirt on the lens hide? Judged on the frame itself, against the camera's own sharpness.

Why: ``bays.blur`` tells a blurred bay by its own recent sharp picture, so a lens already wet when the agent starts
(no sharp picture to compare with) passes it, and a parked car under a drop reads surely empty (probe wetfirst:
40 drops over 29 % of a PKLot camera from the first frame, 9 arms raised under parked cars). A drop or dirt takes
a picture's FINE detail while its coarse picture stays: an edge blurred by σ px keeps most of its energy in the
coarse band (Gaussian scales 2.8–5.6 px) and loses it in the fine band (0.7–1.4 px) — for a step edge the fine band
falls to 0.46 and the ratio of the two to 0.51 at σ = 2 px (0.30 at a drop's σ = 6). Light, contrast, fog's veil and
gain scale both bands alike, and the lens's, the codec's and the camera's own softness set the ratio for the whole
frame, so each 8 px tile is judged against the frame's median tile: a tile whose fine-to-coarse ratio is under
``SOFT`` of it is soft (its edges blurred by about 2 px more than the camera's usual). Only tiles with something to
blur count (``structured``: coarse energy at least the frame's median tile's): flat asphalt has no edge to lose.

A bay is obscured when more than ``OBSCURED`` of its structured tiles are soft — a drop over most of it — and stays
so until no more than ``CLEAR`` are (a drop does not come and go with a car moving under it). Measured on five
PKLot live-like clips (one look every 40–60 frames, 5 382 bay-looks with nothing on the lens): the share never
passed 0.39 (a few bays' own smooth roofs and shade: why not a third). A lens fogged evenly over
the whole picture moves the median with it and is not told here (``bays.blur`` tells it from the bay's history
when it comes mid-run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np

TILE = 8  # px of the frame per tile
FINE = (0.7, 1.4)  # Gaussian scales (px) of the fine band: what a drop takes
COARSE = (2.8, 5.6)  # …and of the coarse band: what it leaves
SOFT = 0.5  # a tile's fine-to-coarse ratio under this share of the frame's median tile's: soft (≈ 2 px of blur)
OBSCURED = 0.5  # more than this share of a bay's structured tiles soft: the bay is obscured
CLEAR = 0.25  # an obscured bay is seen again once no more than this share is soft (a third let 2 of 9 rise)


def _band(g: np.ndarray, scales: tuple[float, float], tile: int) -> np.ndarray:
    """The band's energy per ``tile`` px tile of ``g``."""
    h, w = g.shape[0] // tile, g.shape[1] // tile
    band = np.abs(cv2.GaussianBlur(g, (0, 0), scales[0]) - cv2.GaussianBlur(g, (0, 0), scales[1]))
    tiles: np.ndarray = band[: h * tile, : w * tile].reshape(h, tile, w, tile).sum((1, 3))
    return tiles


def soft_tiles(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ``TILE`` tile of ``grey``: (soft, structured) — see the module's docstring."""
    g = grey.astype(np.float32)
    h, w = g.shape[0] // TILE, g.shape[1] // TILE
    fine = _band(g, FINE, TILE)
    # The coarse band holds nothing finer than 2.8 px: it is measured on the picture halved (its 2x2 mean, a blur of
    # 0.5 px, taken out of the scales), a quarter of the pixels. Probe lens39, 1280x720, one thread: 92 → 36 ms
    # a look at best (131 → 72 ms median under load); on 8 real clips a bay's share moved by 0.05 at most (one
    # CNRPark mosaic bay 0.17) and 13 of 15,000 bay-looks changed flag, on shares at the 0.5 line.
    half = cv2.resize(g[: h * TILE, : w * TILE], (w * TILE // 2, h * TILE // 2), interpolation=cv2.INTER_AREA)
    scales = tuple(float(np.sqrt((s / 2) ** 2 - 0.25**2)) for s in COARSE)
    coarse = _band(half, (scales[0], scales[1]), TILE // 2) * 4
    structured = coarse >= np.median(coarse)
    ratio = fine / (coarse + 1e-3)
    typical = float(np.median(ratio[structured])) if structured.any() else 0.0
    return (ratio < SOFT * typical) & structured, structured


class LensWatch:
    """Per bay: is most of its picture softer than the rest of the camera's (``see``)?"""

    def __init__(self) -> None:
        self._obscured: set[str] = set()
        self._at, self._judged = float("-inf"), set[str]()  # when last judged, and which bays
        self._tiles: dict[str, tuple[tuple[tuple[float, float], ...], tuple[int, int], np.ndarray]] = {}

    def _in(self, bay: str, polygon: Sequence[tuple[float, float]], grid: tuple[int, int]) -> np.ndarray:
        """The tiles whose centre lies in the bay's outline (kept while the outline and the frame size stay)."""
        key = tuple((float(x), float(y)) for x, y in polygon)
        kept = self._tiles.get(bay)
        if kept is None or kept[0] != key or kept[1] != grid:
            mask = np.zeros(grid, np.uint8)
            pts = np.array([((x - TILE / 2) / TILE, (y - TILE / 2) / TILE) for x, y in key], np.float32)
            cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, shift=4)
            kept = self._tiles[bay] = (key, grid, mask.astype(bool))
        return kept[2]

    def shares(self, image: np.ndarray, bays: Mapping[str, Sequence[tuple[float, float]]]) -> dict[str, float]:
        """Each bay's share of its structured tiles that are soft on ``image`` (BGR or grey)."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        soft, structured = soft_tiles(grey)
        out = {}
        for b, poly in bays.items():
            counted = self._in(b, poly, soft.shape) & structured
            out[b] = float(soft[counted].sum() / counted.sum()) if counted.any() else 0.0
        return out

    def see(
        self, image: np.ndarray, bays: Mapping[str, Sequence[tuple[float, float]]], now: float, every_s: float = 0.0
    ) -> set[str]:
        """The bays of ``bays`` (outlines in frame pixels) a drop or dirt on the lens hides, judged on ``image`` at
        most once per ``every_s`` (four blurs, two of the whole frame: a drop does not come and go between looks)."""
        if now - self._at < every_s and set(bays) <= self._judged:
            return self._obscured & set(bays)
        self._at, self._judged = now, set(bays)
        for b, share in self.shares(image, bays).items():
            if share > OBSCURED:
                self._obscured.add(b)
            elif share <= CLEAR:
                self._obscured.discard(b)
        return self._obscured & set(bays)

    def adopt(self, old: LensWatch, bays: Iterable[str]) -> None:
        """A reload: ``bays`` (their pixels the same) keep what they were; a redrawn bay starts over."""
        self._obscured |= old._obscured & set(bays)

    def keep(self, old: LensWatch, outlines: Mapping[str, Sequence[tuple[float, float]]]) -> None:
        """A reload: each of ``outlines`` on the pixels (to 0.5 px a corner) of one ``old`` found obscured stays so —
        an old ground kept through a Save, or a redrawn bay's outline become its old ground. Why: judged afresh, a
        drop drying off the car in the doubt band (``CLEAR`` < share ≤ ``OBSCURED``) read sharp, the still car under
        it surely empty, and the arm rose under it (review100)."""
        hidden = [np.asarray(old._tiles[b][0], float) for b in old._obscured if b in old._tiles]
        for b, poly in outlines.items():
            p = np.asarray([(float(x), float(y)) for x, y in poly], float)
            if any(h.shape == p.shape and float(np.abs(h - p).max()) <= 0.5 for h in hidden):
                self._obscured.add(b)
