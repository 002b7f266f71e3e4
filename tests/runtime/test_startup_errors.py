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
from tests.runtime.as_user import skip_unless_it_can_import


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


@pytest.mark.parametrize("content", [b"<html>404 not found</html>", None])
def test_an_occupancy_model_onnxruntime_cannot_use_is_a_config_error_naming_it(tmp_path, models_dir, content):
    """A failed download was onnxruntime's ``InvalidProtobuf`` traceback (exit 1); another ONNX model (the
    plate detector) a ``ValueError`` traceback about its input shape."""
    bad = tmp_path / "occupancy-bad.onnx"
    if content is None:
        bad.symlink_to((Path(models_dir) / "clp_det.onnx").resolve())
    else:
        bad.write_bytes(content)
    proc = _run(_with(_config(tmp_path, models_dir, tmp_path / "data"), occupancy={"model": str(bad)}))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    problem = proc.stderr.splitlines()[-1]
    assert problem.startswith(f"  occupancy.model: occupancy model {bad}" if content else "  occupancy.model: "
                              "occupancy model input must be [N, 3, S, S]"), proc.stderr


@pytest.mark.parametrize(("sections", "key"), [
    ({"web": {"enabled": True, "host": "127.0.0.1", "port": "{port}"}}, "web.host / web.port"),
    ({"ops": {"metrics": {"enabled": True, "host": "127.0.0.1", "port": "{port}"}}}, "ops.metrics.host / ops.metrics.port"),
])
def test_a_port_in_use_is_one_line_naming_its_keys_and_what_started_is_stopped(tmp_path, models_dir, sections, key):
    """The review page's or the metrics' bind failed after the camera and the sinks had started: an OSError
    traceback, exit 1. Now the stop plan runs and one line names the keys (exit 2)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        filled = yaml.safe_load(yaml.safe_dump(sections).replace("'{port}'", str(port)))
        proc = _run(_with(_config(tmp_path, models_dir, tmp_path / "data"), **filled))
    assert proc.returncode == 2
    assert _one_line_after_the_stop(proc) == f"edge-agent run: {key}: cannot listen on 127.0.0.1:{port} " \
                                              "(Address already in use)"


def _one_line_after_the_stop(proc: subprocess.CompletedProcess) -> str:
    """The last stderr line, after the stop plan's log lines (which say the camera was stopped)."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert any("shutdown: stop frames done" in x for x in lines), proc.stderr
    return lines[-1]


def test_other_file_system_errors_exit_1(tmp_path, models_dir):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o750)  # closed to others: the one line is the error, not the folder's mode warning
    (data / "evidence").write_text("a file where the evidence folder belongs")
    proc = _run(_config(tmp_path, models_dir, data))
    assert proc.returncode == 1
    line = _one_line(proc)
    assert "cannot start" in line and str(data / "evidence") in line


def _with(path: Path, **sections: object) -> Path:
    cfg = yaml.safe_load(path.read_text())
    cfg.update(sections)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(("sections", "expected"), [
    ({"mqtt": {"enabled": True, "username": "u", "password_env": "EDGE_TEST_UNSET_PW"}},
     "mqtt.password_env: environment variable EDGE_TEST_UNSET_PW is not set"),
    ({"mqtt": {"enabled": True, "username": "u", "password_file": "/nonexistent/pw"}},
     "mqtt.password_file: cannot read /nonexistent/pw"),
    ({"notify": {"sinks": [{"name": "a", "kind": "webhook", "url": "http://127.0.0.1:9/x",
                            "secret_env": "EDGE_TEST_UNSET_KEY"}]}},
     "notify.sinks[0].secret_env: environment variable EDGE_TEST_UNSET_KEY is not set"),
])
def test_a_missing_secret_is_one_line_naming_its_key(tmp_path, models_dir, sections, expected):
    proc = _run(_with(_config(tmp_path, models_dir, tmp_path / "data"), **sections))
    assert proc.returncode == 2
    assert expected in _one_line(proc)


def test_a_misspelt_event_type_in_a_sink_is_a_config_error_naming_it(tmp_path, models_dir):
    """``events: [violation_start]`` was accepted, and that sink never sent a thing: no such event ever comes."""
    sinks = [{"name": "a", "kind": "webhook", "url": "http://127.0.0.1:9/x",
              "events": ["violation_started", "violation_start"]}]
    proc = _run(_with(_config(tmp_path, models_dir, tmp_path / "data"), notify={"sinks": sinks}))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    problem = proc.stderr.splitlines()[-1]
    assert problem.startswith("  notify.sinks[0].events: violation_start: no such event type (known: "), problem
    assert "violation_started" in problem


