"""Has the camera moved since the bays were drawn? Feature matching (ORB corners, RANSAC) against
the installation's reference picture, on a 640-px grey frame.

Small shifts (wind, a sagging mount) are measured and the bay polygons follow them; a shift
beyond the tolerance means the polygons no longer describe the bays, so the camera's verdicts
cannot be trusted until the installer redraws or confirms the bays.

Why features and not phase correlation: on real lot frames hours apart (bays-dev PKLot, one
fixed camera) phase correlation found false peaks of 50–180 px once shadows and parked cars
changed; corners of kerbs, lines and buildings still matched there. Features are taken outside
the bay polygons only: the bays are where vehicles come and go (a mosaic of bay patches, all
bay, gave false shifts; masked, PKLot frames a day apart matched with 2–3x more inliers). Light changes over a
day are bridged by a small bank of later views whose offset to the reference was measured
when they were still similar enough (each measurement picks the bank entry it matches best).

The reference is the frame the agent first saw with these bays (kept on disk next to a hash
of the bay polygons, frame size and ``camera.rotate`` / ``flip``, so a restart compares with the
same picture and a redraw takes a new one). Bays edited while the agent was stopped that keep some
outline as it was (an id and its polygon) keep the stored picture at the start (``inherit``), as a
reload does (``keep_for``): the file names the bays it was stored for. Why: the first frame after the
start became every bay's reference, knocked or not; the unchanged outlines then lay on other ground,
with no ``camera_moved``, and an arm rose under a parked car. Only a redraw of every outline (or no
reference) takes the first frame.

A reference stored for the same bays in another view means the view was turned (rotate / flip
changed) under bays drawn on the old one: ``turned``. Those polygons lie on the wrong ground (a
half turn puts bay A's outline over bay B), so the camera counts as moved until the installer
redraws the bays or confirms the view, and the old reference stays on disk so that a restart
does not forget it. (Matching the turned view against the old reference instead read a half turn
as a 1000-px shift, but a mirror as no match at all: bays trusted.)

Most frames of a fixed camera show the view of the last measurement unmoved, so each frame is
first phase-correlated (0.2 ms on a 160-px grey thumbnail, ~1.5 ms with the thumbnail) with the
frame of the last feature measurement: a view that changed little (``STILL_MAD``) with a sure peak
within ``STILL_PX`` of nothing has not moved since, and that measurement stands. Phase correlation is only trusted to say "same
view, seconds later" here, never to measure (its false peaks above are between frames hours
apart); anything else, and every ``FULL_EVERY_S`` regardless, is matched by features (~25 ms).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.camera.masks import MaskFill, covered
from edge_agent.camera.orient import Orientation, all_orientations
from edge_agent.control import IDENTITY, Warp  # 2x3: reference px -> this view's px
from edge_agent.durable import read_small, write_durably

log = logging.getLogger(__name__)

WORK_WIDTH = 640
MIN_INLIERS = 30  # fewer agreeing matches: no measurement (night without lamps, view blocked)
# A view whose ground moved unlike a similarity (the mount slid sideways: near ground moves more than far, parallax,
# a shear in the picture) is measured by the general affine fit when that explains this many times the matches. Why:
# the similarity agreed with the far structure (1/3 of the matches) and carried the bays by it, 20-43 px off the
# ground they lie on, trusted (bays-dev PKLot, a slide moving the near bays 30-50 px: never ``camera_moved``). The
# ratio on unmoved PKLot pairs hours to days apart: 0.56-1.16; on such slides 1.68-2.56; turns, zooms, shifts ~1.0.
GENERAL_GAIN = 1.4
# A view whose lens distortion changed (the camera's lens distortion correction switched on or off, a wide lens
# swapped in) bends the picture about its centre: no similarity or affine fit follows it, and the one fitted to the
# middle (most of the matches) carried the bays 20-75 px off their ground at the edges, trusted, under 24 px
# (bays-dev PKLot, k1 -0.1: 12 parked cars read surely empty). Where undoing a radial term about the frame's centre
# (x_u = x_d (1 + k r^2), r in half-widths) lets the similarity explain ``GENERAL_GAIN`` times the matches (and
# ``MIN_INLIERS`` more), the bays' corners are moved by that bend too: beyond the tolerance the camera moved.
# Only a bend about the frame's centre is found: one about a point 5 % of the width off it (a cropped or
# off-centre stream) was trusted as before (docs/occupancy.md, camera shift).
LENS_KS = tuple(k for k in np.round(np.arange(-0.3, 0.301, 0.025), 3) if k != 0)
MASKED_MIN_KEYPOINTS = 200  # fewer outside the bays (a view that is nearly all bay): use the whole frame
FEATURES_N = 800  # corners kept per view (the inlier counts below are calibrated on this many)
# Kept spread over the view: cells of this many work px, each given its share of ``FEATURES_N`` (its strongest
# corners), the rest of the budget to the strongest corners left anywhere, chosen from ``SPREAD_POOL`` times as
# many candidates. Why: the strongest corners of a full lot are its cars' (white roofs on dark asphalt), also the
# cars outside the bays (in the aisle, overhanging their outlines); in a tight view (PKLot cropped to its bays, 2x)
# they took the budget from the kerbs and lines, and 25 cars leaving at once left 11-29 of 800 matching the
# reference: unmatched for 80 s, and every departure then withheld. Spread, 34-56 (the whole clip the same view).
SPREAD_CELL = 80
SPREAD_POOL = 8
# How ``FEATURES`` chose its corners; a file without it (0.20.0's and older: the 800 strongest) is not read, the picture's own
# (spread) taken instead. Why: the strongest corners of the sharp picture against the spread ones of each view matched
# a quarter fewer (bays-dev PKLot: median 134-140 against 156-180 with the picture's own, more views unmatched), and
# a tight view's reference kept its cars' corners, the unmatched minute the spread ended, for as long as its bays.
CHOSEN = f"spread {FEATURES_N}/{SPREAD_CELL}"
BANK = 6  # reference views kept (the installation's + later ones at other light)
FRESH_INLIERS = 120  # a view matching its best reference by fewer than this joins the bank...
BANK_EVERY_S = 600.0  # ...at most this often: a view banked with a car driving through would match that
#                       car in the next frames and read its motion as the camera's
THUMB_WIDTH = 160  # the still check's grey thumbnail: phase correlation there is within ~0.5 px of a true shift
STILL_PX = 2.0  # full-frame px: closer to the last measured view than this is "not moved" (features: +-1.5 px)
STILL_RESPONSE = 0.6  # phase-correlation peak needed to trust that (same view seconds apart: 0.95-1.0;
#                       pictures minutes apart with new cars and light: 0.4-0.96)
STILL_MAD = 2.0  # mean grey difference of the thumbnails beyond which the view changed (new cars, new light):
#                 measured by features again (sensor noise 0.4-0.7; PKLot pictures minutes apart 2.6-28)
FULL_EVERY_S = 30.0  # a feature measurement at least this often, still or not
# A view that matches no reference this long is reported (``Alignment``): a knock that turned the camera to face
# the ground, the sky or another row matches nothing, so it was never ``camera_moved``. Long enough that a truck
# parked close to the camera for a moment, or a single frame weeks from the reference, is no event.
UNMATCHED_REPORT_S = 60.0
# Two measured frames whose structure outside the bays correlates under this show another scene, not the same one in
# other light (``Registration.scene_likeness``): a knock that turned the camera away, a vehicle close to the lens.
# The structure is the grey thumbnail's log minus its blur (4 px): what the surfaces reflect, with the light's gain,
# a lamp's pool or an IR lamp's fall-off divided out; outside the bays, where cars do not come and go and the kept
# reference is not blurred. Measured on the bays-dev PKLot frames (tests/occupancy/test_scene_change.py): the same
# view dimmed to 8 % 0.87-0.93, turned IR with its lamp 0.97-0.99, a dark lot's lamps coming on 0.70-0.83; two
# pictures minutes to days apart 0.35-0.98, a picture against the kept reference of another day 0.39-0.98;
# knocked 60 or 120 px, tilted 200 px, turned 10 degrees, zoomed 1.5x or facing the sky -0.03-0.09; a van
# covering 40 % / 70 % of the frame 0.26-0.63 / 0.11-0.32.
SCENE_ZNCC = 0.3
# The first frame a run measures is compared with the kept reference, which may be weeks old (a camera knocked while
# the agent was stopped). Measured over the PKLot frames, each kept as the reference and every other frame as the
# view at a restart (probe review11): the unmoved camera 0.20-0.98 in 870 pairs (12 under 0.3, all of them views that
# match nothing, which 0.3 held blind until a frame matched), knocked views -0.09-0.09 in 750.
SCENE_ZNCC_START = 0.15
SCENE_BLUR = 4.0  # thumbnail px: the light's own variation is smoother than this
BAY_BLUR = 8.0  # work px (sigma): the bays of a kept reference, where parked cars and their plates stand, as blobs
PLATE_GROW = 0.5  # a plate's box on the kept reference blurred with this much of its size around it
#: the plates in a frame, (x1, y1, x2, y2) in its pixels: the agent's plate reader (``Registration.hide``)
PlateBoxes = Callable[[np.ndarray], list[tuple[float, float, float, float]]]
KEPT = 1  # reference.json's ``kept``: the picture is stored as ``kept_view`` makes it (absent: a raw frame)
FEATURES = "reference-features.npz"  # the kept reference's features outside the bays, taken before their blur

# what is read of the reference's files at most: its JSON is a few KiB (bays' outlines), its picture a grey PNG of
# one frame (a 48 MP frame, the most a camera may send, is 48 MB raw), its features a few thousand keypoints
META_MAX_BYTES = 4 << 20
PICTURE_MAX_BYTES = 128 << 20


def read_own(path: Path, limit: int) -> bytes:
    """A file the agent keeps in ``{data_dir}/camera``, read as its own regular file through no link (``OSError``
    otherwise, ``FileNotFoundError`` when absent; ``ValueError`` over ``limit``). Why: the frame loop read these by
    name, and a FIFO planted there (the data folder may be written by others) held it for ever, every bay and lock
    with it; a link to ``/dev/zero`` was read until memory ran out."""
    data = read_small(path, limit, nofollow=True)
    if len(data) > limit:
        raise ValueError(f"{Path(path).name} is larger than {limit >> 20} MiB: no file the agent wrote")
    return data


def read_meta(path: Path) -> Any:
    """The JSON document at ``path`` (``read_own``)."""
    return json.loads(read_own(path, META_MAX_BYTES))


def read_picture(path: Path) -> np.ndarray | None:
    """The stored grey reference picture (``read_own``); None when it cannot be read or decoded, as ``imread``."""
    try:
        data = read_own(path, PICTURE_MAX_BYTES)
    except (OSError, ValueError):
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None




@dataclass(frozen=True)
class Shift:
    """How the view moved: ``warp`` maps the reference's full-frame pixels to the frame's (a turn about the
    view, a zoom and a shift: what a knocked mount or a slipped lens does). ``dx`` / ``dy``: how far the bays
    moved on average (the scene moved this far right / down); ``px``: the most any bay corner moved.

    Why not a translation alone: the similarity fitted to the matches was reduced to its translation, which is
    the motion of the image's top-left pixel. A 1° turn of a 1280x720 view about its centre read as a
    13 px shift, and the bays were moved by it although the middle ones had not moved and the far ones had
    moved the other way (their outlines ended up to 22 px off, twice as far as left alone); a turn about
    a corner read as no shift at all while the bays across the view moved tens of pixels."""

    dx: float  # full-frame pixels
    dy: float
    response: float  # 0..1: RANSAC inliers / 200, how sure
    px: float  # the largest displacement of a bay corner
    warp: Warp

    @classmethod
    def of(cls, warp: np.ndarray, points: np.ndarray, response: float) -> Shift:
        """The shift ``warp`` gives ``points`` (n x 2, full-frame px: the bays' corners)."""
        moved = points @ warp[:, :2].T + warp[:, 2] - points
        d = np.hypot(moved[:, 0], moved[:, 1])
        mean = moved.mean(axis=0)
        w = tuple(tuple(float(v) for v in row) for row in warp)
        return cls(float(mean[0]), float(mean[1]), response, float(d.max()), w)  # type: ignore[arg-type]

    def apply(self, points: list) -> list[tuple[float, float]]:
        """``points`` (reference px) where this view shows them."""
        (a, b, c), (d, e, f) = self.warp
        return [(a * float(x) + b * float(y) + c, d * float(x) + e * float(y) + f) for x, y in points]


def bent(shift: Shift, points: np.ndarray, k: float, size: tuple[int, int]) -> Shift:
    """``shift`` with ``px`` the most a bay corner moved once the lens's changed radial term ``k`` (``LENS_KS``)
    bends the view too: the warp cannot carry them there, so only the verdict "moved" changes."""
    c = np.float64(size) / 2
    u = (np.float64(shift.apply(points.tolist())) - c) / c[0]  # where the similarity puts them, undistorted
    d = u.copy()
    for _ in range(20):  # x_u = x_d (1 + k r_d^2), solved for x_d
        d = u / np.maximum(1 + k * (d * d).sum(axis=1, keepdims=True), 0.2)
    moved = float(np.hypot(*(d * c[0] + c - points).T).max())
    return replace(shift, px=max(shift.px, moved))


def reference_key(size: tuple[int, int] | None, polygons: list, view: str | None = None,
                  config_order: bool = False) -> str:
    """What the reference belongs to: the frame size, the drawn bays (``[id, outline]``, by id) and the view's
    turn (``Orientation.key``; an upright view hashes as before rotate existed, so upgrading keeps it).
    ``size`` None: the bays and the view alone (what a learned frame size belongs to, ``frame_size.py``).

    Why by id: bays hashed in the config's order made a hand edit that only moved a bay up the list (or an
    installer's Save that wrote them in another order) a redraw: a camera knocked beyond tolerance before it took
    its knocked view as the new reference, silently. ``config_order``: the key as written until 2026-12-04, still
    read (``stored_for``) so an upgrade keeps a reference stored for bays listed out of id order."""
    bays = polygons if config_order else sorted(polygons, key=lambda b: str(b[0]))
    doc: dict = {"bays": bays} if size is None else {"size": list(size), "bays": bays}
    if view is not None:
        doc["view"] = view
    blob = json.dumps(doc, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stored_for(stored: object, size: tuple[int, int] | None, polygons: list, view: str | None = None) -> bool:
    """Whether a stored key names these bays' reference (as written now, or in the config's order, before)."""
    return stored in (reference_key(size, polygons, view), reference_key(size, polygons, view, config_order=True))


def _drawn(polygons: object) -> set[tuple[tuple[float, float], ...]]:
    """Each bay's outline, comparable between the config and a stored file; nothing for what is not bays."""
    try:
        return {tuple((float(x), float(y)) for x, y in poly) for _, poly in polygons}  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return set()


def shares_outline(stored: object, polygons: list) -> bool:
    """Whether bays ``stored`` (``[id, outline]``, as a reference file names them) and ``polygons`` keep some
    outline as it was drawn: then the reference picture is the one it was drawn on (a reload's edit, a restart's).

    By outline, not by id and outline: an outline left as it was is the old drawing whatever the bay is called now.
    Renaming the bays by hand while the camera was knocked made a restart take the knocked view as their reference
    (no outline kept "by id"), while a reload kept it: the one rule for both is the one that never takes a view
    nobody confirmed."""
    return bool(_drawn(stored) & _drawn(polygons))


def before_named(doc: object) -> bool:
    """Whether a stored reference / frame-size file is one a release before 0.9.0 wrote: its key alone, naming no
    bays. Its key was written for the bays that release last ran with (it took a new reference whenever they
    changed), so a key these bays do not match at the start means bays edited while the agent was stopped, over
    the upgrade, and which outlines stayed is unknown: the stored picture and size are kept as for bays sharing
    an outline. A full redraw for a camera really moved then reads ``camera_moved`` until the view is confirmed
    on the installer page (arms down: the doubt's safe side); taking the first frame accepted a knocked view."""
    return isinstance(doc, dict) and isinstance(doc.get("key"), str) and "bays" not in doc


def turned_from(key: str, size: tuple[int, int], polygons: list, view: Orientation) -> Orientation | None:
    """The other view whose reference for these bays ``key`` is, or None. ``size``: the upright frame's."""
    camera_size = view.upright_size(size)  # a quarter turn is its own inverse on sizes
    for other in all_orientations():
        if other.key != view.key and stored_for(key, other.upright_size(camera_size), polygons, other.key):
            return other
    return None


def spread(keypoints: tuple, shape: tuple[int, int], n: int = FEATURES_N) -> list:
    """At most ``n`` of ``keypoints``, spread over a view of ``shape`` (h, w): each ``SPREAD_CELL`` cell's strongest
    (its share of ``n``), then the strongest of the rest. Why: see ``SPREAD_CELL``."""
    if len(keypoints) <= n:
        return list(keypoints)
    h, w = shape
    cols, rows = max(1, -(-w // SPREAD_CELL)), max(1, -(-h // SPREAD_CELL))
    xy = np.float32([k.pt for k in keypoints])
    strength = np.float32([k.response for k in keypoints])
    cell = np.minimum(xy[:, 1] // SPREAD_CELL, rows - 1).astype(np.int64) * cols \
        + np.minimum(xy[:, 0] // SPREAD_CELL, cols - 1).astype(np.int64)
    order = np.lexsort((-strength, cell))  # by cell, strongest first
    first = np.r_[0, np.flatnonzero(np.diff(cell[order])) + 1]  # where each cell's run starts in ``order``
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    share = order[rank < max(1, n // (cols * rows))]
    rest = order[rank >= max(1, n // (cols * rows))]
    rest = rest[np.argsort(-strength[rest], kind="stable")][:max(0, n - len(share))]
    return [keypoints[i] for i in np.sort(np.r_[share, rest])]


@dataclass
class _View:
    keypoints: np.ndarray  # (n, 2) in work pixels
    descriptors: np.ndarray
    warp: np.ndarray  # 2x3: the installation's reference (full-frame px) -> this view (full-frame px)


class Registration:
    """Measures a frame's shift against the reference; ``moved`` beyond ``tolerance_px``."""

    def __init__(self, tolerance_px: float, polygons: list, store: Path | None = None,
                 view: Orientation | None = None, inherit: bool = False, hide: PlateBoxes | None = None) -> None:
        self.tolerance_px = tolerance_px
        self.hide = hide  # where the plates are in a frame that becomes the reference: blurred on the kept view
        self.polygons = polygons
        self.store = store
        self.view = view or Orientation()
        # at the agent's start: a stored reference of bays that share an outline with these is theirs (the bays were
        # edited while it was stopped); never after a redraw, whose outlines are the current view's
        self._inherit = inherit
        self.turned: Orientation | None = None  # the bays were drawn on this other view (module docstring)
        self.lost: str | None = None  # why the stored reference of these bays cannot be read (``_lost``)
        self._orb = cv2.ORB_create(FEATURES_N * SPREAD_POOL)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
        self._clahe = cv2.createCLAHE(2.0, (8, 8))
        self._bank: list[_View] = []
        self._banked_at = float("-inf")
        self._masked = True  # features outside the bays only (decided on the reference)
        self._sharp: _View | None = None  # the reference's features outside the bays, taken before their blur
        self._scale = 1.0
        self._size: tuple[int, int] | None = None
        self.last: Shift | None = None
        self._anchor: np.ndarray | None = None  # thumbnail of the last feature-measured frame
        self._anchor_at = float("-inf")
        self._window: np.ndarray | None = None
        self.full_runs = 0  # feature measurements made (the still check skipped the others)
        self.thumb: np.ndarray | None = None  # the grey thumbnail of the last frame measured (``same_scene``)
        self.ref_thumb: np.ndarray | None = None  # the reference's, at the frames' size
        self._mask: np.ndarray = np.ones((1, 1), bool)  # ``_scene_mask``, for ``_mask_for`` (thumb shape, frame size)
        self._mask_for: tuple | None = None
        # ``camera.masks`` where they were drawn: text the camera burns in stays put in the frame while the view moves
        # (``set_masks``); filled and left out of the features as the bays are (``_view``)
        self.masks: list = []
        self._masks_at: tuple | None = None  # (work shape, scale) the two below were worked out for
        self._masks_fill: MaskFill | None = None
        self._masks_px: np.ndarray | None = None

    def set_masks(self, masks: list) -> None:
        """The installer's masks (``camera.masks``), from the next view on. Why: burnt-in text (a camera name, a
        label block) is features that never move with the view; where it has more corners than the scene around
        the bays, RANSAC agrees on it and the shift read ~0 (bays-dev PKLot with a 4-line label outside the bays,
        shifted 5-17 px: error median 5.5 px, 67 of 100 over 3 px; filled and left out: 0.20 px, 5, as unlabelled)."""
        self.masks = [[(float(x), float(y)) for x, y in m] for m in masks]
        self._masks_at = None

    def _unmask(self, small: np.ndarray, detect: np.ndarray) -> np.ndarray:
        """``small`` (the work-size grey) with the masks filled in, and their pixels taken out of ``detect``."""
        key = (small.shape, self._scale)
        if self._masks_at != key:
            polys = [np.float64(m) * self._scale for m in self.masks]
            self._masks_fill = MaskFill(polys, small.shape[:2])
            self._masks_px = covered(polys, small.shape[:2])
            self._masks_at = key
        assert self._masks_fill is not None and self._masks_px is not None
        detect[self._masks_px] = 0
        return self._masks_fill.apply(small)

    def _view(self, img: np.ndarray, masked: bool | None = None) -> _View | None:
        """``img``'s features, outside the bays when ``masked`` (None: as decided on the reference, ``_masked``)."""
        masked = self._masked if masked is None else masked
        grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        self._scale = min(1.0, WORK_WIDTH / grey.shape[1])
        small = cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        mask = np.full(small.shape, 255, np.uint8)
        for _, poly in self.polygons if masked else ():  # bays change; kerbs, lines and walls do not
            cv2.fillPoly(mask, [np.round(np.float32(poly) * self._scale).astype(np.int32)], 0)
        if self.masks:  # burnt-in text: in place in every frame, whatever the view does
            small = self._unmask(small, mask)
        small = self._clahe.apply(small)
        kp, des = self._orb.compute(small, spread(self._orb.detect(small, mask), small.shape[:2]))
        if des is None or len(kp) < MIN_INLIERS:
            return None
        return _View(np.float32([k.pt for k in kp]), des, np.float64(IDENTITY))

    def kept_view(self, frame: np.ndarray) -> np.ndarray:
        """The reference as the device keeps it (on disk and in memory): grey, no finer than the 640-px work size
        the features are taken at (scaled back to the frame's size), and the bays blurred to blobs when the
        features are taken outside them. What a camera-shift check needs is kerbs, lines and walls.

        Why: the stored reference was the raw colour frame, kept for as long as the bays: a full view of the car
        park with the parked cars' plates and anyone walking by (personal data, PIPL / GDPR), made at
        installation or a Confirm and never deleted. Colour and the detail finer than the work size are never
        used; the bays' pixels are not (``_view``) unless the view is nearly all bay. Then (and on every view) the
        plates ``hide`` finds are blurred with half their size around them: a plate large enough to read is a
        few corners among hundreds to the measurement (still read at 160 px wide on the synthetic lot). The features
        outside the bays are taken before their blur (``_sharp``, kept beside the picture: ``FEATURES``).

        Only what is stored is kept so: the run that takes a reference measures on the frame itself, which it
        holds as corners and descriptors only (``_view``), never as a picture. Why: measuring on the kept view
        moved the shifts by fractions of a pixel, enough to tip a bay in the doubt band at the start of the
        2013-03-19 live-like replay (a false arrival, accuracy 0.910 -> 0.889); a restart measures on the kept
        view, which on PKLot pairs is as exact as the raw frame (median 2.85 px against 3.04)."""
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        scale = min(1.0, WORK_WIDTH / w)
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for x1, y1, x2, y2 in self._plates(frame):
            gx, gy = (x2 - x1) * PLATE_GROW, (y2 - y1) * PLATE_GROW
            a, b = max(0, int((x1 - gx) * scale)), max(0, int((y1 - gy) * scale))
            c, d = min(small.shape[1], int(np.ceil((x2 + gx) * scale))), min(small.shape[0], int(np.ceil((y2 + gy) * scale)))
            if c > a and d > b:
                small[b:d, a:c] = cv2.GaussianBlur(small[b:d, a:c], (0, 0), max(2.0, (d - b) / 2))
        # decided as ``measure`` decides it on a new reference, outside the bays first: not by ``_masked``, which is
        # the last reference's (a Confirm or a new frame size on a view that is nearly all bay blurred the bays its
        # features are taken in, and the view matched nothing from then on, a restart too: arms down for good)
        masked = self._view(grey, masked=True)
        self._sharp = None
        if self.polygons and masked is not None and len(masked.keypoints) >= MASKED_MIN_KEYPOINTS:
            # the features outside the bays as the sharp (plates blurred) picture gives them: the bays' blur
            # reaches them (an ORB patch is 31 px at each of 8 scales) and a view measured against the blurred
            # picture matched nothing more often (bays-dev PKLot, ``_features``)
            sharp = self._view(small if scale == 1.0 else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR),
                               masked=True)
            self._sharp = sharp if sharp is not None and len(sharp.keypoints) >= MASKED_MIN_KEYPOINTS else None
            bays = np.zeros(small.shape, np.uint8)
            for _, poly in self.polygons:
                cv2.fillPoly(bays, [np.round(np.float32(poly) * scale).astype(np.int32)], 255)
            blurred = cv2.GaussianBlur(small, (0, 0), BAY_BLUR)
            small = np.where(bays > 0, blurred, small)
        return small if scale == 1.0 else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    def _plates(self, frame: np.ndarray) -> list[tuple[float, float, float, float]]:
        """``hide``'s plate boxes in ``frame`` (a stored grey picture read as colour); none when it fails: the
        reference is still taken (the bays' blur and the work size stand), the failure logged."""
        if self.hide is None:
            return []
        try:
            return list(self.hide(frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)))
        except Exception as exc:  # noqa: BLE001 - a reader's failure must not cost the camera-shift check
            log.warning("plates not found on the camera reference (%s): kept without their blur", exc)
            return []

    def _thumb(self, img: np.ndarray) -> np.ndarray:
        s = min(1.0, THUMB_WIDTH / img.shape[1])
        small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return np.float32(grey)

    def scene_likeness(self, a: np.ndarray, b: np.ndarray) -> float:
        """How alike two thumbnails' structure is outside the bays, whatever the light (``SCENE_ZNCC``): -1..1.
        Outside the bays because cars come and go in them, and the kept reference has them blurred."""
        if a.shape != b.shape:
            return -1.0
        sa, sb = (np.log1p(t) for t in (a, b))
        sa, sb = sa - cv2.GaussianBlur(sa, (0, 0), SCENE_BLUR), sb - cv2.GaussianBlur(sb, (0, 0), SCENE_BLUR)
        keep = self._scene_mask(a.shape)
        sa, sb = sa[keep], sb[keep]
        sa, sb = sa - sa.mean(), sb - sb.mean()
        norm = float(np.sqrt((sa * sa).sum() * (sb * sb).sum()))
        return float((sa * sb).sum()) / norm if norm > 0 else -1.0

    def same_scene(self, a: np.ndarray | None, b: np.ndarray | None, floor: float = SCENE_ZNCC) -> bool:
        """Whether two thumbnails show one scene (``scene_likeness`` at least ``floor``)."""
        return a is not None and b is not None and self.scene_likeness(a, b) >= floor

    def _scene_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """The thumbnail's pixels outside the bays (all of them where the bays fill nearly the whole view)."""
        if self._mask_for != (shape, self._size):
            keep = np.full(shape[:2], 255, np.uint8)
            if self._size is not None:
                s = shape[1] / self._size[0]
                for _, poly in self.polygons:
                    cv2.fillPoly(keep, [np.round(np.float32(poly) * s).astype(np.int32)], 0)
                keep = cv2.erode(keep, np.ones((3, 3), np.uint8))
            self._mask = keep > 0 if (keep > 0).mean() >= 0.2 else np.ones(shape[:2], bool)
            self._mask_for = (shape, self._size)
        return self._mask

    def _still(self, thumb: np.ndarray, full_width: int, now: float) -> bool:
        """Has the view stayed where the last feature measurement found it? (see the module docstring)"""
        a = self._anchor
        if a is None or a.shape != thumb.shape or self.last is None or self.moved(self.last) \
                or not 0.0 <= now - self._anchor_at < FULL_EVERY_S:
            return False
        if self._window is None or self._window.shape != a.shape:
            self._window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
        if float(cv2.absdiff(a, thumb).mean()) > STILL_MAD:
            return False
        (dx, dy), response = cv2.phaseCorrelate(a, thumb, self._window)
        scale = full_width / a.shape[1]
        return bool(response >= STILL_RESPONSE and np.hypot(dx, dy) * scale <= STILL_PX)

    def _reference(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The stored reference for these bays, or this frame (then stored)."""
        size = (frame_bgr.shape[1], frame_bgr.shape[0])
        inherit, self._inherit = self._inherit, False  # the first reference of this run only
        self._sharp = None
        if self.store is None:
            return frame_bgr
        key = reference_key(size, self.polygons, self.view.key)
        meta, pic = self.store / "reference.json", self.store / "reference.png"
        try:
            doc = read_meta(meta)
            stored = doc.get("key")
            if stored_for(stored, size, self.polygons, self.view.key):
                img = read_picture(pic)
                if img is not None and (img.shape[1], img.shape[0]) == size:
                    if doc.get("kept") != KEPT:  # a raw frame stored before 2026-12-05: kept as it is kept now
                        img = self._keep_stored(img, doc)
                    else:
                        self._sharp = self._features(size)
                    if stored != key or "bays" not in doc:  # written in the config's order (before 2026-12-04)
                        self._rekey(meta, size, self.view.key)  # or without its bays: by id, naming them, now
                    return img
                return self._lost(frame_bgr, f"{pic.name} missing or unreadable under a {meta.name} naming these bays")
            elif isinstance(stored, str):
                self.turned = turned_from(stored, size, self.polygons, self.view)
                if self.turned is None and inherit and (before_named(doc)
                                                        or shares_outline(doc.get("bays"), self.polygons)):
                    kept = self._inherited(doc, frame_bgr)
                    if kept is not None:
                        return kept if doc.get("kept") == KEPT else self._keep_stored(kept, None)
                    if self.turned is None:  # no picture to keep (``_inherited``: not another view's)
                        return self._lost(frame_bgr, f"{pic.name} missing or unreadable under a {meta.name} "
                                                     "naming bays that share an outline with these")
                if self.turned is not None:  # keep the old reference: it remembers the view the bays fit
                    old = read_picture(pic) if doc.get("kept") != KEPT else None
                    if old is not None:  # the bays were drawn on it: their outlines lie on its ground
                        self._keep_stored(old, doc)
                        self._sharp = None  # the old view's features: this run measures on its own frame
                    log.warning("camera view turned (%s, the bays were drawn %s): bays blind until redrawn "
                                "or confirmed", self.view.describe(), self.turned.describe())
                    return frame_bgr
            elif inherit:  # no key: which bays (and view) it was stored for is unknown
                return self._lost(frame_bgr, f"{meta.name} names no reference key")
        except FileNotFoundError:  # no reference stored: this frame is the first with these bays
            if inherit and pic.exists():  # a picture without its key: a store cut short (``confirm`` on a full disk)
                return self._lost(frame_bgr, f"{pic.name} without {meta.name}")
        except (OSError, ValueError, AttributeError) as exc:
            if inherit:  # a reference was stored, and may be these bays': never replaced by a view nobody confirmed
                return self._lost(frame_bgr, f"{meta.name} unreadable ({exc})")
        kept = self.kept_view(frame_bgr)
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            ok, png = cv2.imencode(".png", kept)
            if ok:  # picture, then the key naming it: a cut between them leaves an old key, stored anew
                write_durably(pic, png.tobytes())
                self._keep_features(png.tobytes(), size)
                write_durably(meta, self._meta(size, self.view.key))
        except OSError as exc:  # a read-only disk: measure against this run's first frame
            log.warning("camera reference not saved (%s)", exc)
        self._sharp = None  # this run measures on the frame itself (see ``kept_view``)
        return frame_bgr

    def _keep_stored(self, img: np.ndarray, doc: dict | None) -> np.ndarray:
        """A stored raw reference (an older release's) replaced on disk by its kept view (``kept_view``), and
        ``doc`` (its reference.json; None: rewritten by the caller) marked so."""
        assert self.store is not None
        kept = self.kept_view(img)
        ok, png = cv2.imencode(".png", kept)
        try:
            if ok:
                write_durably(self.store / "reference.png", png.tobytes())
                self._keep_features(png.tobytes(), (img.shape[1], img.shape[0]))
                if doc is not None:
                    write_durably(self.store / "reference.json", json.dumps({**doc, "kept": KEPT}).encode())
        except OSError as exc:  # measured against the kept view all the same; the next start tries again
            log.warning("camera reference not replaced by its kept view (%s)", exc)
        return kept

    def _lost(self, frame_bgr: np.ndarray, why: str) -> np.ndarray:
        """The stored reference of these bays cannot be read: the view they were drawn on is unknown. This frame is
        measured against itself (not stored) while ``lost`` blinds the bays, as a turned view does, until the
        installer confirms the view or redraws the bays.

        Why: the frame was taken as the reference, silently: with ``reference.png`` gone (a card's damage, a file
        deleted by hand) and the camera knocked 60 px while the agent was stopped, bay A's outline lay on the
        asphalt beside the parked car, read empty, and the arm rose under the car with no ``camera_moved``."""
        self.lost = why
        log.warning("camera reference of these bays lost (%s): bays blind until the view is confirmed or the bays "
                    "are redrawn on the installer page", why)
        return frame_bgr

    def _keep_features(self, png: bytes, size: tuple[int, int]) -> None:
        """``FEATURES``: the kept picture's sharp features (``kept_view``), naming the picture (its hash) and the
        bays they were taken outside (their key); none (removed) when the picture's own are the reference's."""
        assert self.store is not None
        path = self.store / FEATURES
        if self._sharp is None:
            path.unlink(missing_ok=True)
            return
        buf = io.BytesIO()
        np.savez(buf, keypoints=self._sharp.keypoints, descriptors=self._sharp.descriptors,
                 key=np.array(reference_key(size, self.polygons, self.view.key)), chosen=np.array(CHOSEN),
                 picture=np.array(hashlib.sha256(png).hexdigest()))
        try:
            write_durably(path, buf.getvalue())
        except OSError as exc:  # the picture's own are taken at the next start (an old file names another picture)
            log.warning("camera reference features not saved (%s)", exc)

    def _features(self, size: tuple[int, int]) -> _View | None:
        """The stored picture's sharp features (``_keep_features``) when they name it and these bays; None: the
        picture's own are taken (a reference scaled, re-keyed to edited bays, stored before 2026-12-05, or its
        corners chosen otherwise: ``CHOSEN``)."""
        assert self.store is not None
        try:
            with np.load(io.BytesIO(read_own(self.store / FEATURES, PICTURE_MAX_BYTES)), allow_pickle=False) as f:
                kp, des, key, picture = f["keypoints"], f["descriptors"], str(f["key"]), str(f["picture"])
                chosen = str(f["chosen"]) if "chosen" in f.files else None
            if chosen != CHOSEN or picture != hashlib.sha256(read_own(self.store / "reference.png", PICTURE_MAX_BYTES)).hexdigest() \
                    or not stored_for(key, size, self.polygons, self.view.key) or kp.ndim != 2 or kp.shape[1] != 2 \
                    or des.dtype != np.uint8 or des.shape != (len(kp), 32) or len(kp) < MASKED_MIN_KEYPOINTS:
                return None
        except Exception:  # noqa: BLE001 - missing, damaged (a zip error is no OSError): the picture's own
            return None
        return _View(np.float32(kp), des, np.float64(IDENTITY))

    def _inherited(self, doc: dict, frame_bgr: np.ndarray) -> np.ndarray | None:
        """The stored reference of bays edited while the agent was stopped (some outline kept), re-keyed to these
        bays: scaled to this frame size when the bays' size changed too. None: no picture to keep, or one of another
        view (then ``turned``: the bays were drawn on it)."""
        size = (frame_bgr.shape[1], frame_bgr.shape[0])
        view = self.view.key if before_named(doc) else doc.get("view")  # not turned (``turned_from`` found none)
        if view != self.view.key:
            self.turned = next((o for o in all_orientations() if o.key == view), None)
            return None
        img = self._scaled(size)
        if img is None:
            return None
        log.warning("bays edited while the agent was stopped, some outlines as they were: their reference picture is "
                    "kept, the new outlines read as drawn on it; confirm the view or redraw the bays on the "
                    "installer page if the camera was moved")
        return img

    def _scaled(self, size: tuple[int, int]) -> np.ndarray | None:
        """The stored picture at ``size`` (scaled and stored so when it was another), re-keyed to these bays."""
        assert self.store is not None
        pic = self.store / "reference.png"
        img = read_picture(pic)
        if img is None:
            return None
        if (img.shape[1], img.shape[0]) != size:  # unchanged outlines under a new size: the drawing read at it
            shrink = size[0] * size[1] < img.shape[0] * img.shape[1]
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            ok, png = cv2.imencode(".png", img)
            if not ok:
                return None
            try:
                write_durably(pic, png.tobytes())
            except OSError as exc:  # this run measures against it; a restart reads the old one
                log.warning("camera reference not saved at %dx%d (%s)", *size, exc)
                return img
        self._rekey(self.store / "reference.json", size, self.view.key)
        return img

    def _meta(self, size: tuple[int, int], view: str | None) -> bytes:
        """reference.json: the key, and what it was hashed from but the hash cannot say back (the bays, by id)."""
        return json.dumps({"key": reference_key(size, self.polygons, view), "size": list(size), "view": view,
                           "kept": KEPT,
                           "bays": sorted(([str(b), [list(map(float, p)) for p in poly]] for b, poly in self.polygons),
                                          key=lambda b: b[0])}).encode()

    def _rekey(self, meta: Path, size: tuple[int, int], view: str | None) -> None:
        try:
            write_durably(meta, self._meta(size, view))
        except OSError as exc:  # read again in the old order next time
            log.warning("camera reference key not rewritten (%s)", exc)

    def keep_for(self, polygons: list, size: tuple[int, int] | None = None) -> None:
        """The bays (or their frame size, ``size``) were edited by hand while the view did not fit them: the
        reference stays the picture they were drawn on, now naming ``polygons`` (on disk too, so a restart keeps
        it), and the new outlines are read as drawn on it (``CameraWatch.reconfigure``). At another ``size`` the
        picture is scaled to it (the unchanged outlines are the drawing read at that size) and the next frame, of
        that size, is measured against it.

        Why: a new key took the knocked view as the reference at the next frame, the bays left as they were taken
        as drawn on it, and an arm could rise over ground their outlines no longer covered."""
        old, self.polygons = self.polygons, polygons
        self._mask_for = None  # the scene mask follows the outlines
        self._anchor = None  # measured by features again, at these bays' corners
        if self.store is None:
            return
        meta = self.store / "reference.json"
        try:
            stored = read_meta(meta).get("key")
            pic = read_picture(self.store / "reference.png")
            if pic is None:
                return
            have = (pic.shape[1], pic.shape[0])  # the picture's own size and view (another one's when turned)
            for o in all_orientations():
                if stored_for(stored, have, old, o.key):
                    if size is not None and size != have and o.key == self.view.key:
                        self._scaled(size)  # measured against it once the frames come at that size
                    else:
                        write_durably(meta, self._meta(have, o.key))
                    return
        except (OSError, ValueError, AttributeError) as exc:  # this run keeps it in memory; a restart would not
            log.warning("camera reference not kept for the edited bays (%s)", exc)

    def matchable(self, frame_bgr: np.ndarray) -> bool:
        """Whether ``frame_bgr`` has enough corners (the whole frame's) to match any later view against. A view
        without (a lot too dark at night, a lens covered) confirmed as the reference could never match again:
        every bay ``camera_unmatched`` for good, the next day too."""
        masked, self._masked = self._masked, False
        try:
            return self._view(frame_bgr) is not None
        finally:
            self._masked = masked

    def forget(self) -> None:
        """The installer drew these bays over the current picture (the page's Save): whatever reference is stored,
        also one naming the same outlines, is not the view they were drawn on, so the next one measured is
        (``_reference``). A disk that refuses keeps the old one: the bays stay as blind as they were."""
        if self.store is None:
            return
        try:
            (self.store / "reference.json").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("camera reference not renewed for the bays the installer saved (%s)", exc)

    def confirm(self, frame_bgr: np.ndarray) -> None:
        """The installer confirmed the bays on the current view: it becomes the reference."""
        if self.store is not None:
            (self.store / "reference.json").unlink(missing_ok=True)
        self.turned = None
        self.lost = None
        self._bank = []
        self._size = None
        self._banked_at = float("-inf")
        self._anchor = None
        self.measure(frame_bgr)

    def _match(self, ref: _View, cur: _View) -> tuple[np.ndarray, int, float] | None:
        """(2x3 similarity from ``ref``'s full-frame px to ``cur``'s, or the affine fit where it explains
        ``GENERAL_GAIN`` times the matches: a sheared view; RANSAC inliers; the radial term ``k`` of a changed
        lens distortion where undoing it explains that many more (``LENS_KS``), else 0), or None."""
        matches = self._matcher.match(ref.descriptors, cur.descriptors)
        if len(matches) < MIN_INLIERS:
            return None
        a = ref.keypoints[[m.queryIdx for m in matches]]
        b = cur.keypoints[[m.trainIdx for m in matches]]
        m, inl = cv2.estimateAffinePartial2D(a, b, method=cv2.RANSAC, ransacReprojThreshold=3.0)
        if m is None or inl is None:
            return None
        m, n = np.float64(m), int(inl.sum())
        if GENERAL_GAIN * n <= len(matches):  # the similarity leaves most matches out: does the view shear?
            g, g_inl = cv2.estimateAffine2D(a, b, method=cv2.RANSAC, ransacReprojThreshold=3.0)
            if g is not None and g_inl is not None and int(g_inl.sum()) >= max(GENERAL_GAIN * n, n + MIN_INLIERS):
                m, n = np.float64(g), int(g_inl.sum())
        k = self._lens(a, b, n) if GENERAL_GAIN * n <= len(matches) else 0.0
        m[:, 2] /= self._scale  # work px -> full-frame px (a turn, a zoom and a shear are the same at any scale)
        return m, n, k

    def _lens(self, a: np.ndarray, b: np.ndarray, n: int) -> float:
        """The radial term (``LENS_KS``) whose undoing on ``b`` lets a similarity explain ``GENERAL_GAIN`` times
        ``n`` matches (and ``MIN_INLIERS`` more), the best such; 0.0 if none. Only asked where the fit left most
        matches out: on PKLot views hours apart most feature measurements, +8 ms CPU each (29.7 -> 37.5 ms); the
        still frames between them (phase correlation) pay nothing."""
        assert self._size is not None
        c = np.float32([self._size[0], self._size[1]]) * self._scale / 2
        q = (b - c) / c[0]
        r2 = (q * q).sum(axis=1, keepdims=True)
        best, best_n = 0.0, max(GENERAL_GAIN * n, n + MIN_INLIERS) - 1
        for k in LENS_KS:
            got, inl = cv2.estimateAffinePartial2D(a, np.float32(b + (b - c) * k * r2), method=cv2.RANSAC,
                                                   ransacReprojThreshold=3.0)
            if got is not None and inl is not None and int(inl.sum()) > best_n:
                best, best_n = float(k), int(inl.sum())
        return best

    def measure(self, frame_bgr: np.ndarray, now: float = 0.0, thumb: np.ndarray | None = None) -> Shift | None:
        """This frame's shift, or None when it cannot be matched (too little structure in view).
        ``now`` (monotonic s) paces how often a view may join the bank; ``thumb``: the frame's ``_thumb`` where
        the caller made it already."""
        size = (frame_bgr.shape[1], frame_bgr.shape[0])
        self.thumb = thumb = self._thumb(frame_bgr) if thumb is None else thumb
        if self._size == size and self._still(thumb, size[0], now):
            return self.last
        if self._size != size:
            self._size, self._bank, self._anchor = size, [], None
            ref = self._reference(frame_bgr)
            self.ref_thumb = self._thumb(ref)
            self._masked = True
            # the features outside the bays taken before their blur (``kept_view``), else the kept picture's
            sharp, self._sharp = self._sharp, None
            anchor = sharp if sharp is not None else self._view(ref)
            if anchor is None or len(anchor.keypoints) < MASKED_MIN_KEYPOINTS:
                self._masked = False
                anchor = self._view(ref)
            if anchor is None:
                self._size = None
                return None
            self._bank.append(anchor)
            self._banked_at = now
        self.full_runs += 1
        cur = self._view(frame_bgr)
        if cur is None:
            return None
        best = None
        for ref in self._bank:
            got = self._match(ref, cur)
            if got is not None and (best is None or got[1] > best[1][1]):
                best = (ref, got)
        if best is None or best[1][1] < MIN_INLIERS:
            return None
        ref, (m, n, k) = best
        total = m[:, :2] @ ref.warp  # reference -> ref view -> this frame
        total[:, 2] += m[:, 2]
        self.last = Shift.of(total, self._points(size), min(1.0, n / 200))
        if k:
            self.last = bent(self.last, self._points(size), k, size)
        self._anchor, self._anchor_at = thumb, now
        if 2 * MIN_INLIERS <= n < FRESH_INLIERS and not self.moved(self.last) \
                and now - self._banked_at >= BANK_EVERY_S:  # the light moved on: remember this view too
            self._banked_at = now
            cur.warp = total
            self._bank = self._bank[:1] + self._bank[1:][-(BANK - 2):] + [cur]
        return self.last

    def _points(self, size: tuple[int, int]) -> np.ndarray:
        """What must stay in place: the bays' corners (without bays, the frame's)."""
        pts = [p for _, poly in self.polygons for p in poly]
        if not pts:
            w, h = size
            pts = [(0, 0), (w, 0), (w, h), (0, h)]
        return np.float64(pts).reshape(-1, 2)

    def moved(self, shift: Shift | None) -> bool:
        return bool(shift is not None and shift.px > self.tolerance_px)


class Alignment:
    """Debounced "camera moved" over measured shifts.

    ``ok`` drops at the first frame beyond tolerance (safe: the bays' verdicts stop counting at
    once); the ``camera_moved`` / ``camera_aligned`` reports wait until the new state has held
    for ``confirm_s``, so a truck filling the view for a moment is no event.
    """

    def __init__(self, registration: Registration, confirm_s: float = 2.0, every_s: float = 0.0) -> None:
        self.reg = registration
        self.confirm_s = confirm_s
        # a frame is matched at most this often (~30 ms each at 640 px), unless its structure shows another scene
        # than the last frame measured (``Registration.same_scene``, ~1 ms at 720p). Why: with ``shift_every_s`` 10 a
        # camera knocked to face a hedge was read on for up to 10 s before the next measurement held the bays, and two
        # parked cars "departed" 3 s after the knock (to "arrive" again when it was put back)
        self.every_s = every_s
        self._last_at = float("-inf")
        self.ok = True
        self.reported_moved = False
        self._since: float | None = None  # when the measured state first differed from the reported one
        # The last frame measured matched the reference (where the view looks is known). A view that matches
        # nothing (a slipped zoom, a camera knocked to face elsewhere, a lens pointing at the ground) gives no
        # shift at all, so ``ok`` cannot say "moved" for it: its bays were trusted on another view and a lock
        # rose under a parked car. Frames skipped by ``every_s`` leave it as it was.
        self.matched = True
        self.reported_unmatched = False  # reported "unmatched" (held ``UNMATCHED_REPORT_S``), not yet matched again
        self._unmatched_since: float | None = None  # the first of the frames in a row that matched nothing
        # The view stopped matching as another scene came (``Registration.same_scene`` against the frame measured
        # before): a knock that turned the camera to the sky or a hedge, a van at the lens. The bays hold their
        # story until it matches again or shows the scene it showed before (the van gone); a view that drifts out
        # of matching (dusk, fog) is read on. Why: a camera knocked to face elsewhere read every bay on whatever
        # it then showed, and a violating car "departed" 2 s after the knock (its violation ended).
        self.held = False
        self._before: np.ndarray | None = None  # the last thumbnail before the other scene came
        self._prev: np.ndarray | None = None  # the thumbnail of the frame measured before this one
        self._prev_at = float("-inf")  # when
        self._floor = SCENE_ZNCC  # the likeness ``_before`` is compared at (``SCENE_ZNCC_START`` for the reference)
        self._rematched_since: float | None = None  # reported "unmatched", then matching again since (debounced)

    def unmeasured(self) -> None:
        """A frame that could not be measured came between (another frame shape: ``FitWatch``): a change waiting
        ``confirm_s`` to be reported must hold anew. Why: a camera flipping between its main stream and a sub-stream
        of another shape had only every other frame measured, and a reported move "held" over the flips ended in
        ``camera_aligned`` while the bays were blind."""
        self._since = self._rematched_since = None

    def update(self, frame_bgr: np.ndarray, now: float) -> tuple[Shift | None, str | None]:
        """Measure one frame → (shift, "moved" | "aligned" | "turned" | "lost" | "unmatched" | "matched" | None
        when nothing is to be reported); (None, None) for a frame skipped or not matched. "turned" (once, not
        debounced: no shake makes a turned view) blinds the bays until the installer redraws or confirms; so does
        "lost" (the stored reference of these bays cannot be read: where they were drawn is unknown). "unmatched":
        no frame matched for ``UNMATCHED_REPORT_S`` (once); "matched": the view matches again, in place, for
        ``confirm_s`` (one beyond tolerance goes on to "moved" as any other). Why: a camera knocked to face elsewhere,
        replaced, blocked or too dark to match kept every lock down but told the backend nothing; only the
        heartbeat's ``bays_unseen`` said it."""
        thumb = None
        if now - self._last_at < self.every_s:
            thumb = self.reg._thumb(frame_bgr)
            if self._prev is None or self.reg.same_scene(self._prev, thumb):
                return None, None  # the scene last measured (another one, a knock or a van at the lens: measured now)
        self._last_at = now
        if now - self._prev_at > UNMATCHED_REPORT_S + self.every_s:  # no frame measured for over a minute (the
            self._unmatched_since = None  # camera lost): the view unmatched before it is no minute seen unmatched
        shift = self.reg.measure(frame_bgr, now, thumb)
        self.matched = shift is not None
        thumb = self.reg.thumb
        if self.matched:
            self.held, self._before = False, None
        elif not self.held:
            # the first frame measured is judged against the reference: a camera knocked while the agent was stopped
            prev, floor = (self._prev, SCENE_ZNCC) if self._prev is not None else (self.reg.ref_thumb, SCENE_ZNCC_START)
            if prev is not None and not self.reg.same_scene(prev, thumb, floor):
                self.held, self._before, self._floor = True, prev, floor
        elif self.reg.same_scene(self._before, thumb, self._floor):
            self.held, self._before = False, None
        self._prev, self._prev_at = thumb, now
        blind = "turned" if self.reg.turned is not None else "lost" if self.reg.lost is not None else None
        if blind is not None:  # bays drawn on another (or an unknown) view: moved at once, until redrawn or confirmed
            self.ok = False
            if self.reported_moved:
                return shift, None
            self.reported_moved = True
            return shift, blind
        if shift is None:
            self._rematched_since = None
            if self._unmatched_since is None:
                self._unmatched_since = now
            if not self.reported_unmatched and not self.reported_moved \
                    and now - self._unmatched_since >= UNMATCHED_REPORT_S:
                self.reported_unmatched = True
                return None, "unmatched"
            return None, None
        self._unmatched_since = None
        moved = self.reg.moved(shift)
        if self.reported_unmatched:  # its end is debounced as a move's: a view matching one frame a minute is no pair
            if moved or self.reported_moved:  # goes on to an ordinary "moved"
                self.reported_unmatched, self._rematched_since = False, None
            else:
                self._since = None
                self.ok = True
                if self._rematched_since is None:
                    self._rematched_since = now
                if now - self._rematched_since < self.confirm_s:
                    return shift, None
                self.reported_unmatched, self._rematched_since = False, None
                return shift, "matched"
        self.ok = not moved and not self.reported_moved
        if moved == self.reported_moved:
            self._since = None
            return shift, None
        if self._since is None:
            self._since = now
        if now - self._since < self.confirm_s:
            return shift, None
        self._since = None
        self.reported_moved = moved
        self.ok = not moved
        return shift, "moved" if moved else "aligned"
