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
    with pytest.raises(YoloExtraMissing, match=r"pip install -e '\.\[yolo\]'"):
        YoloPtDetector(tmp_path / "plates.pt")


def test_end_to_end_export_is_thresholded_without_nms():
    """NMS-free heads (YOLO26) export [1, k, 6]: x1 y1 x2 y2 score class, already deduplicated."""
    pred = np.array([[[22, 27, 42, 37, 0.9, 0], [23, 27, 43, 37, 0.8, 0], [0, 0, 5, 5, 0.1, 0]]], np.float32)
    det = YoloOnnxDetector(session(yolo_graph(pred, {"imgsz": "[64, 64]", "names": "{0: 'plate'}",
                                                      "end2end": "True"})))
    assert det.end2end
    found = det.detect(FRAME)
    assert [round(d.score, 2) for d in found] == [0.9, 0.8]  # no NMS: the model already did it
    np.testing.assert_allclose(found[0].box, (*to_frame(22, 27), *to_frame(42, 37)), atol=1e-4)


def test_boxes_are_clipped_to_the_frame():
    pred = anchors([4, 32, 20, 10, 0.9])  # hangs over the left edge of the frame
    (d,) = YoloOnnxDetector(session(yolo_graph(pred, {"imgsz": "[64, 64]"}))).detect(FRAME)
    assert d.box[0] == 0.0 and d.corners[:, 0].min() == 0.0



def test_a_region_keeps_the_detections_centred_in_it_and_is_not_asked_for():
    """A letterboxed fixed-size input costs a whole frame whatever the region: the agent does not ask
    (reads_regions False), and a region given anyway keeps only the plates centred in it, so two
    disjoint regions never read one plate twice."""
    pred = np.array([[[22, 27, 42, 37, 0.9, 0], [2, 2, 12, 8, 0.8, 0]]], np.float32)
    det = YoloOnnxDetector(session(yolo_graph(pred, {"imgsz": "[64, 64]", "names": "{0: 'plate'}",
                                                      "end2end": "True"})))
    assert det.reads_regions is False
    every = det.detect(FRAME)
    assert len(every) == 2
    first = every[0].box
    cx, cy = (first[0] + first[2]) / 2, (first[1] + first[3]) / 2
    inside = det.detect(FRAME, (int(cx) - 5, int(cy) - 5, int(cx) + 5, int(cy) + 5))
    assert [d.box for d in inside] == [first]
    assert det.detect(FRAME, (0, 0, 1, 1)) == []

# --- with the yolo extra (torch + ultralytics): make test-yolo ------------------------------


def _random_yolo(cfg: str, tmp_path):
    """An untrained model from its bundled yaml (no download), its weights nudged at random so
    that scores differ from anchor to anchor; saved as .pt and exported to a static ONNX.

    Returns the .pt and .onnx paths and a score threshold that keeps a few dozen candidates."""
    torch = pytest.importorskip("torch")
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO(cfg)
    with torch.no_grad():
        for p in model.model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    pt = tmp_path / f"{cfg.split('.')[0]}.pt"
    model.save(str(pt))
    onnx_path = YOLO(str(pt)).export(format="onnx", imgsz=320, simplify=False, dynamic=False)
    sess = session(open(onnx_path, "rb").read())
    frame = _scene_frame()
    boxed, _ = letterbox(frame, (320, 320))
    blob = boxed[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    out = sess.run(None, {"images": blob})[0][0]
    scores = out[:, 4] if out.shape[-1] == 6 else out[4:].max(axis=0)
    return pt, onnx_path, float(np.sort(scores)[-40])


def _scene_frame() -> np.ndarray:
    from tests.perception.render import scene

    return scene("皖AD12345", "small_nev", seed=1)[0]


@pytest.mark.yolo
def test_decoder_matches_the_ultralytics_nms_reference():
    torch = pytest.importorskip("torch")
    pytest.importorskip("ultralytics")
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(0)
    n, nc = 400, 3
    xy = rng.uniform(20, 300, (2, n))
    wh = rng.uniform(8, 60, (2, n))
    scores = rng.uniform(0, 1, (nc, n)) ** 4
    pred = np.concatenate([xy, wh, scores])[None].astype(np.float32)
    ref = non_max_suppression(torch.from_numpy(pred), conf_thres=0.3, iou_thres=0.5, max_det=1000)[0].numpy()
    ours = decode(pred, num_classes=nc, threshold=0.3, iou=0.5)
    assert len(ours) == len(ref) > 10
    ref = ref[np.argsort(-ref[:, 4], kind="stable")]
    np.testing.assert_allclose(np.array([d[0] for d in ours]), ref[:, :4], atol=1e-3)
    np.testing.assert_allclose([d[1] for d in ours], ref[:, 4], atol=1e-6)
    assert [d[2] for d in ours] == ref[:, 5].astype(int).tolist()


@pytest.mark.yolo
@pytest.mark.parametrize("cfg", ["yolov8n.yaml", "yolo26n.yaml"])  # NMS head and NMS-free head
def test_our_onnx_path_agrees_with_ultralytics_on_its_own_export(cfg, tmp_path):
    pytest.importorskip("ultralytics")
    from ultralytics import YOLO

    _, onnx_path, conf = _random_yolo(cfg, tmp_path)
    frame = _scene_frame()
    ref = YOLO(onnx_path, task="detect").predict(frame, imgsz=320, conf=conf, iou=0.45, verbose=False)[0].boxes
    ours = YoloOnnxDetector(session(open(onnx_path, "rb").read()), threshold=conf, iou=0.45).detect(frame)
    assert len(ours) == len(ref) > 0
    order = np.argsort(-ref.conf.numpy(), kind="stable")
    np.testing.assert_allclose([d.score for d in ours], ref.conf.numpy()[order], rtol=1e-3)
    np.testing.assert_allclose(np.array([d.box for d in ours]), ref.xyxy.numpy()[order], atol=1.0)


@pytest.mark.yolo
def test_pt_model_runs_through_ultralytics_offline(tmp_path):
    pytest.importorskip("ultralytics")
    from ultralytics import YOLO

    pt, _, conf = _random_yolo("yolov8n.yaml", tmp_path)
    frame = _scene_frame()
    found = YoloPtDetector(pt, size=320, threshold=conf).detect(frame)
    ref = YOLO(str(pt)).predict(frame, imgsz=320, conf=conf, iou=0.45, verbose=False)[0].boxes
    assert len(found) == len(ref) > 0
    h, w = frame.shape[:2]
    for d in found:
        assert 0 <= d.box[0] <= d.box[2] <= w and 0 <= d.box[1] <= d.box[3] <= h