def test_check_config_refuses_the_misspelt_event_type_that_run_refuses(tmp_path, capsys):
    """check-config said "ok" for this file and ``run`` then refused it (exit 2): deploy/install.sh restarts the
    service when check-config passes, so an upgrade to the version that refuses it left a device that never
    started. check-config applies the rule ``run`` applies; the rest of the file is still checked first."""
    from edge_agent.cli import main

    sinks = [{"name": "a", "kind": "webhook", "url": "http://127.0.0.1:9/x",
              "events": ["violation_started", "violation_start"]}]
    path = _with(_config(tmp_path, tmp_path / "no-models", tmp_path / "data"), notify={"sinks": sinks})
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("  notify.sinks[0].events: violation_start: no such event type (known: ")
    sinks[0]["events"] = ["violation_started"]
    assert main(["check-config", str(_with(path, notify={"sinks": sinks}))]) == 0
    assert ": ok — site s1" in capsys.readouterr().out


def test_a_sink_may_ask_for_the_charger_warnings_end(tmp_path, capsys):
    """notify-and-stats.md: each charger warning ends with `<kind>_cleared`, an event the bus carries; the check of a
    sink's `events` (0.4.0) knew only EventType's names and refused these (exit 2: the agent did not start)."""
    from edge_agent.cli import main

    kinds = ["charger_suspect", "charger_mismatch", "charger_silent"]
    sinks = [{"name": "a", "kind": "webhook", "url": "http://127.0.0.1:9/x",
              "events": kinds + [f"{k}_cleared" for k in kinds]}]
    path = _with(_config(tmp_path, tmp_path / "no-models", tmp_path / "data"), notify={"sinks": sinks})
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err


LOCK = {"id": "L1", "bay": next(iter(BAYS)), "motor": {"up": {"pin": 11}, "down": {"pin": 12}},  # BCM and BOARD GPIOs
        "switches": {"down": {"pin": 13, "pull_up": None, "active_high": False},
                     "up": {"pin": 15, "pull_up": None, "active_high": False}},
        # without one, a warning line says so (docs/locks.md); so it does for one whose dead state reads "clear"
        "presence": {"kind": "digital", "pin": {"pin": 16}, "pin_active": "clear"}}


@pytest.mark.parametrize(("driver", "expected"), [
    ("jetson", "locks[0].driver: jetson: "),  # Jetson.GPIO missing or no Jetson GPIO chip here
    ("gpiozero", "locks[0].driver: gpiozero: lock L1: no GPIO here"),  # no pin factory on this machine
])
def test_a_lock_driver_this_machine_cannot_run_is_one_line_naming_the_lock(tmp_path, models_dir, driver, expected):
    try:
        import Jetson.GPIO  # noqa: F401
        pytest.skip("Jetson.GPIO loads here")
    except Exception:  # noqa: BLE001 - not installed, or no GPIO chip: the case under test
        pass
    if driver == "gpiozero" and (Path("/dev/gpiochip0").exists() or os.environ.get("GPIOZERO_PIN_FACTORY")):
        pytest.skip("this machine has GPIO (or a pin factory is set)")
    camera = {"source": "rtsp://127.0.0.1:9/cam", "fps": 20, "width": 960, "height": 540}  # a real arm needs a camera
    proc = _run(_with(_config(tmp_path, models_dir, tmp_path / "data"), locks=[{**LOCK, "driver": driver}],
                      camera=camera))
    assert proc.returncode == 2
    assert expected in _one_line(proc)


def test_recognizer_options_the_backend_does_not_take_fail_check_config_not_run(tmp_path, models_dir):
    path = _with(_config(tmp_path, models_dir, tmp_path / "data"),
                 perception={"models_dir": str(models_dir), "recognizer_options": {"foo": 1}})
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "perception.recognizer_options.foo: not an option of recognizer ppocr_v4 (it takes width, pad_to, " \
           "vocab)" in proc.stderr


