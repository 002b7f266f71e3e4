"""Fixtures for the ops tests: a real mosquitto with a password, a camera folder, config files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.events.broker import LocalBroker, free_port, mosquitto_path
from tests.events.conftest import broker, tls_broker, tls_material  # noqa: F401 - helper M's fixtures, reused

USER, PASSWORD = "dev1", "doctor-test-pw"


@pytest.fixture
def password_broker(tmp_path):
    """A real mosquitto on loopback that refuses anonymous clients."""
    if mosquitto_path() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    work = tmp_path / "broker"
    work.mkdir()
    pwfile = work / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), USER, PASSWORD], check=True, capture_output=True)
    server = LocalBroker(work, password_file=pwfile)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def camera_folder(tmp_path) -> Path:
    """Two grey frames with a coarse texture: a real camera never sends a uniform frame (the doctor's
    ``bay view`` row fails one)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(2):
        coarse = np.clip(40 * (i + 1) + rng.normal(0, 12, (48, 64, 3)), 0, 255).astype(np.uint8)
        img = cv2.resize(coarse, (640, 480), interpolation=cv2.INTER_LINEAR)
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return folder


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens here


@pytest.fixture
def write_config(tmp_path) -> Callable[..., Path]:
    """``write_config(name, **sections)`` → a YAML file with a minimal valid config plus the given sections."""

    def write(name: str = "agent.yaml", **sections: Any) -> Path:
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        cfg: dict[str, Any] = {
            "site": {"site_id": "site-a", "device_id": "pole-7"},
            "camera": {"source": str(tmp_path / "frames")},
            "bays": [{"id": "A1", "polygon": [[0, 0], [300, 0], [300, 400], [0, 400]]}],
            "data_dir": str(data_dir),
            "ops": {"doctor": {"min_free_mb": 1, "camera_timeout_s": 20, "broker_timeout_s": 5}},
        }
        cfg.update(sections)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        return path

    return write
