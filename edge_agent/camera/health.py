"""Camera health as the consumer sees it: fps, last-frame age, frozen and black frames.

Judged on the frames the agent actually gets, so a stream that "connects" but delivers
grey garbage or the same frame forever still reads as unhealthy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from edge_agent.clock import Clock


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

    def on_frame(self, image: object) -> bool:
        """Record a frame; returns False (and counts it) when it is not a usable image."""
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0 \
                or image.shape[0] < 8 or image.shape[1] < 8 or image.dtype != np.uint8 \
                or (image.ndim == 3 and image.shape[2] != 3):  # the loop gets BGR (camera/decode.py: frame_bgr)
            self.corrupt += 1
            return False
        now = self.clock.monotonic()
        gap = now - (self._born if self._last is None else self._last) > self.lost_after_s
        if gap:
            self._back_since = now
        elif self._back_since is not None and now - self._back_since >= self.lost_after_s:
            self._back_since = None
        self._times.append(now)
        self._last = now
        small = image[:: max(1, image.shape[0] // 32), :: max(1, image.shape[1] // 32)]
        sig = small.tobytes()
        if sig != self._sig or gap:  # after an outage, "frozen" starts counting afresh
            self._sig, self._same_since = sig, now
        self._black = float(small.mean()) < self.black_level
        self._flat = float(small.std()) < self.flat_level
        if self._black or self._flat:
            self._bad = (now, "black" if self._black else "flat")
        return True

    @property
    def picture_since(self) -> float | None:
        """Monotonic time the picture now showing first arrived (None before any frame). A camera that repeats
        one frame (a hung encoder, a stuck capture buffer) shows the world as it was then, however often it
        sends it: what the bays measure on it is that old. ``frozen`` (an event, the heartbeat) waits
        ``frozen_after_s`` so a still scene's odd repeat is no alarm; the lock's evidence ages from here."""
        return self._same_since

    def usable(self) -> bool:
        """A frame the bays may judge: not black, not frozen, recent."""
        h = self.health()
        return h.ok

    def health(self) -> CameraHealth:
        now = self.clock.monotonic()
        age = None if self._last is None else now - self._last
        # a copy taken in one step: the heartbeat and /metrics ask from their own threads while the camera
        # loop appends, and iterating the deque itself raised "deque mutated during iteration"
        recent = [t for t in tuple(self._times) if now - t <= 5.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        frozen = self._same_since is not None and age is not None and (now - self._same_since) >= self.frozen_after_s
        reason = ""
        back = self._back_since
        if (now - self._born if age is None else age) > self.lost_after_s or \
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
