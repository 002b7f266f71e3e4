"""``demo --frames-out DIR``: keep the scenario's frames as numbered files plus a config to replay them.

Why: integration testers drive the real ``edge-agent run`` as a black box; a folder of the demo's
frames (what the camera would have seen, sensor noise included) and a matching ``scenario.yaml``
(the same bays, timers and simulated locks; a folder source plays files in name order at
``camera.fps``) let them do it without a camera, the Python API or a copy of the bay polygons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import yaml

from edge_agent import imfile
from edge_agent.camera.source import Frame
from edge_agent.config.models import AgentConfig

REPLAY_CONFIG = "scenario.yaml"
FORMATS = {"jpg": [cv2.IMWRITE_JPEG_QUALITY, 95], "png": [cv2.IMWRITE_PNG_COMPRESSION, 3]}


class FrameRecorder:
    """A frame source that writes every frame it hands out to ``out_dir/frame-000001.jpg`` …"""

    def __init__(self, source: Any, out_dir: Path, fmt: str = "jpg") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"frames format {fmt!r}: one of {', '.join(FORMATS)}")
        self.source, self.out_dir, self.fmt = source, out_dir, fmt
        self.written = 0
        out_dir.mkdir(parents=True, exist_ok=True)
        stale = [p for p in out_dir.glob("frame-*.*") if p.suffix.lstrip(".") in FORMATS]
        for p in stale:  # a second demo into the same folder must not interleave two stories
            p.unlink()

    def latest(self) -> Frame | None:
        frame = self.source.latest()
        if frame is not None:
            self.written += 1
            path = self.out_dir / f"frame-{self.written:06d}.{self.fmt}"
            if not imfile.imwrite(path, frame.image, FORMATS[self.fmt]):
                raise OSError(f"cannot write {path}")
        return frame

    def __getattr__(self, name: str) -> Any:  # start, stop, current, duration, reconnects …
        return getattr(self.source, name)


def replay_config(cfg: AgentConfig, frames_dir: Path) -> dict[str, Any]:
    """The demo's config, pointed at the frame folder: ``edge-agent run -c DIR/scenario.yaml`` replays it.

    No ``models_dir`` (the installed models are found) and MQTT off: a tester adds their broker."""
    data = cfg.model_dump(mode="json", exclude_unset=True)
    data["camera"]["source"] = str(frames_dir.resolve())
    data["data_dir"] = str((frames_dir / "run-data").resolve())
    data.pop("perception", None)
    data["mqtt"] = {"enabled": False, "brokers": ["mqtt://127.0.0.1:1883"]}
    return data


def write_replay_config(cfg: AgentConfig, frames_dir: Path) -> Path:
    path = frames_dir / REPLAY_CONFIG
    text = ("# Written by `edge-agent demo --frames-out`: the demo's bays, timers and simulated locks over\n"
            "# the frames in this folder. Replay: edge-agent run -c " + str(path.resolve()) + "\n")
    path.write_text(text + yaml.safe_dump(replay_config(cfg, frames_dir), allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path
