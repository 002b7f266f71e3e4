"""One ``Pipeline``: BGR frame → list of ``PlateRead`` (detect → rectify → read → colour → verdict).

Sessions are created once here and injected into the stages, so a Pipeline is the one
thing the agent, the CLI and the benchmarks build from a ``PerceptionConfig``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.colour import classify_colour
from edge_agent.perception.detector import Detection, PlateDetector
from edge_agent.perception.double_row import is_double_row, read_double_row
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.recognizer import SPECIAL_LEADS, Recognizer, create_recognizer
from edge_agent.perception.rectify import rectify
from edge_agent.perception.rules import PROVINCES
from edge_agent.perception.sessions import SessionFactory
from edge_agent.perception.types import PlateRead
from edge_agent.perception.verdict import decide

log = logging.getLogger(__name__)

DOUBLE_ROW_SIZE = (192, 96)  # a 2:1 warp keeps the small top-row characters legible
PLATE_CROP_ASPECT = (2.0, 6.0)  # width / height of an image that may be a plate crop
PLATE_CROP_MAX_W = 640


class Pipeline:
    """Holds the stages and their sessions; ``process`` is not re-entrant (one frame at a time)."""

    def __init__(self, detector, recognizer: Recognizer, cfg: PerceptionConfig,
                 lists: PlateLists | None = None) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.cfg = cfg
        self.lists = lists

    @classmethod
    def from_config(cls, cfg: PerceptionConfig | None = None, models_dir: str | Path | None = None,
                    lists: PlateLists | None = None) -> Pipeline:
        cfg = cfg or PerceptionConfig()
        models = Path(models_dir if models_dir is not None else cfg.models_dir)
        sessions = SessionFactory(cfg.threads, cfg.providers)
        detector = make_detector(cfg, models, sessions)
        recognizer = create_recognizer(cfg.recognizer, models, sessions, **cfg.recognizer_options)
        return cls(detector, recognizer, cfg, lists)

    def process(self, frame_bgr: np.ndarray) -> list[PlateRead]:
        dets = self.detector.detect(frame_bgr) or self._whole_image(frame_bgr)
        if not dets:
            return []
        cfg = self.cfg
        crops = [rectify(frame_bgr, d.corners, pad_x=cfg.pad_x, pad_y=cfg.pad_y) for d in dets]
        reads = self.recognizer.read(crops)
        reads = self._recover_province(frame_bgr, dets, reads)
        out = []
        for det, crop, (text, conf, char_confs) in zip(dets, crops, reads):
            evidence = crop
            double = is_double_row(det.corners, crop)
            if double:  # a single-row read of it is the bottom row only: confidently wrong
                evidence = rectify(frame_bgr, det.corners, *DOUBLE_ROW_SIZE)
                text, conf, char_confs = read_double_row(self.recognizer, evidence)
            if not self._keep(det, text, conf) and not (double and det.score >= cfg.det_confirm):
                continue
            out.append(self._plate(det, crop, evidence, text, conf, char_confs, double))
        return out

    @staticmethod
    def _whole_image(frame: np.ndarray) -> list[Detection]:
        """An image shaped like a plate crop (operators feed those to ``recognize``) with no
        detection is read as the plate itself; ``_keep`` still demands a plate-like reading."""
        h, w = frame.shape[:2]
        if not (PLATE_CROP_ASPECT[0] <= w / max(h, 1) <= PLATE_CROP_ASPECT[1] and w <= PLATE_CROP_MAX_W):
            return []
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
        return [Detection(corners, (0.0, 0.0, float(w - 1), float(h - 1)), 0.0)]

    def _recover_province(self, frame, dets: list[Detection], reads: list) -> list:
        """Re-read plates whose province slot came out empty with the crop widened to the left:
        small plates' corners often cut the province character off. Kept only when the new
        reading adds a province in front of the same serial."""
        todo = [i for i, (text, _, _) in enumerate(reads)
                if 5 <= len(text) <= 7 and text[0] not in PROVINCES + SPECIAL_LEADS]
        if not todo:
            return reads
        widened = [rectify(frame, widen_left(dets[i].corners, self.cfg.province_widen)) for i in todo]
        out = list(reads)
        for i, (text, conf, confs) in zip(todo, self.recognizer.read(widened)):
            old = reads[i][0]
            if text[:1] in PROVINCES and text[-4:] == old[-4:] and len(old) <= len(text) <= len(old) + 1:
                out[i] = (text, conf, confs)
        return out

    def _keep(self, det: Detection, text: str, conf: float) -> bool:
        """Weak detections survive only when they read like a plate (drops logos, timestamps)."""
        if det.score >= self.cfg.det_confirm:
            return True
        return len(text) >= 7 and conf >= self.cfg.weak_det_min_text_conf

    def _plate(self, det: Detection, crop, evidence, text: str, conf: float, char_confs,
               double: bool) -> PlateRead:
        colour = classify_colour(crop, text)
        v = decide(text, colour, self.lists)
        return PlateRead(
            text=text, confidence=conf, colour=colour.colour, nev=v.nev, nev_reason=v.reason,
            corners=tuple((float(x), float(y)) for x, y in det.corners), box=det.box,
            det_score=det.score, type_code=v.type_code, double_row=double, char_confidences=tuple(char_confs),
            extra={"dark_chars": colour.dark_chars, "kind": v.kind, "energy": v.energy}, crop=evidence,
        )


def widen_left(corners: np.ndarray, frac: float) -> np.ndarray:
    """Move the left edge (TL, BL) outwards by ``frac`` of the plate's width."""
    c = np.asarray(corners, np.float32).copy()
    c[0] -= (c[1] - c[0]) * frac
    c[3] -= (c[2] - c[3]) * frac
    return c


def make_detector(cfg: PerceptionConfig, models: Path, sessions: SessionFactory):
    if cfg.detector == "clp_det":
        return PlateDetector(sessions.get(models / "clp_det.onnx"), size=cfg.det_size,
                             threshold=cfg.det_threshold, nms=cfg.det_nms, max_upscale=cfg.det_max_upscale,
                             refine_below=cfg.refine_below, refine_target=cfg.refine_target)
    from edge_agent.perception import yolo  # operator-supplied YOLO models (ONNX or .pt)

    return yolo.make_detector(cfg, models, sessions)
