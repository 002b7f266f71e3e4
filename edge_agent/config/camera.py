"""Camera settings (owned by the camera stage)."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class CameraConfig(StrictModel):
    source: str = Field(..., description="rtsp://…, a USB index like '0', a video file, or a folder of images")
    fps: float = Field(5.0, gt=0, le=60, description="frames sampled per second")
    width: int | None = None
    height: int | None = None
