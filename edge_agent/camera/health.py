"""Camera health as the consumer sees it: fps, last-frame age, frozen and black frames.

Judged on the frames the agent actually gets, so a stream that "connects" but delivers
grey garbage or the same frame forever still reads as unhealthy. A frame's age counts the loop's waiting for frames,
never its own work (``HealthTracker.turn``): a slow SD card's syncs pause the loop, not the camera.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from edge_agent.clock import Clock

#: Changes confined to one box of at most this share of the frame, for ``frozen_after_s``, are an overlay on a hung
#: picture: the ticking clock an IP camera burns into every frame after its sensor (date and time at 1080p: ~400×40
#: to 600×50 px, 0.8–1.5 %).
OVERLAY_MAX_SHARE = 0.02

#: The last distinct pictures the health keeps (``_seen``) to tell a hung picture's re-encodings from new ones. Why
#: so many: an MPEG-4 stream of one still picture cycles through up to 12 distinct decoded pictures (its key frame
#: and the P-frames refining it), whatever its key-frame interval (1–10 s).
SEEN_MAX = 32


@dataclass(frozen=True)
class CameraHealth:
    ok: bool
    fps: float
    last_frame_age_s: float | None
    frozen: bool
    black: bool
    corrupt_frames: int
    reconnects: int
    reason: str = ""  # why not ok: no_frames | frozen | black | flat | ""

    def to_dict(self) -> dict:
        return asdict(self)


class HealthTracker:
    """Feed it every frame taken from the source; ask ``health()`` (and ``usable()``) any time."""

    def __init__(self, clock: Clock, lost_after_s: float = 5.0, frozen_after_s: float = 30.0,
                 black_level: float = 8.0, flat_level: float = 2.0) -> None:
        self.clock = clock
        self.lost_after_s = lost_after_s
        self.frozen_after_s = frozen_after_s
        self.black_level = black_level
        self.flat_level = flat_level
        self._times: deque[float] = deque(maxlen=50)
        self._last: float | None = None
        self._sig: bytes | None = None
        self._same_since: float | None = None
        # The picture unchanged apart from one small box (``OVERLAY_MAX_SHARE``) since ``_still_since``: ``_grid`` is
        # the last frame's sampled pixels, ``_box`` the (top, bottom, left, right) sample rows and columns holding
        # every change since. Why: a camera whose sensor hung while its on-screen clock ticks sent a "new" frame each
        # second to the exact signature, never frozen, and nobody heard the camera had hung. A live camera never
        # qualifies: its sensor noise changes samples all over the frame (a still car park at night included).
        self._grid: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None
        self._still_since: float | None = None
        # The last SEEN_MAX distinct pictures (samples): a frame showing one of them again, outside the box, shows no
        # new picture. Why: an IP camera's encoder runs on when its sensor hangs, and each key frame (every 1–10 s)
        # re-quantises the same picture, the P-frames after it refining it again: a little change all over the
        # frame, so "frozen" and the lock evidence's age restarted at every key frame and the hung picture was fresh
        # evidence for a raise for ever. Its encoder cycles through the same few decoded pictures, bit for bit; a
        # live sensor's noise never shows a picture again (a skip-coded still scene's next key frame codes new
        # noise), nor does a car arriving.
        self._seen: deque[np.ndarray] = deque(maxlen=SEEN_MAX)
        # Whether a frame repeated the last one (but for the box) since the picture last changed: only such a stream
        # is judged by ``_seen``. A sensor's noise changes every frame (a simulator's bank of noise frames that
        # cycles included); an encoder coding a still picture repeats it between key frames.
        self._repeated = False
        self._black = False
        self._flat = False  # one grey level everywhere: nothing in it can be seen, empty bay or not
        self.corrupt = 0  # frames taken that were no usable image
        self.source_corrupt = 0  # frames the source could not decode (it counts them; the agent copies it here)
        self.reconnects = 0
        self._born = clock.monotonic()  # a camera gets lost_after_s to deliver its first frame
        # Frames back after an outage (a gap of lost_after_s, or a first frame that came that late): the camera
        # counts as back once they have flowed for lost_after_s without such a gap. One frame is no working
        # camera: a stream that stalls after each reconnect flapped camera_lost / camera_restored every few
        # seconds (each camera_lost a push notification), and its bays were judged on each lone frame.
        self._back_since: float | None = None
        # The last frame whose picture was black or flat, and which: a camera back from such a picture counts as back
        # once good pictures have come for lost_after_s since, as after an outage. Why: a picture flickering black or
        # grey between good frames (an IR-cut filter hunting at dusk, a failing sensor, an H.264 stream losing
        # packets) was a camera_lost / camera_restored pair per flicker, 150 a minute at 5 fps, every bay's state
        # published at each, and the bays judged on each good frame between.
        self._bad: tuple[float, str] | None = None
        # When the loop's current turn began (None between turns): the time the loop spends on its own work is no
        # time the camera was silent (``turn``).
        self._turn_from: float | None = None

    def begin(self) -> None:
        """The source starts now: the camera's ``lost_after_s`` for its first frame counts from here, not from when
        the agent was built (its models, sinks and databases opened meanwhile are no silence of the camera's)."""
        if self._last is None:
            self._born = self.clock.monotonic()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Bracket one loop turn: the time inside it is the loop's own work, not the camera's silence. The camera is
        silent only while the loop waits for a frame and none comes. Why: on a slow SD card a violation's synced
        writes (photos, index rows, the violation log) held one turn ~7 s at 1 s per sync, and the frame taken
        next, fresh from the reader, was judged after a gap of lost_after_s: a healthy camera was published
        ``camera_lost`` / ``camera_restored`` on every violation, its bays blinded another lost_after_s and the
        locks' free timers restarted. A camera that stops while the loop is busy is still lost, once the loop
        has waited lost_after_s for it after the turn. ``last_frame_age_s`` is that waiting."""
        self._turn_from = self.clock.monotonic()
        try:
            yield
        finally:
            now, began = self.clock.monotonic(), self._turn_from
            busy = now - max(began, self._last if self._last is not None else self._born)
            if busy > 0:  # slide the camera's last word (or its start) past the loop's own work
                if self._last is None:
                    self._born += busy
                else:
                    self._last += busy
            self._turn_from = None  # after the slide: the heartbeat's thread never sees the turn's time as silence

    def waited(self, since: float) -> None:
        """Inside a turn, the loop waited for the source from ``since`` (monotonic) until now: the camera's time, not
        the loop's work (``replay``'s clip moves the clock to its next frame's time as it is asked for one)."""
        if self._turn_from is not None:
            self._turn_from += max(0.0, self.clock.monotonic() - since)

    @staticmethod
    def _silent_until(now: float, began: float | None, last: float | None, born: float) -> float:
        """``now``, or within a turn (``began``: its start), when the turn began (the loop's own work since is no
        silence; not before the ``last`` frame, or ``born`` before any: one taken in this turn is its age 0)."""
        if began is None:
            return now
        return min(now, max(began, last if last is not None else born))

    def on_frame(self, image: object, captured: float | None = None) -> bool:
        """Record a frame; returns False (and counts it) when it is not a usable image. ``captured``: when the
        source got it (``Frame.t``, monotonic; None or later than now: now). The frame is as old as that, not as
        the loop's taking it: a reader's slot keeps the last frame a camera sent before it died, and taken after a
        long turn (a slow SD card's syncs, ``turn``) it was judged fresh and healthy, the lock raised on a view
        9.9 s old (probe review21)."""
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0 \
                or image.shape[0] < 8 or image.shape[1] < 8 or image.dtype != np.uint8 \
                or (image.ndim == 3 and image.shape[2] != 3):  # the loop gets BGR (camera/decode.py: frame_bgr)
            self.corrupt += 1
            return False
        now = self.clock.monotonic()
        last, born = self._last, self._born
        gap = self._silent_until(now, self._turn_from, last, born) - (born if last is None else last) > self.lost_after_s
        if gap:
            self._back_since = now
        elif self._back_since is not None and now - self._back_since >= self.lost_after_s:
            self._back_since = None
        self._times.append(now)
        # from here on the frame's time is its capture (never after now), not its taking: its age, its picture's
        # (``picture_since``: the lock's evidence ages from it), even before a ``turn``'s slide of the last one
        now = now if captured is None or not math.isfinite(captured) else min(now, captured)
        self._last = now
        small = image[:: max(1, image.shape[0] // 32), :: max(1, image.shape[1] // 32)]
        sig = small.tobytes()
        if sig != self._sig or gap:  # after an outage, "frozen" starts counting afresh
            self._sig, self._same_since = sig, now
        self._still(np.frombuffer(sig, np.uint8).reshape(small.shape), now, gap)  # the samples, gathered once
        self._black = float(small.mean()) < self.black_level
        self._flat = float(small.std()) < self.flat_level
        if self._black or self._flat:
            self._bad = (now, "black" if self._black else "flat")
        return True

    def _still(self, small: np.ndarray, now: float, gap: bool) -> None:
        """Follow the picture unchanged apart from one small box (``_still_since``), a picture shown before (in the
        last SEEN_MAX) counting as no change. The samples are pixels, not averages: averaging would smooth a live
        sensor's noise into a still picture."""
        prev, self._grid = self._grid, small
        if prev is None or prev.shape != small.shape or gap:
            self._box, self._still_since, self._repeated = None, now, False
            self._seen.clear()
            self._seen.append(small)
            return
        box = self._changed_box(prev, small)
        if box is None or self._overlay(box):  # the frame repeats the last one, but for the box
            self._box, self._repeated = box, True
            return
        if self._repeated:  # a picture shown before, but for the box?
            for old in self._seen:  # (its box alone: a stray refinement since is no part of the overlay)
                if (box := self._changed_box(old, small, since=False)) is None or self._overlay(box):
                    self._box = box
                    return
        self._box, self._still_since, self._repeated = None, now, False  # the picture itself changed
        self._seen.append(small)

    def _changed_box(self, old: np.ndarray, small: np.ndarray, since: bool = True) -> tuple[int, int, int, int] | None:
        """The (top, bottom, left, right) sample rows and columns holding every change from ``old`` to ``small``,
        and with ``since`` every change since ``_still_since`` (None: nothing changed, and no box yet)."""
        changed = small != old
        if changed.ndim == 3:
            changed = changed.any(axis=2)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        b = self._box if since else None
        if not rows.size:
            return b
        box = (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]))
        return box if b is None else (min(b[0], box[0]), max(b[1], box[1]), min(b[2], box[2]), max(b[3], box[3]))

    def _overlay(self, box: tuple[int, int, int, int]) -> bool:
        """Whether changes confined to ``box`` are an overlay's (at most OVERLAY_MAX_SHARE of the samples)."""
        grid = self._grid
        size = 0 if grid is None else grid.shape[0] * grid.shape[1]
        return (box[1] - box[0] + 1) * (box[3] - box[2] + 1) <= OVERLAY_MAX_SHARE * size

    @property
    def picture_since(self) -> float | None:
        """Monotonic time the picture now showing first arrived (None before any frame). A camera that repeats
        one frame (a hung encoder, a stuck capture buffer) shows the world as it was then, however often it
        sends it: what the bays measure on it is that old. ``frozen`` (an event, the heartbeat) waits
        ``frozen_after_s`` so a still scene's odd repeat is no alarm; the lock's evidence ages from here.
        A picture unchanged apart from one small box (the clock an IP camera stamps over a hung sensor) is as old
        as that picture, wherever the clock lies: the bays' own pixels (``bays.vision.BayPictures``) saw the
        picture as new in every bay whose box the clock crosses, and until probe ircut25 such a bay's reading of
        the hung picture was fresh evidence for a raise until ``frozen_after_s`` (30 s) blinded it. So is a picture
        an encoder keeps re-encoding at its key frames over a hung sensor (``_seen``): until probe keyframe27 each
        key frame made it new, for ever."""
        return self._still_since if self._still_since is not None else self._same_since

    def usable(self) -> bool:
        """A frame the bays may judge: not black, not frozen, recent."""
        h = self.health()
        return h.ok

    def health(self) -> CameraHealth:
        # One snapshot of the loop's fields, read before the clock: the heartbeat and /metrics ask from their own
        # threads while a turn ends (``turn`` slides ``_last`` to the turn's end, then clears ``_turn_from``). Read
        # one by one after the clock, a turn ending between the reads gave ``last_frame_age_s`` -0.3 (a frame "from
        # the future"); now every time in the snapshot is at or before ``now``, so the age is never negative.
        began, last, born = self._turn_from, self._last, self._born
        now = self.clock.monotonic()
        until = self._silent_until(now, began, last, born)
        age = None if last is None else max(0.0, until - last)
        # a copy taken in one step: the heartbeat and /metrics ask from their own threads while the camera
        # loop appends, and iterating the deque itself raised "deque mutated during iteration"
        recent = [t for t in tuple(self._times) if now - t <= 5.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        # the picture unchanged (``_same_since``), or unchanged apart from an overlay (``_still_since``, never later)
        still = self._still_since if self._still_since is not None else self._same_since
        frozen = still is not None and age is not None and (now - still) >= self.frozen_after_s
        reason = ""
        back = self._back_since
        if (until - born if age is None else age) > self.lost_after_s or \
                (back is not None and now - back < self.lost_after_s):
            reason = "no_frames"
        elif frozen:
            reason = "frozen"
        elif self._black:
            reason = "black"
        elif self._flat:
            reason = "flat"
        elif self._bad is not None and now - self._bad[0] < self.lost_after_s:
            reason = self._bad[1]  # the picture came back from black or flat less than lost_after_s ago
        return CameraHealth(not reason, round(fps, 2), None if age is None else round(age, 2), frozen, self._black,
                            self.corrupt + self.source_corrupt, self.reconnects, reason)
