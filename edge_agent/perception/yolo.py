"""YOLO-format plate detectors for operator-supplied models.

Why: sites often own a plate detector trained with ultralytics. Its ONNX export runs here on
onnxruntime with no extra dependency; the ``.pt`` file needs the ``yolo`` extra (torch).
Both hand back the same ``Detection`` as the built-in detector, so the rest of the pipeline
does not care. A pose model with 4 keypoints gives real corners (trained in the order TL, TR,
BR, BL); a box-only model gives the box's corners.

ultralytics ONNX output (detect / pose, exported without NMS): ``[1, 4 + nc (+ K*3), N]`` —
``cx, cy, w, h`` in letterboxed input pixels, then per-class scores (already sigmoid), then
``K`` keypoints as ``x, y, visibility``. NMS-free (end-to-end) heads such as YOLO26 export
``[1, k, 6 (+ K*3)]`` instead: ``x1, y1, x2, y2, score, class`` per kept box. The export also
writes ``imgsz``, ``names``, ``kpt_shape`` and ``end2end`` into the ONNX metadata, read here.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.perception.detector import Detection
from edge_agent.perception.types import Region

LETTERBOX_FILL = 114  # ultralytics pads with grey 114


class YoloExtraMissing(RuntimeError):
    """The ``.pt`` path needs ultralytics: say how to install it."""


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Letterboxed input pixels → original image pixels (works on any [..., 2] array)."""
        return (xy - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to ``size`` (w, h), centred, like ultralytics."""
    h, w = image.shape[:2]
    tw, th = size
    s = min(tw / w, th / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    px, py = (tw - nw) / 2, (th - nh) / 2
    out = np.full((th, tw, 3), LETTERBOX_FILL, np.uint8)
    x0, y0 = int(round(px - 0.1)), int(round(py - 0.1))
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, Letterbox(s, x0, y0)


def decode(pred: np.ndarray, num_classes: int, num_keypoints: int = 0, kpt_dims: int = 3,
           threshold: float = 0.25, iou: float = 0.45, classes: tuple[int, ...] | None = None,
           end2end: bool = False) -> list[tuple[np.ndarray, float, int, np.ndarray | None]]:
    """Raw model output → [(box xyxy, score, class, keypoints [K,2] | None)], best first.

    ``[1, 4+nc+K*d, N]`` gets a class-aware NMS; an end-to-end ``[1, k, 6+K*d]`` output is
    only thresholded. Coordinates stay in the model's input pixels."""
    p = np.asarray(pred, np.float32)
    p = p[0] if p.ndim == 3 else p
    if end2end:
        return _decode_end2end(p, num_keypoints, kpt_dims, threshold, classes)
    rows = 4 + num_classes + num_keypoints * kpt_dims
    if p.shape[0] != rows and p.shape[1] == rows:
        p = p.T  # some exports put the anchors first
    if p.shape[0] != rows:
        raise ValueError(f"YOLO output has {p.shape[0]} rows per anchor, expected {rows} "
                         f"(4 box + {num_classes} classes + {num_keypoints}×{kpt_dims} keypoints)")
    cls_scores = p[4:4 + num_classes]
    cls = cls_scores.argmax(axis=0)
    score = cls_scores.max(axis=0)
    keep = score > threshold
    if classes is not None:
        keep &= np.isin(cls, classes)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return []
    cx, cy, w, h = p[:4, idx]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    # class-aware NMS: shift each class far apart so boxes of different classes never overlap
    shifted = boxes + cls[idx, None].astype(np.float32) * 1e5
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in shifted]
    kept = np.asarray(cv2.dnn.NMSBoxes(xywh, score[idx].astype(float).tolist(), threshold, iou)).reshape(-1)
    kp = p[4 + num_classes:, idx].T.reshape(-1, num_keypoints, kpt_dims)[..., :2] if num_keypoints else None
    out = [(boxes[i], float(score[idx[i]]), int(cls[idx[i]]), None if kp is None else kp[i]) for i in kept]
    return sorted(out, key=lambda d: -d[1])


def _decode_end2end(p: np.ndarray, num_keypoints: int, kpt_dims: int, threshold: float,
                    classes: tuple[int, ...] | None) -> list[tuple[np.ndarray, float, int, np.ndarray | None]]:
    cols = 6 + num_keypoints * kpt_dims
    if p.shape[1] != cols:
        raise ValueError(f"end-to-end YOLO output has {p.shape[1]} values per box, expected {cols}")
    keep = p[:, 4] > threshold
    if classes is not None:
        keep &= np.isin(p[:, 5].astype(int), classes)
    out = []
    for row in p[keep]:
        kp = row[6:].reshape(num_keypoints, kpt_dims)[:, :2] if num_keypoints else None
        out.append((row[:4].copy(), float(row[4]), int(row[5]), kp))
    return sorted(out, key=lambda d: -d[1])


def _metadata(session) -> dict[str, object]:
    meta = session.get_modelmeta().custom_metadata_map
    out: dict[str, object] = {}
    for key in ("imgsz", "names", "kpt_shape", "task", "end2end"):
        if key in meta:
            try:
                out[key] = ast.literal_eval(meta[key])
            except (ValueError, SyntaxError):
                out[key] = meta[key]
    return out


def _to_detection(box: np.ndarray, score: float, kpts: np.ndarray | None, lb: Letterbox,
                  shape: tuple[int, ...]) -> Detection:
    """Input pixels → image pixels, clipped to the image like ultralytics does."""
    hi = np.array([shape[1], shape[0]], np.float32)
    b = np.clip(lb.to_image(box.reshape(2, 2)), 0, hi).reshape(4)
    if kpts is not None and len(kpts) >= 4:
        corners = np.clip(lb.to_image(kpts[:4]), 0, hi).astype(np.float32)
    else:
        corners = np.float32([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]])
    return Detection(corners, tuple(float(v) for v in b), score)


