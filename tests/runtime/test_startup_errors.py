"""``edge-agent run`` start-up failures an operator can fix: one line and an exit code, no traceback.

The real CLI in a subprocess, as systemd runs it. A read-only data folder is a real read-only
mount (a tmpfs; the tests run as root, so a chmod would not stop the agent), skipped where
mounting is not permitted and the user is root.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

from edge_agent.sim.synthetic import BAYS, Scene, render


def _config(tmp: Path, models: Path, data: Path) -> Path:
    frames = tmp / "frames"
    frames.mkdir(exist_ok=True)
    cv2.imwrite(str(frames / "000.jpg"), render(Scene()))
    cfg = {"site": {"site_id": "s1", "device_id": "cam1"},
           "camera": {"source": str(frames), "fps": 20, "width": 960, "height": 540},
           "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
           "perception": {"models_dir": str(models)}, "data_dir": str(data)}
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
                          capture_output=True, text=True, timeout=120)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edge-agent run: ")
    return lines[0]


@pytest.fixture
def readonly_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)],
                             capture_output=True).returncode == 0
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("cannot mount a read-only tmpfs here, and root ignores file modes")
        d.chmod(0o555)
    yield d
    if mounted:
        subprocess.run(["umount", str(d)], check=True)
    else:
        d.chmod(0o755)


def test_read_only_data_dir(tmp_path, models_dir, readonly_dir):
    proc = _run(_config(tmp_path, models_dir, readonly_dir))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert f"data_dir {readonly_dir}" in line and "not writable" in line


def test_missing_data_dir_is_created(tmp_path, models_dir):
    proc = _run(_config(tmp_path, models_dir, tmp_path / "new" / "data"))
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_missing_model_files(tmp_path):
    (tmp_path / "models").mkdir()
    proc = _run(_config(tmp_path, tmp_path / "models", tmp_path / "data"))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert "perception.models_dir" in line and "is missing" in line and "models fetch" in line


def test_unloadable_model_file(tmp_path, models_dir):
    models = tmp_path / "models"
    models.mkdir()
    for f in Path(models_dir).iterdir():
        (models / f.name).symlink_to(f.resolve())
    (models / "clp_det.onnx").unlink()
    (models / "clp_det.onnx").write_bytes(b"<html>404 not found</html>")  # a failed download
    proc = _run(_config(tmp_path, models, tmp_path / "data"))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert "clp_det.onnx cannot be loaded" in line and "models verify" in line


def test_other_file_system_errors_exit_1(tmp_path, models_dir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "evidence").write_text("a file where the evidence folder belongs")
    proc = _run(_config(tmp_path, models_dir, data))
    assert proc.returncode == 1
    line = _one_line(proc)
    assert "cannot start" in line and str(data / "evidence") in line
