"""int8 copies of the detector and the recogniser (``edge-agent models quantize``).

Why static int8: on a Raspberry Pi 4 (no GPU, NEON dot-product int8 kernels) the two
networks are most of a frame's cost. Static quantisation needs activation ranges, measured on
*calibration* inputs: frames the operator points at (their own camera's snapshots, or
plates-dev at evaluation time — never data shipped with the project). The fp32 pipeline turns
each frame into exactly what each network sees in service: the detector's padded blob, and the
rectified plate crops the fp32 detector finds. The int8 files are written beside the fp32
ones (``*.int8.onnx``, git-ignored) and chosen with ``perception.precision: int8``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from math import ceil
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

DETECTOR = "clp_det.onnx"
RECOGNIZER = "ch_PP-OCRv4_rec_infer.onnx"
MAX_CALIBRATION_FRAMES = 64


def int8_name(name: str) -> str:
    """``clp_det.onnx`` → ``clp_det.int8.onnx``."""
    return name[:-5] + ".int8.onnx" if name.endswith(".onnx") else name + ".int8"


def calibration_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` (recursively, sorted: the same files give the same model)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


def calibration_frames(folder: Path, limit: int = MAX_CALIBRATION_FRAMES) -> Iterator[np.ndarray]:
    """Images of ``folder``, decoded (those that decode) from the first ``limit`` files."""
    for p in calibration_files(folder)[:limit]:
        img = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_COLOR)
        if img is not None:
            yield img


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over prepared inputs."""

    def __init__(self, name: str, inputs: list[np.ndarray]) -> None:
        self._it = iter([{name: x} for x in inputs])

    def get_next(self):
        return next(self._it, None)


def _detector_blob(pipe, frame: np.ndarray) -> np.ndarray:
    """The blob ``PlateDetector._run`` builds for a frame (same scale, padding and mean)."""
    det = pipe.detector
    h, w = frame.shape[:2]
    scale = det.scale_for(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    blob = np.zeros((ceil(nh / 32) * 32, ceil(nw / 32) * 32, 3), np.float32)
    blob[:nh, :nw] = resized.astype(np.float32) - (104.0, 117.0, 123.0)
    return blob.transpose(2, 0, 1)[None]


def _opset13(src: Path, dst: Path) -> None:
    """Per-channel int8 needs DequantizeLinear's ``axis`` (opset 13); both models are older."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(src))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    if opset < 13:
        model = version_converter.convert_version(model, 13)
    onnx.save(model, str(dst))


def quantize(models: Path, frames: Iterable[np.ndarray], pipe) -> list[Path]:
    """Write ``*.int8.onnx`` for the detector and the recogniser; ``pipe`` is the fp32 Pipeline."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edge_agent.perception.recognizer import _normalise
    from edge_agent.perception.rectify import rectify

    blobs, crops = [], []
    for frame in frames:
        blobs.append(_detector_blob(pipe, frame))
        crops += [rectify(frame, d.corners) for d in pipe.detector.detect(frame)]
    if not blobs:
        raise ValueError("no calibration images could be read")
    rec = pipe.recognizer
    rec_inputs = [_normalise([c], rec.height, rec.width) for c in crops] or [
        _normalise([np.full((48, 168, 3), 128, np.uint8)], rec.height, rec.width)]
    out = []
    # uint8 activations with min/max ranges measured best on plates-dev (int8 activations with
    # percentile ranges: recogniser 0.861 vs 0.886 exact); a histogram also needs one input
    # shape, and the detector sees frames of many sizes
    for name, input_name, inputs in ((DETECTOR, pipe.detector.session.get_inputs()[0].name, blobs),
                                     (RECOGNIZER, rec.session.get_inputs()[0].name, rec_inputs)):
        src, dst = models / name, models / int8_name(name)
        pre = dst.with_suffix(".pre.onnx")
        _opset13(src, pre)
        quant_pre_process(str(pre), str(pre), skip_symbolic_shape=True)
        try:
            quantize_static(str(pre), str(dst), _Reader(input_name, inputs), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            calibrate_method=CalibrationMethod.MinMax)
        finally:
            pre.unlink(missing_ok=True)
        log.info("wrote %s (%d calibration inputs)", dst, len(inputs))
        out.append(dst)
    return out
