"""Perception settings (owned by the perception stage)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_agent.config.base import StrictModel


class PerceptionConfig(StrictModel):
    models_dir: str = "models"
    detector: Literal["clp_det", "yolo_onnx", "yolo_pt"] = "clp_det"
    detector_model: str | None = None  # path for yolo_onnx / yolo_pt
    det_size: int = Field(960, ge=160, le=4096, description="longest side the detector sees")
    det_threshold: float = Field(0.5, gt=0, lt=1)
    recognizer: Literal["ppocr_v4", "clp_crnn", "paddleocr"] = "ppocr_v4"
    threads: int = Field(2, ge=1, le=64)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