def test_files_root_left_in_the_data_dir_are_named_before_anything_starts(models_dir):
    """A backup restored as root (or a tool run with sudo) leaves root-owned files in the agent's own folder.
    Only the folder was checked: SQLite opened the root-owned index read-only in silence and the agent ran on
    with every evidence, violation and run-ledger write failing. Now: one line naming them, exit 2."""
    import pwd
    import shutil
    import tempfile

    from edge_agent.clock import FakeClock
    from edge_agent.evidence.store import EvidenceStore

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the agent as another user")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    repo = Path(__file__).resolve().parents[2]
    skip_unless_it_can_import(pw.pw_uid, pw.pw_gid, repo, "nobody")
    root = Path(tempfile.mkdtemp(prefix="edge-restored-"))
    try:
        os.chmod(root, 0o755)
        data = root / "data"
        (data / "evidence" / "2026-01-01").mkdir(parents=True)
        for folder in (data, data / "evidence", data / "evidence" / "2026-01-01"):
            os.chown(folder, pw.pw_uid, pw.pw_gid)
        EvidenceStore(data / "evidence", FakeClock()).close()  # the index restored by root: root's, 0644
        (data / "events.jsonl").write_text("")
        (data / "labels").mkdir()  # written by `sudo edge-agent occupancy label`: the agent only reads it
        (data / "bays").mkdir()  # where the drawn outlines are kept (`bays/outlines.json`): the agent replaces files there
        config = _config(root, models_dir, data)
        os.chmod(config, 0o644)
        proc = subprocess.run(
            ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--",
             sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), "HOME": "/nonexistent", "LANG": "C.UTF-8"},
            cwd="/", capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr[-2000:]
        line = _one_line(proc)
        assert "not writable by this user" in line and "labels" not in line
        assert "evidence/evidence.db (owner root)" in line and "events.jsonl (owner root)" in line
        assert "bays (owner root)" in line
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_start_says_what_the_overrides_change(tmp_path, models_dir):
    """After the teach page's "Use it" the overrides set only the occupancy model and calibration, and the start
    logged "bays / lists saved at run time apply from …/overrides.yaml": not what they change. It says it now, as
    ``check-config`` does."""
    import hashlib
    import json

    from edge_agent.bays.classifier import BayClassifier

    data = tmp_path / "data"
    data.mkdir()
    site_model = models_dir / "occupancy-site.onnx"
    n = BayClassifier.load(site_model).n_features
    (data / "occupancy-calibration.json").write_text(json.dumps(
        {"model": "occupancy-site.onnx", "model_sha256": hashlib.sha256(site_model.read_bytes()).hexdigest(),
         "head": {"w": [0.01] * n, "b": 0.0}, "occupied": 10, "empty": 10, "cv_accuracy_before": 0.9,
         "cv_accuracy_after": 0.97}))
    (data / "overrides.yaml").write_text(yaml.safe_dump(
        {"occupancy": {"model": "occupancy-site.onnx", "calibration": "occupancy-calibration.json"}}))
    proc = _run(_config(tmp_path, models_dir, data))
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stderr.splitlines() if "overrides.yaml" in x)
    assert "bays / lists" not in line, line
    assert line.endswith(f"run-time edits apply from {data / 'overrides.yaml'} (delete it to use the config file's): "
                         "occupancy calibration occupancy-calibration.json, model occupancy-site.onnx (the installer "
                         "page's calibration)"), line


@pytest.mark.parametrize(("name", "plant", "kind"), [
    ("events.jsonl", "fifo", "a FIFO"),  # hung the start for ever: no line, no lock driven, SIGTERM not handled
    ("evidence/evidence.db-shm", "fifo", "a FIFO"),  # was "cannot start: disk full: free space under data_dir"
    ("evidence/evidence.db", "fifo", "a FIFO"),  # the same
    ("evidence/evidence.db", "link", "a symbolic link"),  # the plates' index was written where it led
    # a live camera's reader opened it by name: a FIFO hung the start, a link had digests appended where it led
    ("camera/shown.bin", "fifo", "a FIFO"),
    ("camera/shown.bin", "link", "a symbolic link"),
])
def test_a_link_or_fifo_planted_at_an_agent_file_is_one_line_naming_it(tmp_path, models_dir, name, plant, kind):
    """``run`` opens its databases and ``events.jsonl`` by name and never makes them a link or a FIFO: one planted
    there is refused before anything opens it (exit 2), nothing written through it."""
    data = tmp_path / "data"
    (data / name).parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.db"
    if plant == "fifo":
        os.mkfifo(data / name)
    else:
        (data / name).symlink_to(elsewhere)
    cmd = [sys.executable, "-m", "edge_agent", "run", "--config", str(_config(tmp_path, models_dir, data)), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = _one_line(proc)
    assert f"{name} ({kind})" in line and "remove" in line, line
    assert not elsewhere.exists()


@pytest.mark.parametrize("plant", ["fifo", "link"])
def test_a_file_swapped_in_after_the_check_is_refused_at_the_open(tmp_path, models_dir, plant):
    """The check above looks before the models load; the log is opened seconds later. Here the check is stubbed to see
    nothing (as a swap just after it leaves it): a FIFO at ``events.jsonl`` hung the start for ever (this run's 60 s
    timeout), a link had the events appended where it led. Now the open refuses it: one line naming it, after the
    stop plan, exit 2 as the check's own refusal."""
    data = tmp_path / "data"
    (data / "evidence").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.txt"
    if plant == "fifo":
        os.mkfifo(data / "events.jsonl")
    else:
        elsewhere.write_text("")
        (data / "events.jsonl").symlink_to(elsewhere)
    config = _config(tmp_path, models_dir, data)
    code = ("import sys, edge_agent.runtime.preflight as p; p.planted_problem = lambda d: None; "
            "from edge_agent.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "run", "--config", str(config), "--quiet", "--max-seconds", "5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = _one_line_after_the_stop(proc)
    assert line.startswith(f"edge-agent run: data_dir: {data / 'events.jsonl'}: a link, FIFO, device or folder where "
                           "the agent keeps its own file (planted?): remove it"), line
    assert plant == "fifo" or elsewhere.read_text() == ""
