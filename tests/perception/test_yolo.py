"""YOLO-format detectors: the ONNX decoder on tiny ONNX graphs built here (known boxes in →
known detections out), and the ``.pt`` path when the ``yolo`` extra is installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.sessions import SessionFactory
from edge_agent.perception.yolo import (
    YoloExtraMissing,
    YoloOnnxDetector,
    YoloPtDetector,
    decode,
    letterbox,
    make_detector,
)

SIZE = 64  # model input (letterboxed) size


def yolo_graph(pred: np.ndarray, metadata: dict[str, str], size: int = SIZE) -> bytes:
    """A graph shaped like an ultralytics export: ``images`` [1,3,size,size] → ``output0``.

    The output is the given prediction tensor (plus 0 × the mean of the image, so the input
    really flows through the graph)."""
    const = numpy_helper.from_array(pred.astype(np.float32), "pred")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["pred", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(pred.shape))],
        initializer=[const, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for k, v in metadata.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session(model_bytes: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def anchors(*rows: list[float]) -> np.ndarray:
    """Each row is one anchor's column: cx, cy, w, h, class scores…, keypoints…"""
    return np.array(rows, np.float32).T[None]  # [1, C, N]


# A 128×64 frame letterboxed into 64×64: scale 0.5, 16 px of padding above and below.
FRAME = np.zeros((64, 128, 3), np.uint8)


def to_frame(x: float, y: float) -> tuple[float, float]:
    return x / 0.5, (y - 16) / 0.5


def test_letterbox_matches_ultralytics_geometry():
    boxed, lb = letterbox(FRAME, (SIZE, SIZE))
    assert boxed.shape == (64, 64, 3)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (0.5, 0, 16)
    assert boxed[0, 0].tolist() == [114, 114, 114]  # the grey padding ultralytics uses
    assert lb.to_image(np.float32([32, 32])).tolist() == [64.0, 32.0]


def test_detect_model_known_boxes_in_known_detections_out():
    pred = anchors(
        [32, 32, 20, 10, 0.90, 0.05],  # plate
        [33, 32, 20, 10, 0.80, 0.05],  # the same plate again: removed by NMS
        [32, 32, 20, 10, 0.05, 0.85],  # a car at the same place: another class, kept
        [10, 24, 8, 4, 0.10, 0.00],  # below threshold
        [50, 40, 10, 6, 0.60, 0.00],  # a second plate
    )
    det = YoloOnnxDetector(session(yolo_graph(pred, {"imgsz": "[64, 64]", "names": "{0: 'plate', 1: 'car'}"})),
                           threshold=0.25, iou=0.45)
    assert det.num_classes == 2 and det.size == (64, 64)
    found = det.detect(FRAME)
    assert [round(d.score, 2) for d in found] == [0.9, 0.85, 0.6]
    x1, y1 = to_frame(22, 27)
    x2, y2 = to_frame(42, 37)
    np.testing.assert_allclose(found[0].box, (x1, y1, x2, y2), atol=1e-4)
    np.testing.assert_allclose(found[0].corners, [[x1, y1], [x2, y1], [x2, y2], [x1, y2]], atol=1e-4)
    np.testing.assert_allclose(found[2].box, (*to_frame(45, 37), *to_frame(55, 43)), atol=1e-4)


def test_class_filter_keeps_only_plates():
    pred = anchors([32, 32, 20, 10, 0.9, 0.05], [10, 30, 8, 8, 0.05, 0.95])
    det = YoloOnnxDetector(session(yolo_graph(pred, {"names": "{0: 'plate', 1: 'car'}"})), size=64, classes=(0,))
    assert [round(d.score, 2) for d in det.detect(FRAME)] == [0.9]


def test_pose_model_gives_corners_from_keypoints():
    kps = [22, 28, 2, 42, 27, 2, 42, 36, 2, 22, 37, 2]  # TL TR BR BL with visibility
    pred = anchors([32, 32, 20, 10, 0.95, *kps], [50, 50, 4, 4, 0.01, *([0] * 12)])
    det = YoloOnnxDetector(session(yolo_graph(pred, {"imgsz": "[64, 64]", "names": "{0: 'plate'}",
                                                      "kpt_shape": "[4, 3]", "task": "pose"})))
    (plate,) = det.detect(FRAME)
    expected = [to_frame(kps[i], kps[i + 1]) for i in range(0, 12, 3)]
    np.testing.assert_allclose(plate.corners, expected, atol=1e-4)


def test_anchor_first_layout_is_accepted():
    pred = anchors([32, 32, 20, 10, 0.9])
    assert len(decode(pred.transpose(0, 2, 1), num_classes=1)) == len(decode(pred, num_classes=1)) == 1


def test_output_that_does_not_fit_the_class_count_is_a_clear_error():
    with pytest.raises(ValueError, match="expected 7"):
        decode(anchors([32, 32, 20, 10, 0.9, 0.1]), num_classes=3)


def test_no_detection_above_threshold_gives_empty_list():
    assert decode(anchors([32, 32, 20, 10, 0.1]), num_classes=1, threshold=0.5) == []


def test_make_detector_from_config_with_a_path_inside_models_dir(tmp_path):
    pred = anchors([32, 32, 20, 10, 0.9])
    (tmp_path / "plates.onnx").write_bytes(yolo_graph(pred, {"imgsz": "[64, 64]", "names": "{0: 'plate'}"}))
    cfg = PerceptionConfig(detector="yolo_onnx", detector_model="plates.onnx", det_threshold=0.3)
    det = make_detector(cfg, tmp_path, SessionFactory(threads=1))
    assert len(det.detect(FRAME)) == 1


def test_make_detector_needs_a_model_path(tmp_path):
    with pytest.raises(ValueError, match="detector_model"):
        make_detector(PerceptionConfig(detector="yolo_onnx"), tmp_path, SessionFactory(threads=1))


def test_pt_model_missing_file_is_refused_before_anything_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        YoloPtDetector(tmp_path / "yolov8n.pt")


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is not None, reason="the yolo extra is installed")
def test_pt_model_without_the_extra_says_how_to_install_it(tmp_path):
    (tmp_path / "plates.pt").write_bytes(b"not really a model")
    with pytest.raises(YoloExtraMissing, match=r"edge_agent\[yolo\]"):
        YoloPtDetector(tmp_path / "plates.pt")


@pytest.mark.yolo
def test_pt_and_onnx_exports_of_one_model_agree(tmp_path):
    """Build an (untrained) YOLOv8n from its bundled yaml, save it, export it to ONNX, and
    check both backends find the same boxes on a rendered scene — offline throughout."""
    pytest.importorskip("ultralytics")
    from ultralytics import YOLO

    from tests.perception.render import render_plate, render_scene

    model = YOLO("yolov8n.yaml")  # architecture only: no weights are fetched
    pt = tmp_path / "tiny.pt"
    model.save(str(pt))
    onnx_path = YOLO(str(pt)).export(format="onnx", imgsz=320, simplify=False, dynamic=False)
    frame, _ = render_scene(render_plate("皖AD12345", "small_nev"), seed=1)
    a = YoloPtDetector(pt, size=320, threshold=0.01).detect(frame)
    b = YoloOnnxDetector(session(open(onnx_path, "rb").read()), threshold=0.01).detect(frame)
    assert len(a) == len(b)
    for da, db in zip(a, b):
        np.testing.assert_allclose(da.box, db.box, atol=2.0)
