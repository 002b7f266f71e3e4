"""``edge-agent occupancy train`` end to end on a tiny bays-dev-like folder rendered here
(needs the train extra: runs in .venv-train, skips elsewhere)."""

from __future__ import annotations

import csv
import json

import cv2
import pytest

from edge_agent.bays.crop import bay_crop
from edge_agent.cli import main
from edge_agent.sim.synthetic import BAYS, Car, Scene, render
from tests.occupancy.rendered import write_labelled_frames

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.train

SCENES = {"cnrpark_camA": (Scene(), Scene(cars=(Car(x=250.0, plate=None),))),
          "norpark_trondheim": (Scene(brightness=0.6), Scene(cars=(Car(x=700.0, plate=None),), brightness=0.6))}


def _bays_dev(root):
    rows = []
    for scene, (empty, full) in SCENES.items():
        for label, sc in (("empty", empty), ("occupied", full)):
            d = root / "patches" / scene / label
            d.mkdir(parents=True)
            for bay, poly in BAYS.items():
                name = f"{bay}.jpg"
                cv2.imwrite(str(d / name), cv2.resize(bay_crop(render(sc), poly, 150), (150, 150)))
                occupied = int(any(abs(c.x - (250 if bay == "A" else 700)) < 50 for c in sc.cars))
                rows.append({"file": f"patches/{scene}/{label}/{name}", "scene": scene, "occupied": occupied,
                             "weather": "sunny", "daypart": "midday", "bay_id": bay})
    with (root / "patches.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_train_ships_only_licensed_scenes_and_scores_the_rest(tmp_path, capsys):
    _bays_dev(tmp_path)
    out = tmp_path / "m" / "occ.onnx"
    assert main(["occupancy", "train", "--data", str(tmp_path), "--out", str(out), "--epochs", "1",
                 "--samples", "128", "--threads", "1"]) == 0  # models/labels/ names frames not here: unused
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["trained_on"] == "cnrpark_camA"  # NORPark may not go into a shipped model
    assert "CNRPark+EXT" in meta["notice"] and "ODbL" in meta["notice"]
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["held_out"]["scene"]) == {"norpark_trondheim"}
    assert report["held_out"]["overall"]["n"] == 4
    assert "norpark_trondheim" in capsys.readouterr().out


def test_hold_out_experiment_model_has_no_shipping_notice(tmp_path):
    _bays_dev(tmp_path)
    out = tmp_path / "exp.onnx"
    assert main(["occupancy", "train", "--data", str(tmp_path), "--out", str(out), "--scenes", "all",
                 "--hold-out", "cnrpark", "--epochs", "1", "--samples", "128", "--threads", "1"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["trained_on"] == "norpark_trondheim" and "notice" not in meta


def test_own_frame_labels_make_their_scene_shippable(tmp_path):
    """Frames labelled by us (polygons + flags) of a scene whose dataset labels may not ship: trained on, with
    the scene's notice, and each bay also cropped from jittered polygons."""
    _bays_dev(tmp_path)
    ours, rows = write_labelled_frames(tmp_path, SCENES["cnrpark_camA"], "ours.csv", scene="pklot_ufpr05")
    out = tmp_path / "occ.onnx"
    assert main(["occupancy", "train", "--data", str(tmp_path), "--out", str(out), "--own-labels", str(ours),
                 "--epochs", "1", "--samples", "128", "--threads", "1"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["trained_on"] == "cnrpark_camA,pklot_ufpr05" and meta["own_labels"] == "pklot_ufpr05"
    assert "CC BY 4.0" in meta["notice"] and "ODbL" in meta["notice"]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["train_crops"] == 4 + len(rows) * 4  # patches + each frame bay and its 3 jittered polygons


def _fake_imagenet_weights(path, cut=17):
    """A state dict in the pinned file's layout ("features.N..."), random weights: what the loader needs."""
    from edge_agent.occupancy.backbone import mobilenet_v2_features

    torch.manual_seed(0)
    net = mobilenet_v2_features(cut)
    torch.save({f"features.{k}": v for k, v in net.state_dict().items()}, str(path))
    return net


def test_mobilenetv2_backbone_loads_its_weights_and_trains_a_calibratable_model(tmp_path):
    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.occupancy.backbone import pretrained_features

    src = _fake_imagenet_weights(tmp_path / "mnv2.pt")
    cut = pretrained_features(tmp_path / "mnv2.pt", 10)
    assert len(cut) == 11
    for k, v in cut.state_dict().items():  # every kept layer carries the file's weights, none its own init
        assert torch.equal(v, src.state_dict()[k]), k

    _bays_dev(tmp_path)
    out = tmp_path / "site.onnx"
    assert main(["occupancy", "train", "--data", str(tmp_path), "--out", str(out), "--epochs", "1",
                 "--samples", "128", "--threads", "1", "--backbone", "mobilenetv2",
                 "--pretrained", str(tmp_path / "mnv2.pt")]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["backbone"] == "mobilenetv2"
    clf = BayClassifier.load(out)
    crop = bay_crop(render(Scene()), BAYS["A"], clf.size)
    assert clf.features([crop]).shape == (1, 64) and len(clf.head().w) == 64  # stride-16 stage: 64 channels


def test_mobilenetv2_backbone_refuses_missing_or_foreign_weights(tmp_path, capsys):
    from edge_agent.occupancy.backbone import pretrained_features

    with pytest.raises(FileNotFoundError, match="models fetch --group train"):
        pretrained_features(tmp_path / "none.pt")
    torch.save({"features.0.0.weight": torch.zeros(8, 3, 3, 3)}, str(tmp_path / "other.pt"))
    with pytest.raises((ValueError, RuntimeError)):
        pretrained_features(tmp_path / "other.pt")
    _bays_dev(tmp_path)
    assert main(["occupancy", "train", "--data", str(tmp_path), "--out", str(tmp_path / "x.onnx"), "--epochs", "1",
                 "--samples", "128", "--backbone", "mobilenetv2", "--pretrained", str(tmp_path / "none.pt")]) == 1
    assert "models fetch --group train" in capsys.readouterr().err
