"""A car seen close, as a kerbside camera over two or three bays sees it (skips without ../shared).

bays-dev has no such camera (its lots are seen from high and far), but plates-dev's full photos are Chinese cars
taken from a few metres behind or in front. A bay drawn round the car's end (from its plate box: a car is about
four plates wide) must read occupied with each shipped model: reading a close car as empty is the mistake that
raises an arm under it. Measured (docs/occupancy.md, "A car seen close"): 0.973–0.995 of 187 photos read
occupied; the floor leaves room for library drift, not for a model that misses close cars.
"""

from __future__ import annotations

import csv

import cv2
import pytest

from edge_agent.bays.crop import bay_crop

FLOOR = 0.95

# (bay width, height above the plate's top, depth below its bottom), in plate widths
FRAMINGS = {"car's end": (4.5, 3.5, 1.0), "loose": (6.0, 5.0, 1.5), "tight": (3.0, 2.0, 0.5)}


@pytest.fixture(scope="module")
def close_cars(plates_dev):  # noqa: ANN001, ANN201 - (image, plate box) of each labelled full photo
    cars = []
    with (plates_dev / "labels.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["scene"] != "full" or not row["bbox_x1"]:
                continue
            image = cv2.imread(str(plates_dev / row["file"]))
            if image is not None:
                cars.append((image, tuple(float(row[k]) for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))))
    assert len(cars) >= 150, len(cars)
    return cars


@pytest.mark.parametrize("framing", list(FRAMINGS))
def test_a_car_seen_close_reads_occupied(classifier, close_cars, framing):
    wide, up, down = FRAMINGS[framing]
    crops = []
    for image, (x1, y1, x2, y2) in close_cars:
        h, w = image.shape[:2]
        plate_w, centre = x2 - x1, (x1 + x2) / 2
        left, right = max(0.0, centre - wide * plate_w / 2), min(w - 1.0, centre + wide * plate_w / 2)
        top, bottom = max(0.0, y1 - up * plate_w), min(h - 1.0, y2 + down * plate_w)
        crops.append(bay_crop(image, [(left, top), (right, top), (right, bottom), (left, bottom)]))
    p = classifier.predict(crops)
    share = float((p >= 0.5).mean())
    assert share >= FLOOR, f"{framing}: {share:.3f} of {len(crops)} close cars read occupied"
