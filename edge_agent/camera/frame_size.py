"""Bay polygons are pixels of one frame size: what a frame of another size means for them.

A camera can start sending another size without anyone touching the agent: a firmware update
or a reset falls back to its default stream profile, someone switches the RTSP URL to the
sub-stream, a replaced camera has another sensor. Used as they are, the polygons then lie on
other ground (a 1920x1080 polygon on a 1280x720 frame covers a region 1.5x further out), and
a lock could rise on what another bay's pixels show.

- The same picture at another resolution (aspect ratio within ``ASPECT_TOLERANCE``): the frame
  is scaled to the bays' size, so the polygons, the camera-shift reference and every crop stay
  as drawn. Nothing to report but a log line.
- Another aspect ratio (a 4:3 sub-stream under bays drawn on 16:9, a camera cropping): no
  scale makes the polygons fit, so the bays are blind until the frames fit again, the bays are
  redrawn, or the installer confirms the view (only when the size was learned, not configured).

The bays' size is ``camera.width`` / ``height`` when configured; otherwise the first frame's
size with these bays and this view, kept on disk (``frame_size.json`` beside the camera-shift
reference) so that a camera that changed while the agent was stopped is still noticed. The file names
the bays it was stored for: bays edited while the agent was stopped that keep some outline as it was
keep that size at the start (``inherit``), as a reload does. Why: the start learned the first frame's
size for them, and a camera switched to a 720p stream meanwhile had its frames go unscaled under
outlines drawn on 1080p, each over other ground.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.camera.registration import (
    before_named,
    read_meta,
    read_picture,
    reference_key,
    shares_outline,
    stored_for,
)
from edge_agent.durable import write_durably

log = logging.getLogger(__name__)

ASPECT_TOLERANCE = 0.01  # relative: 1920x1088 (an encoder padding to 16 rows) still fits 1920x1080
FILE = "frame_size.json"
SAY_EVERY_S = 60.0  # a size's log line at most this often: a stream flipping between two sizes is two lines a minute
_SAID_KEPT = 16  # sizes remembered for that (a camera sending ever new sizes forgets the oldest)


def same_shape(size: tuple[int, int], want: tuple[int, int]) -> bool:
    """Whether frames of ``size`` are the view of ``want`` at another resolution (aspect ratio within tolerance)."""
    return abs((size[0] / size[1]) / (want[0] / want[1]) - 1.0) <= ASPECT_TOLERANCE


@dataclass(frozen=True)
class Fit:
    image: np.ndarray  # the frame at the bays' size (scaled when it was not), or the frame itself when it cannot fit
    fits: bool  # False: another aspect ratio, the bays are blind
    size: tuple[int, int]  # the frame's own (width, height)


class FrameSize:
    """Decides, per frame, whether the bays' polygons fit it (and scales it to them when they can)."""

    def __init__(self, configured: tuple[int, int] | None, polygons: list, view: str | None = None,
                 store: Path | None = None, inherit: bool = False) -> None:
        """``inherit``: at the agent's start, a size stored for bays sharing an outline with these is theirs."""
        self.configured = configured
        self._key = reference_key(None, polygons, view)  # the bays and the view, any size
        self._polygons, self._view = polygons, view
        self._store = store
        self.lost: str | None = None  # why the stored size of these bays cannot be read (``_lost``)
        self.expected: tuple[int, int] | None = configured or self._load(inherit)
        self._said: tuple[int, int] | None = None  # the last size we logged about (once per change)
        self._said_at: dict[tuple[int, int], float] = {}  # when each size was last logged (``SAY_EVERY_S``)
        self._now: float | None = None  # the frame being fitted's time (``fit``)

    @property
    def learned(self) -> bool:
        """True when the size came from the frames, so a confirmation may replace it."""
        return self.configured is None

    def _load(self, inherit: bool = False) -> tuple[int, int] | None:
        if self._store is None:
            return None
        try:
            doc = read_meta(self._store / FILE)  # through no link: a FIFO there held the frame loop for ever
            w, h = doc["size"]
            if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
                return self._lost(inherit, f"{FILE} unreadable (size {doc['size']!r})")
            if stored_for(doc.get("key"), None, self._polygons, self._view):
                if doc.get("key") != self._key or "bays" not in doc:  # in the config's order (before 2026-12-04),
                    self._save((w, h))                                   # or not naming its bays: as now
                return (w, h)
            if inherit and doc.get("view") == self._view and (before_named(doc)
                                                               or shares_outline(doc.get("bays"), self._polygons)):
                log.warning("bays edited while the agent was stopped, some outlines as they were: drawn on %dx%d "
                            "frames, as stored", w, h)
                self._save((w, h))
                return (w, h)
        except FileNotFoundError:
            return self._lost(inherit, None)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return self._lost(inherit, f"{FILE} unreadable ({exc})")
        return None

    def _lost(self, inherit: bool, why: str | None) -> tuple[int, int] | None:
        """No stored size of these bays could be read at the start (``why``: the file was there but unreadable;
        None: there was none). The camera-shift reference stored beside it was taken on frames at the bays' size, so
        a ``reference.json`` naming these bays (or bays sharing an outline, as ``inherit``) says that size. With
        none to say it, a size stored before (an unreadable file, a reference left) is ``lost``: the bays are blind
        until the installer confirms the view or redraws them; only a store holding nothing learns the first frame.

        Why: with ``frame_size.json`` deleted or damaged and the camera replaced meanwhile by one sending 1280x720
        under bays drawn on 960x540, the first frame's size was learned, the reference picture scaled to it (the
        same view, so it matched), and every outline lay unscaled on other ground, with no ``camera_moved``."""
        if not inherit or self._store is None:
            return None
        kept = self._reference_size()
        if isinstance(kept, tuple):
            log.warning("%s: the bays' frame size %dx%d taken from the camera-shift reference stored for them",
                        why or f"{FILE} missing", *kept)
            self._save(kept)
            return kept
        if kept == "lost" or why is not None:
            self.lost = why or f"{FILE} missing beside a camera-shift reference it cannot be read from"
            log.warning("camera frame size of these bays lost (%s): bays blind until the view is confirmed or the "
                        "bays are redrawn on the installer page", self.lost)
        return None

    def _reference_size(self) -> tuple[int, int] | str:
        """The size of the stored camera-shift reference of these bays; "none" when no reference is stored, "other"
        when it names other bays (drawn anew), "lost" when one is stored but says no size for these bays."""
        assert self._store is not None
        meta, pic = self._store / "reference.json", self._store / "reference.png"
        try:
            doc = read_meta(meta)
        except FileNotFoundError:
            return "lost" if pic.exists() else "none"
        except (OSError, ValueError):
            return "lost"
        if not isinstance(doc, dict):
            return "lost"
        size = doc.get("size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            img = read_picture(pic)  # a file written before it named its size
            if img is None:
                return "lost"
            size = [img.shape[1], img.shape[0]]
        w, h = size
        key, view = doc.get("key"), doc.get("view")
        if stored_for(key, (w, h), self._polygons, self._view) or (
                view == self._view and (before_named(doc) or shares_outline(doc.get("bays"), self._polygons))):
            return (w, h)
        return "other" if isinstance(key, str) else "lost"

    def _save(self, size: tuple[int, int]) -> None:
        if self._store is None:
            return
        try:
            self._store.mkdir(parents=True, exist_ok=True)
            bays = sorted(([str(b), [list(map(float, p)) for p in poly]] for b, poly in self._polygons),
                          key=lambda b: b[0])
            write_durably(self._store / FILE, json.dumps({"key": self._key, "size": list(size), "view": self._view,
                                                          "bays": bays}).encode())
        except OSError as exc:  # a read-only disk: this run still holds the size in memory
            log.warning("camera frame size not saved (%s)", exc)

    def adopt(self, size: tuple[int, int]) -> None:
        """The bays are declared to fit frames of ``size`` (the first frame, or the installer's confirmation)."""
        self.expected, self.lost = size, None
        self._save(size)

    def fit(self, image: np.ndarray, now: float | None = None) -> Fit:
        """``now`` (monotonic): a size's log line is repeated at most every ``SAY_EVERY_S`` (None: at each change)."""
        self._now = now
        size = (int(image.shape[1]), int(image.shape[0]))
        if self.lost is not None:  # never learned from a view nobody confirmed (``_lost``)
            self._say(size, f"camera sends {size[0]}x{size[1]} frames but the bays' stored frame size is lost "
                            f"({self.lost}): bays blind until the view is confirmed or the bays are redrawn")
            return Fit(image, False, size)
        if self.expected is None:
            self.adopt(size)
        want = self.expected
        assert want is not None
        if size == want:
            self._say(size, "")
            return Fit(image, True, size)
        if not same_shape(size, want):
            self._say(size, f"camera sends {size[0]}x{size[1]} frames but the bays were drawn on {want[0]}x{want[1]} "
                            "(another aspect ratio): bays blind until the frames fit, the bays are redrawn or "
                            "the view is confirmed")
            return Fit(image, False, size)
        self._say(size, f"camera sends {size[0]}x{size[1]} frames; scaled to the bays' {want[0]}x{want[1]}")
        shrink = size[0] * size[1] > want[0] * want[1]
        scaled = cv2.resize(image, want, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return Fit(scaled, True, size)

    def _say(self, size: tuple[int, int], message: str) -> None:
        """Log a change of size once. Why the rate: a stream flipping between its main and sub profile every frame
        (a firmware glitch) logged a warning per flip, 150 lines a minute on the SD card."""
        if size == self._said:
            return
        now = self._now
        if now is not None:
            if now - self._said_at.get(size, float("-inf")) < SAY_EVERY_S:
                self._said = size
                return
            if len(self._said_at) >= _SAID_KEPT:
                self._said_at.pop(min(self._said_at, key=self._said_at.__getitem__))
            self._said_at[size] = now
        if message:
            log.warning("%s", message)
        elif self._said is not None:
            log.info("camera sends the bays' %dx%d frames again", *size)
        self._said = size


class FitWatch:
    """Debounced "the frames fit the bays", as ``Alignment`` debounces a measured shift.

    The bays are blind (``blind``) from the first frame that does not fit until frames have fitted for ``confirm_s``
    (``camera.moved_confirm_s``) in a row; ``camera_moved`` is due once the doubt has lasted ``confirm_s``, and its
    ``camera_aligned`` once frames fit for ``confirm_s`` again. Why: a camera alternating between its main stream
    and a sub-stream of another shape every frame or few (a firmware glitch) was a ``camera_moved`` /
    ``camera_aligned`` pair per flip (150 a minute at 5 fps), each a durable write and removal of
    ``camera/reported.json``, and its bays were judged on every fitting frame between the flips.
    """

    def __init__(self, confirm_s: float) -> None:
        self.confirm_s = confirm_s
        self.reported = False  # ``camera_moved`` {"frame_size"} due and said, its end not yet
        self.last = True  # the last frame fitted (what the installer's page shows)
        self._doubt_since: float | None = None  # the first frame that did not fit, since frames last fitted a while
        self._fit_since: float | None = None  # the first of the frames fitting in a row within that doubt

    @property
    def blind(self) -> bool:
        """The view is in doubt: a frame that did not fit, and frames have not fitted ``confirm_s`` since."""
        return self._doubt_since is not None

    def update(self, fits: bool, now: float) -> str | None:
        """One frame → "moved" (the doubt held ``confirm_s``: report it), "aligned" (the reported doubt ended),
        "cleared" (a doubt never reported ended) or None."""
        self.last = fits
        if not fits:
            self._fit_since = None
            if self._doubt_since is None:
                self._doubt_since = now
            if not self.reported and now - self._doubt_since >= self.confirm_s:
                self.reported = True
                return "moved"
            return None
        if self._doubt_since is None:
            return None
        if self._fit_since is None:
            self._fit_since = now
        if now - self._fit_since < self.confirm_s:
            return None
        self._doubt_since = self._fit_since = None
        if self.reported:
            self.reported = False
            return "aligned"
        return "cleared"
