"""Targeted retries for reads that are not a complete plate (see ``shape.py``).

Why targeted: what is missing says where to look. A dropped province sits left of the
corners (small plates' corners cut it off), a dropped last character right of them, and a
lone lower row (``D1234``) under the upper row of a two-row plate. So the crop is widened on
that side, the plate is re-detected in an enlarged window (better corners at a higher
resolution), and the candidates are read in one batch. The best *complete* read that agrees
with what was already read wins; a retry may fill in, never swap the plate for another. A character
skipped inside the plate (where ``pitch`` places the gap) is not retried at all: widening brings nothing
new there, and a fill is the covered place read again (the pipeline keeps the read partial).
"""

from __future__ import annotations

import difflib

import numpy as np

from edge_agent.perception.detector import Detection
from edge_agent.perception.double_row import read_double_row
from edge_agent.perception.rectify import rectify
from edge_agent.perception.shape import Shape, agrees, plate_shape
from edge_agent.plates import PROVINCES

DOUBLE_ROW_SIZE = (192, 96)  # a 2:1 warp keeps the small top-row characters legible
WIDEN = {"left": (0.15, 0.3), "right": (0.12, 0.25)}  # fractions of the plate width tried per side
TWO_ROW_TOP = 0.7  # a lone lower row: the upper row is above it, about this share of its height
# A two-row plate found whole but unread: corners fitted to its big lower row cut the small upper
# row's characters in half; these fractions of the plate height are tried above it.
TWO_ROW_CUT_TOP = (0.15, 0.3)
REDETECT_ZOOM = 2.0  # the re-detection sees the plate this many times larger than the first pass
SIMILAR = 0.7  # reads of no known partial shape: a completion must be this alike (difflib ratio)
# ... and at most this many characters longer. A read of no known shape says nothing of where the characters it
# lacks were (a plate's pitch places one skipped character soundly, two not: ``pitch``), so a retry that adds
# two (``苏A970`` → ``苏A99070``) guessed both places and, if a spot hid them, both characters too.
MAX_UNPLACED = 1


def widen(corners: np.ndarray, left: float = 0.0, right: float = 0.0, top: float = 0.0) -> np.ndarray:
    """Move the sides of the quadrilateral TL, TR, BR, BL outwards by fractions of its size."""
    c = np.asarray(corners, np.float32).copy()
    top_w, bot_w = c[1] - c[0], c[2] - c[3]
    left_h, right_h = c[3] - c[0], c[2] - c[1]
    c[0] -= top_w * left + left_h * top
    c[3] -= bot_w * left
    c[1] += top_w * right
    c[1] -= right_h * top
    c[2] += bot_w * right
    return c


def widen_left(corners: np.ndarray, frac: float) -> np.ndarray:
    return widen(corners, left=frac)


class Completer:
    """``complete(frame, det, read)`` → the best complete ``(det, read, crop)`` or None."""

    def __init__(self, detector, recognizer, pad_x: float = 0.0, pad_y: float = 0.0,
                 province_widen: float = WIDEN["left"][0]) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.pad = (pad_x, pad_y)
        self.widen = dict(WIDEN, left=(province_widen, 2 * province_widen))

    def complete(self, frame: np.ndarray, det: Detection, shape: Shape):
        quads = self._quads(frame, det, shape)
        crops = [rectify(frame, q, pad_x=self.pad[0], pad_y=self.pad[1]) for q in quads]
        reads = list(self.recognizer.read(crops)) if crops else []
        seen: list[np.ndarray | None] = list(crops)  # the crop each read saw (None: two rows read apart)
        if len(shape.known) == 5:  # a lone lower row: read the two-row plate it belongs to
            for q in (widen(det.corners, top=TWO_ROW_TOP), widen(det.corners, top=TWO_ROW_TOP, left=0.05, right=0.05)):
                quads.append(q)
                reads.append(read_double_row(self.recognizer, rectify(frame, q, *DOUBLE_ROW_SIZE)))
                seen.append(None)
        best = None
        for q, read, crop in zip(quads, reads, seen):
            text, conf = read[0], read[1]
            if not plate_shape(text).complete or not self._agrees(shape, text):
                continue
            if best is None or conf > best[1][1]:
                best = (q, read, crop)
        if best is None:
            return None
        q, read, crop = best
        return Detection(q, det.box, det.score), read, crop

    def double_row(self, frame: np.ndarray, det: Detection):
        """A two-row plate read without a province (``read_double_row`` gave ``""``, or a
        letter-led military shape: ``MD00796``) read again with its top edge moved up
        (``TWO_ROW_CUT_TOP``): the detector frames the big lower row and cuts the upper row's
        province and letter in half (``渝D00796`` came out unread, its split rows reading
        ``D00796``). What was cut is the province, so only a read that starts with one counts.
        → ``(det, warped plate, read)`` of the most confident valid read, or None."""
        best = None
        for f in TWO_ROW_CUT_TOP:
            q = widen(det.corners, top=f)
            plate = rectify(frame, q, *DOUBLE_ROW_SIZE)
            read = read_double_row(self.recognizer, plate)
            if read[0] and read[0][0] in PROVINCES and (best is None or read[1] > best[2][1]):
                best = (Detection(q, det.box, det.score), plate, read)
        return best

    def _quads(self, frame: np.ndarray, det: Detection, shape: Shape) -> list[np.ndarray]:
        sides = [shape.missing] if shape.missing else ["left", "right"]
        bases = [det.corners]
        redo = self._redetect(frame, det)
        if redo is not None:
            bases.append(redo.corners)
        quads = []
        for base in bases:
            if redo is not None and base is redo.corners:
                quads.append(base)
            for side in sides:
                for f in self.widen[side]:
                    quads.append(widen(base, **{side: f * (2 if len(shape.known) == 5 and side == "left" else 1)}))
        return quads

    def _redetect(self, frame: np.ndarray, det: Detection) -> Detection | None:
        redetect = getattr(self.detector, "redetect", None)
        if redetect is None:
            return None
        found = redetect(frame, det, REDETECT_ZOOM)
        return found if found is not det else None

    @staticmethod
    def _agrees(shape: Shape, text: str) -> bool:
        if shape.missing:
            return agrees(shape, text)
        if len(text) - len(shape.known) > MAX_UNPLACED:
            return False  # two characters or more skipped at places nothing shows: a fill would be guesses
        return difflib.SequenceMatcher(None, shape.text, text).ratio() >= SIMILAR
