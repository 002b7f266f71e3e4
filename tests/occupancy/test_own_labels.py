"""The project's own bay annotations (models/labels/): well-formed, and they replace the dataset's labels
of the scenes they cover, which is what makes those scenes shippable."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np

from edge_agent.occupancy.dataset import (
    OWN_LABELS_DIR,
    own_label_files,
    read_bays_dev,
    read_frame_labels,
    shippable_scenes,
)


def test_committed_pklot_labels_are_well_formed():
    path = OWN_LABELS_DIR / "pklot_ufpr05.csv"
    assert path in own_label_files()
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == ["file", "scene", "bay_id", "polygon", "occupied", "weather", "daypart"]
    keys = {(r["file"], r["bay_id"]) for r in rows}
    assert len(keys) == len(rows)  # one flag per bay and frame
    assert len({r["file"] for r in rows}) == 30 and len({r["bay_id"] for r in rows}) == 43
    assert {r["occupied"] for r in rows} == {"0", "1"} and {r["scene"] for r in rows} == {"pklot_ufpr05"}
    for r in rows:
        poly = json.loads(r["polygon"])
        assert len(poly) == 4
        assert all(math.isfinite(v) and 0 <= x <= 1280 and 0 <= y <= 720 for x, y in poly for v in (x, y))
        assert abs(cv2.contourArea(np.array(poly, np.float32))) > 500  # a bay, not a sliver
    labels = read_frame_labels(path, images_root=path.parent)
    assert sum(b.occupied for b in labels) == sum(r["occupied"] == "1" for r in rows)


def _folder(tmp_path):
    """A bays-dev-like folder: one frame with two dataset-labelled bays of scene 'lot' + a CNRPark patch."""
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "a.jpg"), np.full((100, 200, 3), 120, np.uint8))
    (tmp_path / "patches").mkdir()
    cv2.imwrite(str(tmp_path / "patches" / "p.jpg"), np.full((150, 150, 3), 90, np.uint8))
    poly = json.dumps([[10, 10], [90, 10], [90, 90], [10, 90]])
    with (tmp_path / "frames.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "scene", "bay_id", "polygon", "occupied"])
        w.writerow(["frames/a.jpg", "pklot_ufpr05", "1", poly, 1])
        w.writerow(["frames/a.jpg", "pklot_ufpr05", "2", poly, 0])
    with (tmp_path / "patches.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "scene", "occupied", "bay_id"])
        w.writerow(["patches/p.jpg", "cnrpark_camA", 0, "7"])
    ours = tmp_path / "ours.csv"
    with ours.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "scene", "bay_id", "polygon", "occupied"])
        w.writerow(["frames/a.jpg", "pklot_ufpr05", "A01", json.dumps([[100, 10], [190, 10], [190, 90], [100, 90]]), 0])
        w.writerow(["frames/gone.jpg", "pklot_ufpr05", "A01", poly, 1])  # a frame this folder lacks
    return ours


def test_own_labels_replace_the_datasets_labels_of_their_scene(tmp_path):
    ours = _folder(tmp_path)
    plain = read_bays_dev(tmp_path)
    assert sorted(b.bay_id for b in plain if b.scene == "pklot_ufpr05") == ["1", "2"]
    assert shippable_scenes(plain) == ["cnrpark_camA", "cnrpark_camB"]  # dataset labels: not shippable

    mixed = read_bays_dev(tmp_path, own_labels=[ours])
    pk = [b for b in mixed if b.scene == "pklot_ufpr05"]
    assert [(b.bay_id, b.occupied, b.own) for b in pk] == [("A01", False, True)]  # the missing frame is dropped
    assert pk[0].path == tmp_path / "frames" / "a.jpg" and pk[0].polygon[0] == (100.0, 10.0)
    assert [b.scene for b in mixed if not b.own] == ["cnrpark_camA"]
    assert shippable_scenes(mixed) == ["cnrpark_camA", "cnrpark_camB", "pklot_ufpr05"]


def test_own_labels_for_frames_not_here_change_nothing(tmp_path):
    _folder(tmp_path)
    labels = read_bays_dev(tmp_path, own_labels=own_label_files())  # the committed file names other frames
    assert not any(b.own for b in labels)
    assert "pklot_ufpr05" not in shippable_scenes(labels)


def test_shipped_model_names_its_sources_and_their_notices():
    """The committed model carries what its licences ask: which scenes, and the notices (ODbL, CC BY)."""
    import onnxruntime as ort

    from edge_agent.bays.classifier import DEFAULT_MODEL

    meta = ort.InferenceSession(str(DEFAULT_MODEL), providers=["CPUExecutionProvider"]).get_modelmeta()
    m = meta.custom_metadata_map
    assert set(m["trained_on"].split(",")) <= {"cnrpark_camA", "cnrpark_camB", "pklot_ufpr05"}  # never NORPark
    if "pklot_ufpr05" in m["trained_on"]:
        assert m["own_labels"] == "pklot_ufpr05" and "CC BY 4.0" in m["notice"] and "PKLot" in m["notice"]
    assert "ODbL" in m["notice"] and "CNRPark+EXT" in m["notice"]
