"""Is a vehicle in the bay? Image change against a learned empty-bay reference, fused with
plate reads and an optional presence sensor, with separate enter / exit thresholds.

The change measure is cheap (a 320-px grey frame), so it also gates the plate detector:
an idle camera costs one resize and a few array operations per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from edge_agent.bays.geometry import BayShape
from edge_agent.config.bays import OccupancyConfig

PresenceSensor = Callable[[], "bool | None"]  # True: something over the lock; None: sensor unhealthy

WORK_WIDTH = 320
MIN_MASK_PX = 20  # a bay covering fewer working pixels than this cannot be judged at all
MIN_MASK_SHARE = 0.5  # under this share of its polygon inside the frame, a bay is mostly unseen


class ChangeDetector:
    """Per-bay share of pixels that differ from the learned empty scene.

    Lighting is compensated with one global gain (median ratio frame / reference), so a
    cloud or a flickering lamp moves every pixel together and changes nothing; a car, a
    person or a shadow cast by one moves only some pixels.
    """

    def __init__(self, shapes: Sequence[BayShape], cfg: OccupancyConfig) -> None:
        self.shapes = list(shapes)
        self.cfg = cfg
        self._ref: np.ndarray | None = None
        self._masks: dict[str, np.ndarray] = {}
        self._scale = 1.0
        self._size: tuple[int, int] | None = None
        self.mask_problems: dict[str, str] = {}  # bay → mask_empty | mask_outside_frame (judged per frame size)
        self.compared = False  # the last measure() compared against a reference (False: it just took one)

    def prepare(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Blurred, downscaled colour working copy of a frame (colour: a red car on grey asphalt
        can have the asphalt's grey level)."""
        h, w = frame_bgr.shape[:2]
        if self._size != (w, h):
            self._size = (w, h)
            self._scale = min(1.0, WORK_WIDTH / w)
            sz = (max(1, round(h * self._scale)), max(1, round(w * self._scale)))
            self._masks = {}
            self.mask_problems = {}
            for s in self.shapes:
                scaled = BayShape(s.bay_id, [(x * self._scale, y * self._scale) for x, y in s.polygon])
                self._masks[s.bay_id] = m = scaled.mask(sz) > 0
                problem = _mask_problem(int(m.sum()), _area(scaled.polygon))
                if problem:
                    self.mask_problems[s.bay_id] = problem
            self._ref = None
        grey = frame_bgr if frame_bgr.ndim == 3 else cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        if self._scale < 1.0:
            grey = cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)

    def measure(self, grey: np.ndarray) -> dict[str, float]:
        """Changed share per bay (0..1). The first frame becomes the reference."""
        if self._ref is None or self._ref.shape != grey.shape:
            self._ref = grey.copy()
            self.compared = False
            return {s.bay_id: 0.0 for s in self.shapes}
        self.compared = True
        gain = float(np.median(grey[::2, ::2] / (self._ref[::2, ::2] + 1.0)))
        changed = np.asarray((np.abs(grey - self._ref * gain) > self.cfg.change_threshold).any(axis=2))
        return {bid: float(changed[m].mean()) if m.any() else 0.0 for bid, m in self._masks.items()}

    def reset(self, grey: np.ndarray, bay_id: str) -> None:
        """Take this frame as the bay's empty reference at once (the reference held a vehicle)."""
        m = self._masks.get(bay_id)
        if self._ref is not None and m is not None and self._ref.shape == grey.shape:
            self._ref[m] = grey[m]

    def learn(self, grey: np.ndarray, free_bays: set[str]) -> None:
        """Blend the frame into the reference outside occupied bays (never learn a parked car)."""
        if self._ref is None or self._ref.shape != grey.shape:
            self._ref = grey.copy()
            return
        keep = np.zeros(grey.shape[:2], dtype=bool)
        for bid, m in self._masks.items():
            if bid not in free_bays:
                keep |= m
        a = self.cfg.learn_rate
        blended = cv2.addWeighted(self._ref, 1.0 - a, grey, a, 0.0)
        self._ref = np.where(keep[:, :, None], self._ref, blended)


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0].astype(np.float64), poly[:, 1].astype(np.float64)
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _mask_problem(pixels: int, area: float) -> str:
    """Why a bay's mask cannot vouch for an empty bay ("" when it can). A mask with no pixel
    measures nothing and would read 0 % changed — "free" — for ever (a NaN polygon did that)."""
    if pixels < MIN_MASK_PX:
        return "mask_empty"
    if not pixels >= MIN_MASK_SHARE * area:  # NaN area fails too
        return "mask_outside_frame"
    return ""


class PresenceFusion:
    """One bay's presence from change share, recent plate reads and a sensor.

    Enter needs ``enter_fraction`` of the bay changed; once in, only a share below
    ``exit_fraction`` reads as empty (hysteresis against a half-visible car flickering).
    Any recent plate read or a sensor saying "present" means present: doubt is presence.
    """

    def __init__(self, cfg: OccupancyConfig, sensor: PresenceSensor | None = None) -> None:
        self.cfg = cfg
        self.sensor = sensor
        self.camera_present = False
        self._last_plate: float | None = None

    def plate_seen(self, now: float) -> None:
        self._last_plate = now

    def update(self, now: float, fraction: float, plate_hold_s: float | None = None) -> bool:
        if fraction >= self.cfg.enter_fraction:
            self.camera_present = True
        elif fraction < self.cfg.exit_fraction:
            self.camera_present = False
        hold = self.cfg.plate_hold_s if plate_hold_s is None else plate_hold_s
        plate = self._last_plate is not None and now - self._last_plate <= hold
        sensed = self.sensor() if self.sensor is not None else None
        return bool(self.camera_present or plate or sensed)
