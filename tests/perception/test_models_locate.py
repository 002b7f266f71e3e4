"""``perception.models_dir`` unset: a config written anywhere finds the installed models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from edge_agent.config.load import load_config
from edge_agent.perception.locate import CHECKOUT_MODELS, resolve_models_dir

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, **perception: object) -> Path:
    cfg = {"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "0"},
           "bays": [{"id": "A", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}],
           "data_dir": str(tmp_path / "data")}
    if perception:
        cfg["perception"] = perception
    path = tmp_path / "elsewhere" / "agent.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_unset_models_dir_finds_the_checkout_models_from_any_folder(tmp_path, models_dir):
    cfg = load_config(_config(tmp_path))
    assert cfg.perception.models_dir is None
    got = resolve_models_dir(cfg.perception.models_dir, cfg.data_dir, cfg.source_path)
    assert got == CHECKOUT_MODELS == models_dir.resolve()


def test_data_dir_models_found_when_the_checkout_has_none(tmp_path, monkeypatch):
    monkeypatch.setattr("edge_agent.perception.locate.CHECKOUT_MODELS", tmp_path / "no-checkout" / "models")
    monkeypatch.setattr("sys.prefix", str(tmp_path / "venv"))  # no install layout either
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "manifest.json").write_text("{}")
    assert resolve_models_dir(None, data) == (data / "models").resolve()


def test_given_models_dir_relative_to_the_config_file(tmp_path):
    cfg = _config(tmp_path, models_dir="mine")
    assert resolve_models_dir("mine", tmp_path / "data", cfg) == cfg.parent / "mine"
    assert resolve_models_dir(str(tmp_path), tmp_path / "data", cfg) == tmp_path.resolve()


def test_doctor_checks_the_models_found_without_models_dir(tmp_path, models_dir):
    """Run from another working directory: the doctor's models check passes with no models_dir."""
    path = _config(tmp_path)
    skip = [a for c in ("camera", "onnx providers", "broker", "gpio", "disk", "clock") for a in ("--skip", c)]
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "doctor", "--config", str(path), "--json", *skip],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert "models" in proc.stdout + proc.stderr
    assert str(models_dir.resolve()) in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_a_working_directory_the_user_may_not_search_is_not_where_models_are(tmp_path):
    """`sudo -u edge-agent edge-agent doctor` from a 0700 home: the relative ``models_dir`` is not in the working
    directory, so it is beside the config. ``Path.exists`` raised PermissionError there (the doctor's
    traceback; `run`: "cannot start: Permission denied: models")."""
    import os
    import pwd
    import tempfile

    import pytest

    from edge_agent.ops.checks import resolve_path

    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user in a private folder")
    cfg = load_config(_config(tmp_path, models_dir="models"))
    private = Path(tempfile.mkdtemp(prefix="private-home-"))  # 0700, root's
    nobody = pwd.getpwnam("nobody")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            os.chdir(private)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            beside = cfg.source_path.parent / "models"
            ok = (resolve_models_dir("models", cfg.data_dir, cfg.source_path) == beside
                  and resolve_path(cfg, "models") == beside)
        finally:
            os._exit(0 if ok else 1)
    try:
        assert os.waitpid(pid, 0)[1] == 0
    finally:
        private.rmdir()


def test_models_commands_default_to_the_install_layout(tmp_path, monkeypatch, capsys, models_dir):
    """In ``install.sh``'s venv (``/opt/edge-agent/venv``) the checkout's ``models/`` is ``site-packages/models``,
    which does not exist: `run`'s advice for a missing model, "run `edge-agent models fetch`", then failed with
    exit 2 ("is …/site-packages/models a models folder?") while `run` read ``/opt/edge-agent/models``."""
    from edge_agent.cli import main

    install = tmp_path / "opt" / "edge-agent"
    (install / "venv").mkdir(parents=True)
    (install / "models").mkdir()
    for f in models_dir.iterdir():  # the real files, as install.sh leaves them beside the venv
        (install / "models" / f.name).symlink_to(f.resolve())
    monkeypatch.setattr("edge_agent.perception.locate.CHECKOUT_MODELS",
                        tmp_path / "venv-lib" / "site-packages" / "models")
    monkeypatch.setattr("sys.prefix", str(install / "venv"))
    assert main(["models", "verify"]) == 0
    assert f"all files verified in {install / 'models'}" in capsys.readouterr().out
