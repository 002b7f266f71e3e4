"""``Registration.scene_likeness`` on real lot frames: what the light does to a view stays "the same scene", what a
knock does is "another scene" (``SCENE_ZNCC``). A view that stops matching as another scene comes blinds the bays
(``Alignment.held``); a light change taken for a knock would blind a lot all night, a knock taken for light reads
every bay on the ground the camera then faces. bays-dev's PKLot frames (skips without ../shared); the light and the
knocks are applied to them here, nothing is copied into the repo."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from edge_agent.camera.registration import SCENE_ZNCC, Registration

REPO = Path(__file__).resolve().parents[2]


def _lot(bays_dev: Path) -> tuple[list[np.ndarray], list]:
    rows = list(csv.DictReader((REPO / "models" / "labels" / "pklot_ufpr05.csv").open(encoding="utf-8")))
    polygons: dict[str, list] = {}
    for r in rows:
        polygons.setdefault(r["bay_id"], json.loads(r["polygon"]))
    files = sorted({r["file"] for r in rows})
    return [cv2.imread(str(bays_dev / f)).astype(np.float32) for f in files], [[b, p] for b, p in polygons.items()]


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0, 255).astype(np.uint8)


def test_light_keeps_the_scene_and_a_knock_changes_it_on_real_frames(bays_dev, tmp_path):  # noqa: ANN001
    frames, polygons = _lot(bays_dev)
    reg = Registration(24.0, polygons, tmp_path / "a")
    reg.measure(_u8(frames[0]), 0.0)

    def likeness(a: np.ndarray, b: np.ndarray) -> float:
        return reg.scene_likeness(reg._thumb(_u8(a)), reg._thumb(_u8(b)))

    rng = np.random.default_rng(0)
    same, other = [], []
    for a, b in zip(frames, frames[1:]):  # pictures minutes to days apart: shadows, cars, weather
        same.append(likeness(a, b))
    kept = Registration(24.0, polygons, tmp_path / "b")  # a start: the kept reference (bays blurred) of another day
    kept.measure(_u8(frames[10]), 0.0)
    same += [kept.scene_likeness(kept.ref_thumb, kept._thumb(_u8(f))) for f in frames]
    for img in frames[::6]:
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        same.append(likeness(img, img * 0.08 + rng.normal(0, 3, img.shape)))  # dusk
        lamps = sum(3.0 * np.exp(-((xx - cx * w) ** 2 + (yy - cy * h) ** 2) / (2 * (0.12 * w) ** 2))
                    for cx, cy in [(0.2, 0.4), (0.5, 0.3), (0.8, 0.5), (0.35, 0.8), (0.7, 0.85)])
        same.append(likeness(img * 0.08, img * (0.08 + lamps[..., None]) * np.float32([0.6, 0.8, 1.0])))  # lamps on
        grey = cv2.cvtColor(_u8(img * 0.3), cv2.COLOR_BGR2GRAY)
        same.append(likeness(img * 0.25, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32) * 1.8))  # IR mode
        for m in (np.float32([[1, 0, 60], [0, 1, 0]]), np.float32([[1, 0, 0], [0, 1, -200]]),
                  cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1.0), cv2.getRotationMatrix2D((w / 2, h / 2), 0, 1.5)):
            other.append(likeness(img, cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)))
        sky = np.broadcast_to(np.linspace(230, 170, h, dtype=np.float32)[:, None, None], (h, w, 3))
        other.append(likeness(img, sky + rng.normal(0, 6, (h, w, 3))))
    assert min(same) >= SCENE_ZNCC + 0.03, sorted(same)[:5]
    assert max(other) <= SCENE_ZNCC - 0.15, sorted(other)[-5:]


def test_a_restart_on_a_view_of_another_day_that_matches_nothing_is_not_held(bays_dev, tmp_path):  # noqa: ANN001
    """At a start the first frame is compared with the kept reference, which may be weeks old. A view of the unmoved
    camera on another day can match nothing and still look unlike it: 02-24 11:30 kept, 04-15 07:35 at the restart
    scores 0.20 (review11, 12 of 870 such pairs under 0.3). At ``SCENE_ZNCC`` every bay was held blind until a frame
    matched; against the reference the floor is ``SCENE_ZNCC_START`` (knocks -0.09-0.09 in 750 pairs). A knocked
    view is still held at the restart."""
    from edge_agent.camera.registration import SCENE_ZNCC_START, Alignment

    _, polygons = _lot(bays_dev)
    lot = bays_dev / "frames" / "pklot_ufpr05"
    reference, later = (cv2.imread(str(lot / f)) for f in ("2013-02-24_11_30_05.jpg", "2013-04-15_07_35_01.jpg"))
    Registration(24.0, polygons, tmp_path).measure(reference, 0.0)  # the installation: the kept reference
    restart = Alignment(Registration(24.0, polygons, tmp_path, inherit=True))
    restart.update(later, 0.0)
    likeness = restart.reg.scene_likeness(restart.reg.ref_thumb, restart.reg.thumb)
    assert not restart.matched and SCENE_ZNCC_START <= likeness < SCENE_ZNCC and not restart.held
    knocked = Alignment(Registration(24.0, polygons, tmp_path, inherit=True))
    h, w = later.shape[:2]
    knocked.update(cv2.warpAffine(later, cv2.getRotationMatrix2D((w / 2, h / 2), 0, 1.5), (w, h)), 0.0)
    assert not knocked.matched and knocked.held