def in_region(dets: list[Detection], region: Region | None) -> list[Detection]:
    """The detections whose box centre lies in ``region`` (all of them without one)."""
    if region is None:
        return dets
    x1, y1, x2, y2 = region
    return [d for d in dets if x1 <= (d.box[0] + d.box[2]) / 2 < x2 and y1 <= (d.box[1] + d.box[3]) / 2 < y2]


class YoloOnnxDetector:
    """``detect(image_bgr) -> list[Detection]`` for an ultralytics ONNX export."""

    def __init__(self, session, size: int | tuple[int, int] | None = None, threshold: float = 0.25,
                 iou: float = 0.45, num_classes: int | None = None, num_keypoints: int | None = None,
                 classes: tuple[int, ...] | None = None, end2end: bool | None = None) -> None:
        self.session = session
        meta = _metadata(session)
        inp = session.get_inputs()[0]
        self._input = inp.name
        static = [d for d in inp.shape[2:] if isinstance(d, int)]
        imgsz = size or meta.get("imgsz") or (static if len(static) == 2 else 640)
        if isinstance(imgsz, int):
            imgsz = (imgsz, imgsz)
        self.size = (int(imgsz[1]), int(imgsz[0])) if len(imgsz) == 2 else (640, 640)  # (w, h)
        names = meta.get("names")
        self.num_classes = num_classes or (len(names) if isinstance(names, dict) else 1)
        kshape = meta.get("kpt_shape") or (num_keypoints or 0, 3)
        self.num_keypoints = num_keypoints if num_keypoints is not None else int(kshape[0])
        self.kpt_dims = int(kshape[1]) if self.num_keypoints else 3
        self.threshold, self.iou, self.classes = threshold, iou, classes
        out_shape = session.get_outputs()[0].shape
        rows = 4 + self.num_classes + self.num_keypoints * self.kpt_dims
        self.end2end = end2end if end2end is not None else bool(
            meta.get("end2end") is True or (out_shape[-1] == 6 + self.num_keypoints * self.kpt_dims
                                             and rows not in out_shape[1:]))

    reads_regions = False  # a fixed-size letterboxed input: a region costs a whole frame's run

    def detect(self, image: np.ndarray, region: Region | None = None) -> list[Detection]:
        """Plates in ``image``; with ``region``, those whose box centre lies in it (found on the whole
        frame: a crop would cost the same and change the scale the model was trained at)."""
        boxed, lb = letterbox(image, self.size)
        blob = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        pred = self.session.run(None, {self._input: blob})[0]
        found = decode(pred, self.num_classes, self.num_keypoints, self.kpt_dims, self.threshold, self.iou,
                       self.classes, self.end2end)
        return in_region([_to_detection(box, score, kp, lb, image.shape) for box, score, _, kp in found], region)


class YoloPtDetector:
    """An ultralytics ``.pt`` model (needs the ``yolo`` extra). Never downloads: the file must exist."""

    def __init__(self, path: str | Path, size: int = 640, threshold: float = 0.25, iou: float = 0.45,
                 device: str | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            # ultralytics would fetch a known name like yolov8n.pt from the internet: refuse
            raise FileNotFoundError(f"YOLO model {path} not found (models are never downloaded)")
        os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks or analytics
        try:
            from ultralytics import YOLO, settings
        except ImportError as exc:
            raise YoloExtraMissing(
                "detector 'yolo_pt' needs ultralytics: pip install -e '.[yolo]' in the source checkout "
                "(or export the model to ONNX and use detector 'yolo_onnx')") from exc
        settings.update({"sync": False})
        self.model = YOLO(str(path))
        self.size, self.threshold, self.iou, self.device = size, threshold, iou, device

    reads_regions = False

    def detect(self, image: np.ndarray, region: Region | None = None) -> list[Detection]:
        """As ``YoloOnnxDetector.detect``."""
        res = self.model.predict(image, imgsz=self.size, conf=self.threshold, iou=self.iou,
                                 device=self.device, verbose=False)[0]
        boxes = res.boxes.xyxy.cpu().numpy() if res.boxes is not None else np.zeros((0, 4))
        scores = res.boxes.conf.cpu().numpy() if res.boxes is not None else np.zeros(0)
        kpts = res.keypoints.xy.cpu().numpy() if getattr(res, "keypoints", None) is not None else None
        ident = Letterbox(1.0, 0.0, 0.0)  # ultralytics already maps back to image pixels
        out = [_to_detection(b, float(s), None if kpts is None else kpts[i], ident, image.shape)
               for i, (b, s) in enumerate(zip(boxes, scores))]
        return in_region(sorted(out, key=lambda d: -d.score), region)


def model_path(cfg, models_dir: Path) -> Path:
    if not cfg.detector_model:
        raise ValueError(f"perception.detector_model is required for detector {cfg.detector!r}")
    p = Path(cfg.detector_model)
    return p if p.is_absolute() or os.path.exists(p) else Path(models_dir) / p  # as locate.resolve_models_dir


def make_detector(cfg, models_dir: Path, sessions):
    """The pipeline's hook for ``perception.detector: yolo_onnx | yolo_pt``."""
    path = model_path(cfg, models_dir)
    if cfg.detector == "yolo_onnx":
        return YoloOnnxDetector(sessions.get(path, detector=True), threshold=cfg.det_threshold, iou=cfg.det_nms)
    if cfg.detector == "yolo_pt":
        return YoloPtDetector(path, threshold=cfg.det_threshold, iou=cfg.det_nms)
    raise ValueError(f"not a YOLO detector: {cfg.detector!r}")
