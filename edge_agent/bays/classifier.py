"""Is there a vehicle in this bay? A small CNN on each bay's crop, run with onnxruntime.

The model (``models/occupancy.onnx``, trained by ``edge-agent occupancy train``) takes raw BGR
pixels, float32 [N, 3, S, S] in 0..255, and returns p(occupied) [N] in 0..1: the normalisation
and the sigmoid live inside the graph, so this class only crops, stacks and transposes.
The session is injected (one per process, shared by whoever needs it); ``load`` builds one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.bays.crop import bay_crop

Polygon = Sequence[tuple[float, float]]

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "occupancy.onnx"
MAX_BATCH = 64  # bounds the activation memory of one run; a site has tens of bays, not thousands


class BayClassifier:
    """p(occupied) for bay crops, batched; one shared onnxruntime session."""

    def __init__(self, session: Any) -> None:  # onnxruntime.InferenceSession or alike
        inp = session.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3]:
            raise ValueError(f"occupancy model input must be [N, 3, S, S], got {shape}")
        self.session = session
        self.size = int(shape[2])
        self._input = inp.name

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL, threads: int = 1) -> BayClassifier:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"occupancy model not found: {path}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        return cls(ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]))

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """p(occupied) per crop, float32 [N] in [0, 1]. Crops are uint8 BGR; any other size is
        resized to the model's (``bay_crop(..., size=clf.size)`` avoids that)."""
        if len(crops) == 0:
            return np.zeros(0, dtype=np.float32)
        batch = np.stack([self._fit(c) for c in crops]).astype(np.float32).transpose(0, 3, 1, 2)
        out = [self.session.run(None, {self._input: batch[i:i + MAX_BATCH]})[0]
               for i in range(0, len(batch), MAX_BATCH)]
        p = np.concatenate([np.asarray(o, dtype=np.float32).reshape(-1) for o in out])
        clipped: np.ndarray = np.clip(np.nan_to_num(p, nan=0.5), 0.0, 1.0)
        return clipped

    def classify(self, frame_bgr: np.ndarray, polygons: Mapping[str, Polygon]) -> dict[str, float]:
        """p(occupied) per bay id for one frame."""
        ids = list(polygons)
        crops = [bay_crop(frame_bgr, polygons[b], size=self.size) for b in ids]
        return {b: float(p) for b, p in zip(ids, self.predict(crops))}

    def _fit(self, crop: np.ndarray) -> np.ndarray:
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        if crop.shape[:2] != (self.size, self.size):
            crop = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return crop
