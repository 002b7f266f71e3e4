"""Issue 10 §6: ``edge-agent models quantize`` writes int8 models calibrated on the operator's
images (here: frames this test renders), and ``perception.precision: int8`` runs on them."""

from __future__ import annotations

import os

import cv2
import pytest

from edge_agent.cli import main
from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.sessions import ModelMissingError
from tests.perception.render import render_plate, render_scene


@pytest.fixture(scope="module")
def int8_models(models_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    for name in ("clp_det.onnx", "ch_PP-OCRv4_rec_infer.onnx"):
        os.symlink(models_dir / name, d / name)
    calib = tmp_path_factory.mktemp("calib")
    for i, (text, style) in enumerate([("苏E12345", "blue"), ("皖AD12345", "small_nev"),
                                       ("浙A1234学", "yellow"), ("京N8P8F8", "blue")]):
        scene, _ = render_scene(render_plate(text, style), seed=i, frame=(1280, 720), plate_width=180)
        cv2.imwrite(str(calib / f"{i}.png"), scene)
    assert main(["models", "quantize", "--dir", str(d), "--calibration", str(calib)]) == 0
    return d


def test_int8_pipeline_reads_a_plate(int8_models):
    assert (int8_models / "clp_det.int8.onnx").is_file() and (int8_models / "ch_PP-OCRv4_rec_infer.int8.onnx").is_file()
    pipe = Pipeline.from_config(PerceptionConfig(precision="int8"), int8_models)
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=9, frame=(1280, 720), plate_width=200)
    [r] = pipe.process(scene)
    assert r.text == "苏E12345" and r.nev is False


def test_int8_without_quantised_files_names_the_command(models_dir, tmp_path):
    os.symlink(models_dir / "clp_det.onnx", tmp_path / "clp_det.onnx")
    with pytest.raises(ModelMissingError, match="models quantize"):
        Pipeline.from_config(PerceptionConfig(precision="int8"), tmp_path)


def test_quantize_needs_a_calibration_folder(tmp_path, capsys):
    assert main(["models", "quantize", "--dir", str(tmp_path), "--calibration", str(tmp_path / "none")]) == 2
    assert "calibration" in capsys.readouterr().err


def test_quantize_on_a_folder_without_images_names_it(tmp_path, capsys, models_dir):
    """``--calibration`` on the wrong folder (the snapshots' parent, an empty one) loaded the models and then
    said "no calibration images could be read", exit 1; it is a usage error before the work, naming the folder."""
    calib = tmp_path / "snapshots"
    (calib / "notes").mkdir(parents=True)
    (calib / "notes" / "readme.txt").write_text("frames go here")
    assert main(["models", "quantize", "--dir", str(models_dir), "--calibration", str(calib)]) == 2
    assert capsys.readouterr().err == f"models quantize: no images (.jpg, .png, .bmp) in --calibration {calib}\n"
