"""Frame sources (RTSP, USB, video file, image folder) and camera health."""

from edge_agent.camera.health import CameraHealth, HealthTracker
from edge_agent.camera.source import Frame, FrameSource, OpenCVSource, open_source

__all__ = ["CameraHealth", "Frame", "FrameSource", "HealthTracker", "OpenCVSource", "open_source"]
