"""The installer's masks (``camera.masks``): areas of the picture the bays' eyes never judge.

Why: a camera burns text into its picture that never ticks — its name, the site's, a logo, a privacy block — and
``overlay.TickWatch`` finds only a clock that ticks once a second (and only at ≥ ~2 fps). Such text over a bay reads
as a car to the classifier (a four-line label block across a rendered empty bay: p 0.91) and its edges as motion to
the change gate. An NVR has the installer draw a mask instead; here the masked pixels are filled in by the clock's
rule (``overlay.fill``: each column drawn straight across from the pixel just above the area to the one just below),
for the bays' classifier and change gate only — the plate reader and evidence photos keep the frame as sent. A bay
more than ``MASK_SHARE`` under the masks vouches for no empty bay (``bay_overlay``): the ground there is not known,
only that it is not text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from edge_agent.camera.overlay import PAD

#: A bay more than this share under the masks vouches for no empty bay (``bay_overlay``). Why a twentieth: a text line
#: clipping a bay's far corner leaves the ground seen, and a bay blinded by it would keep its lock down for good; a
#: larger share is a guess (the filled pixels) the verdict leans on, where a small car's bonnet or a bollard may hide.
MASK_SHARE = 0.05

Polygon = Sequence[tuple[float, float]] | np.ndarray  # (x, y) corners in frame pixels


def _union(polygons: Sequence[Polygon], shape: tuple[int, int]) -> np.ndarray:
    """The pixels of ``shape`` (rows, columns) any polygon covers, ``PAD`` px round them (the text's dark edge)."""
    m = np.zeros(shape, np.uint8)
    if polygons:
        for p in polygons:  # one at a time: polygons given together are one outline, where they overlap a hole
            cv2.fillPoly(m, [np.round(np.asarray(p, np.float64)).astype(np.int32)], 1)
        if PAD:
            m = cv2.dilate(m, np.ones((2 * PAD + 1, 2 * PAD + 1), np.uint8))
    return m.astype(bool)


def covered(polygons: Sequence[Polygon], shape: tuple[int, int]) -> np.ndarray:
    """The pixels of ``shape`` the masks cover as filled (``PAD`` round them): bool, rows x columns."""
    return _union(polygons, shape)


class MaskFill:
    """The masks' fill for frames of one size: where each masked pixel takes its value from, worked out once."""

    def __init__(self, polygons: Sequence[Polygon], shape: tuple[int, int]) -> None:
        h, w = shape
        m = _union(polygons, shape)
        self._by_channels: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        rows_any, cols_any = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
        if not rows_any.size:
            self.at = self.top = self.bottom = np.empty(0, np.intp)
            self.k = np.empty(0, np.float32)
            return
        # the masked area's bounding rows, one more each side (unmasked, or the frame's edge), its columns
        r0, r1 = max(0, int(rows_any[0]) - 1), min(h, int(rows_any[-1]) + 2)
        c0, c1 = int(cols_any[0]), int(cols_any[-1]) + 1
        sub = m[r0:r1, c0:c1]
        rows = np.arange(r0, r1).reshape(-1, 1)
        # per masked pixel: the nearest unmasked row above it and below it in its column (-1 / h: none)
        above = np.maximum.accumulate(np.where(sub, -1, rows), axis=0)
        below = np.minimum.accumulate(np.where(sub, h, rows)[::-1], axis=0)[::-1]
        ys, xs = np.nonzero(sub)
        a, b = above[ys, xs], below[ys, xs]
        ys, xs = ys + r0, xs + c0
        keep = (a >= 0) | (b < h)  # a column masked from top to bottom: nothing to draw from, left as sent
        ys, xs, a, b = ys[keep], xs[keep], a[keep], b[keep]
        # flat indices into the frame's pixels; a mask at the frame's edge draws from the one edge it has
        self.at = ys * w + xs
        self.top = np.where(a >= 0, a, b) * w + xs
        self.bottom = np.where(b < h, b, a) * w + xs
        self.k = ((ys - a) / np.maximum(b - a, 1)).astype(np.float32)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` with the masked pixels filled in (a copy; ``image`` itself when nothing is masked)."""
        if not self.at.size:
            return image
        at, top, bottom, k = self._indices(1 if image.ndim == 2 else image.shape[2])
        out = np.ascontiguousarray(image).copy()
        flat = out.reshape(-1)  # the frame's values one after another: 1-D gathers, several times a 2-D one's speed
        hi = flat.take(top).astype(np.float32)
        filled = hi + (flat.take(bottom) - hi) * k
        flat[at] = np.rint(filled).astype(image.dtype)
        return out

    def _indices(self, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pixel indices as indices of values, ``channels`` a pixel (worked out once for each count)."""
        if channels not in self._by_channels:
            c = np.arange(channels)
            self._by_channels[channels] = (*((i.reshape(-1, 1) * channels + c).reshape(-1)
                                             for i in (self.at, self.top, self.bottom)),
                                           np.repeat(self.k.reshape(-1), channels))
        return self._by_channels[channels]


def covered_shares(bays: Mapping[str, Polygon], polygons: Sequence[Polygon]) -> dict[str, float]:
    """Bay → the share of its pixels under the masks (as filled: ``PAD`` round them), the bays they touch only."""
    if not polygons or not bays:
        return {}
    pts = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in [*bays.values(), *polygons]])
    shape = (int(np.ceil(pts[:, 1].max())) + PAD + 2, int(np.ceil(pts[:, 0].max())) + PAD + 2)
    masked = _union(polygons, shape)
    out = {}
    for bay, poly in bays.items():
        inside = np.zeros(shape, np.uint8)
        cv2.fillPoly(inside, [np.round(np.asarray(poly, np.float64)).astype(np.int32)], 1)
        n = int(inside.sum())
        share = float((masked & inside.astype(bool)).sum()) / n if n else 0.0
        if share > 0:
            out[bay] = share
    return out


def under_masks(bays: Mapping[str, Polygon], polygons: Sequence[Polygon]) -> dict[str, float]:
    """The bays more than ``MASK_SHARE`` under the masks, with their share: they vouch for no empty bay."""
    return {b: s for b, s in covered_shares(bays, polygons).items() if s > MASK_SHARE}
