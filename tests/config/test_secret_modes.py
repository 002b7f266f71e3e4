"""Secret files every user on the device may read (``config.secretmodes``): named at every start with the chmod
that mends them, on the rule and in the words the private keys are refused with.

Before: ``mqtt.password_file``, ``mqtt.hmac_secret_file``, the robots' key files and the review page's session key
were taken at mode 0644 without a word (the users file's password hashes until 2026-12-05), while ``web.tls.key_file`` / ``mqtt.tls.key_file`` at 0644 were refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge_agent.config import parse_config
from edge_agent.config.secretmodes import open_secret_files
from edge_agent.sim.synthetic import BAYS

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
}


def _secret(path: Path, mode: int) -> str:
    path.write_text("a secret of some length, as operators write them\n", encoding="utf-8")
    path.chmod(mode)
    return str(path)


def test_each_secret_file_readable_by_all_is_named_with_its_key_and_the_chmod(tmp_path):
    files = {name: _secret(tmp_path / name, 0o644) for name in ("password", "hmac", "robot", "sign", "session",
                                                                 "users")}
    cfg = parse_config({**GOOD, "data_dir": str(tmp_path / "data"),
                        "mqtt": {"enabled": True, "username": "u", "password_file": files["password"],
                                 "hmac_secret_file": files["hmac"]},
                        "notify": {"sinks": [{"name": "ding", "kind": "dingtalk", "secret_file": files["robot"],
                                              "sign_secret_file": files["sign"]}]},
                        "web": {"enabled": True, "session_secret_file": files["session"],
                                "users_file": files["users"]}})
    named = open_secret_files(cfg)
    assert [line.split(":")[0] for line in named] == [
        "mqtt.password_file", "mqtt.hmac_secret_file", "notify.sinks[0].secret_file",
        "notify.sinks[0].sign_secret_file", "web.session_secret_file", "web.users_file"]  # its hashes too
    assert named[1] == (f"mqtt.hmac_secret_file: {files['hmac']} is readable by every user on this device (mode "
                        "0644): anyone who copies it signs commands this device runs (its locks raised and lowered); "
                        "chmod 640 (group: the agent's) or 600")
    for path in files.values():  # as deployment.md installs them: root:edge-agent 0640
        Path(path).chmod(0o640)
    assert open_secret_files(cfg) == []


def test_run_names_a_secret_file_readable_by_all_at_start(tmp_path, models_dir):
    """A real start on a short recording: the warning is in the agent's log (stderr), and the agent runs."""
    video = tmp_path / "dark.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    for _ in range(5):
        w.write(np.zeros((540, 960, 3), np.uint8))
    w.release()
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    session = _secret(data / "web-secret.key", 0o644)  # the default place; one an older copy left open
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(video), "fps": 25, "width": 960, "height": 540},
        "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
        "perception": {"models_dir": str(models_dir)},
        "data_dir": str(data)}))
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [ln for ln in proc.stderr.splitlines() if "web.session_secret_file" in ln]
    assert len(said) == 1 and f"{session} is readable by every user on this device (mode 0644)" in said[0], \
        proc.stderr[-3000:]
    assert "chmod 640" in said[0] and "WARNING" in said[0].upper()
