"""``edge-agent doctor`` against a good and a broken config (real broker, real models, real image folder)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config.load import load_config
from edge_agent.ops.doctor import check_clock, check_gpio, run_doctor

from .conftest import PASSWORD, USER

pytestmark = pytest.mark.broker


def doctor(config: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", "doctor", "--config", str(config), *extra],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def rows(out: str) -> dict[str, str]:
    return {r["name"]: r["status"] for r in map(json.loads, out.splitlines())}


def test_good_config_passes(write_config, camera_folder, models_dir, password_broker, tmp_path):
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    cfg = write_config(
        perception={"models_dir": str(models_dir)},
        mqtt={"enabled": True, "brokers": [password_broker.url()], "username": USER, "password_file": "pw"},
    )
    res = doctor(cfg, "--skip", "clock")  # the host's NTP state is not this test's business (rows tested below)
    assert res.returncode == 0, res.stdout + res.stderr
    table = res.stdout
    assert "camera" in table and "one frame read, 640x480" in table
    assert f"broker {password_broker.url()}" in table and "user dev1" in table
    assert PASSWORD not in res.stdout + res.stderr
    status = rows(doctor(cfg, "--json", "--skip", "clock").stdout)
    assert status["camera"] == status["models"] == status["disk"] == status["onnx providers"] == "pass"
    assert status[f"broker {password_broker.url()}"] == "pass"
    assert status["gpio"] == "skip"  # no GPIO locks
    assert status["clock"] == "skip"


def test_broken_config_names_each_failing_row(write_config, models_dir, tmp_path, closed_port):
    broken_models = tmp_path / "site-models"
    broken_models.mkdir()
    (broken_models / "manifest.json").write_bytes((models_dir / "manifest.json").read_bytes())
    for f in models_dir.glob("*.onnx"):
        if f.name != "clp_det.onnx":  # the detector is missing
            (broken_models / f.name).symlink_to(f)
    for f in models_dir.iterdir():
        if f.is_dir() or f.suffix == ".txt":
            (broken_models / f.name).symlink_to(f)
    cfg = write_config(
        camera={"source": str(tmp_path / "no-such-camera")},
        perception={"models_dir": "site-models"},  # relative, not in the working dir: beside the config file
        mqtt={"enabled": True, "brokers": [f"mqtt://127.0.0.1:{closed_port}"]},
    )
    res = doctor(cfg, "--skip", "clock")  # this host's own clock is not what this test is about
    assert res.returncode == 1, res.stdout + res.stderr
    lines = {ln.split()[0]: ln for ln in res.stdout.splitlines()[1:-1]}
    assert "FAIL" in lines["camera"] and "no such file or folder" in lines["camera"]
    assert "camera.source" in lines["camera"]  # the key to fix (newuser38)
    assert "FAIL" in lines["models"] and "clp_det.onnx (missing)" in lines["models"]
    broker_line = next(ln for ln in res.stdout.splitlines() if ln.startswith("broker "))
    assert "FAIL" in broker_line and "refused" in broker_line.lower()
    assert res.stdout.splitlines()[-1].startswith("3 failed: camera, models, broker")


def test_models_row_fails_without_the_occupancy_model(write_config, models_dir, tmp_path):
    """A models folder made by `models fetch` alone (every fetched file verified) lacked the occupancy model,
    which ships in the source tree: the doctor passed it and `run` then stopped at `occupancy.model`."""
    from edge_agent.ops.doctor import check_models

    fetched = tmp_path / "installed-models"
    fetched.mkdir()
    for f in models_dir.iterdir():
        if not f.name.startswith("occupancy"):
            (fetched / f.name).symlink_to(f)
    row = check_models(load_config(write_config(perception={"models_dir": str(fetched)})))
    assert row.status == "fail" and "occupancy.onnx (missing" in row.detail, row
    assert "models fetch" not in row.detail  # fetching cannot bring it
    (fetched / "occupancy.onnx").symlink_to(models_dir / "occupancy.onnx")
    assert check_models(load_config(write_config(perception={"models_dir": str(fetched)}))).status == "pass"
    # a model named outside the models folder is named where it was looked for (it read "<models dir>: x.onnx")
    elsewhere = tmp_path / "site" / "my-occupancy.onnx"
    row = check_models(load_config(write_config(perception={"models_dir": str(fetched)},
                                                occupancy={"model": str(elsewhere)})))
    assert row.status == "fail" and f"occupancy.model: {elsewhere} (missing" in row.detail, row


def test_a_model_update_sets_the_site_calibration_aside_and_the_models_row_says_so(write_config, models_dir,
                                                                                    tmp_path):
    """A site calibration is bound to the model's sha256. After an upgrade that brings a retrained model of the same
    name, `run` refused the old file (exit 2, `occupancy.calibration`): the whole agent down, locks and all, until
    someone calibrated again. It now starts as an uncalibrated site does (``occupancy.model``, the shipped head) and
    says why; the doctor's row warns with what to do. A config naming another model than the file's is still a
    config mistake (refused: ``test_a_calibration_brings_its_model_unless_the_config_names_another``)."""
    import hashlib

    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.ops.doctor import check_models
    from edge_agent.runtime.models import default_classifier

    site_model = models_dir / "occupancy-site.onnx"
    n = BayClassifier.load(site_model).n_features
    previous = hashlib.sha256(b"the occupancy-site.onnx of the release before").hexdigest()
    cal = tmp_path / "data" / "occupancy-calibration.json"
    cal.parent.mkdir(exist_ok=True)
    doc = {"model": "occupancy-site.onnx", "model_sha256": previous, "head": {"w": [0.01] * n, "b": 0.0},
           "occupied": 5, "empty": 5, "cv_accuracy_before": 0.83, "cv_accuracy_after": 0.97}
    cal.write_text(json.dumps(doc))
    cfg = load_config(write_config(perception={"models_dir": str(models_dir)},
                                   occupancy={"calibration": "occupancy-calibration.json"}))
    clf = default_classifier(cfg)  # what the agent does with it: starts, uncalibrated
    assert clf.calibration is None and clf.model_sha256 == BayClassifier.load(models_dir / "occupancy.onnx").model_sha256
    assert clf.set_aside is not None and "updated since" in clf.set_aside
    row = check_models(cfg)
    assert row.status == "warn" and "set aside" in row.detail and "made for another" in row.detail, row
    assert "occupancy calibrate" in row.detail and "occupancy.onnx" in row.detail  # what runs, what to do
    # calibrated again for this model: in use, and the row says so (these checks went with the refusal in calib39)
    cal.write_text(json.dumps({**doc, "model_sha256": hashlib.sha256(site_model.read_bytes()).hexdigest()}))
    row = check_models(cfg)
    assert row.status == "pass", row
    in_use = default_classifier(cfg)
    assert in_use.calibration is not None and in_use.set_aside is None
    assert row.detail.endswith(f"; occupancy: occupancy-site.onnx with the site calibration {cal}"), row
    shipped = check_models(load_config(write_config(perception={"models_dir": str(models_dir)})))
    assert shipped.detail.endswith("; occupancy: occupancy.onnx, no site calibration"), shipped


def test_models_row_without_a_manifest_gives_advice_that_works(write_config, tmp_path, capsys):
    """The row said "was `edge-agent models fetch --dir` run?", but `models fetch --dir` on that folder refuses
    it for the very same missing manifest (it reads the file list from it)."""
    from edge_agent.cli import main
    from edge_agent.ops.doctor import check_models

    empty = tmp_path / "no-models"
    empty.mkdir()
    row = check_models(load_config(write_config(perception={"models_dir": str(empty)})))
    assert row.status == "fail" and "manifest.json" in row.detail
    for command in re.findall(r"`edge-agent ([^`]*)`", row.detail):  # whatever it tells to run must run there
        assert main([*command.replace("DIR", str(empty)).split()]) == 0, command
    assert "perception.models_dir" in row.detail and "deploy/install.sh" in row.detail


def test_camera_row_gives_the_size_after_the_turn(tmp_path):
    """``camera.width`` / ``height`` and the bays are the turned view's: a sideways camera says both sizes."""
    import cv2
    import numpy as np

    from edge_agent.ops.doctor import check_camera
    from edge_agent.sim.scenario import scene_config

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "000.png"), np.full((960, 540, 3), 90, np.uint8))  # mounted on its side
    sideways = check_camera(scene_config(str(tmp_path / "data"), camera={"source": str(folder), "rotate": 90}))
    assert sideways.status == "pass" and sideways.detail.endswith("one frame read, 540x960 (960x540 after rotate 90)")
    upright = check_camera(scene_config(str(tmp_path / "data"), camera={"source": str(folder)}))
    assert upright.status == "fail" and "one frame read, 540x960, but the bays are drawn on 960x540" in upright.detail


def test_camera_row_tries_a_gstreamer_pipeline_rather_than_calling_it_a_missing_file(tmp_path):
    """A pipeline without ``://`` (``v4l2src … ! appsink``) is read as the agent reads it, by OpenCV: the row said
    ``no such file or folder`` (``describe_source`` calls it a "file") without opening it, so a working pipeline
    camera failed the doctor. Here OpenCV is built without GStreamer: it cannot open, and says that."""
    from edge_agent.ops.doctor import check_camera
    from edge_agent.sim.scenario import scene_config

    pipeline = "videotestsrc num-buffers=1 ! videoconvert ! appsink"
    row = check_camera(scene_config(str(tmp_path / "data"), camera={"source": pipeline}))
    assert "no such file or folder" not in row.detail, row.detail
    assert row.detail.startswith(f"camera.source: stream {pipeline}: ")  # a stream (reconnected), not a file


def test_camera_row_says_how_the_frames_fit_the_bays_size(tmp_path):
    """``camera.width`` / ``height`` are the size the bays are drawn on: the same shape is scaled, another fails."""
    import cv2
    import numpy as np

    from edge_agent.ops.doctor import check_camera
    from edge_agent.sim.scenario import scene_config

    def row(w: int, h: int, **camera: object):  # noqa: ANN202
        folder = tmp_path / f"f{w}x{h}"
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / "000.png"), np.full((h, w, 3), 90, np.uint8))
        return check_camera(scene_config(str(tmp_path / "data"), camera={"source": str(folder), **camera}))

    same = row(960, 540)
    assert same.status == "pass" and same.detail.endswith("one frame read, 960x540")
    big = row(1920, 1080)
    assert big.status == "pass" and big.detail.endswith("1920x1080, scaled to the bays' 960x540 (camera.width/height)")
    assert row(720, 540).status == "fail" and "another aspect ratio" in row(720, 540).detail
    assert row(720, 540, width=None, height=None).status == "pass"  # nothing configured: the frames set the size


def test_wrong_password_and_anonymous_fail(write_config, camera_folder, models_dir, password_broker, tmp_path):
    (tmp_path / "pw").write_text("not-the-password\n")
    wrong = load_config(write_config("wrong.yaml", perception={"models_dir": str(models_dir)}, mqtt={
        "enabled": True, "brokers": [password_broker.url()], "username": USER, "password_file": "pw"}))
    anon = load_config(write_config("anon.yaml", perception={"models_dir": str(models_dir)}, mqtt={
        "enabled": True, "brokers": [password_broker.url()]}))
    for cfg in (wrong, anon):
        row = next(c for c in run_doctor(cfg) if c.name.startswith("broker"))
        assert row.status == "fail" and "refused" in row.detail and "authori" in row.detail.lower(), row


def test_missing_password_env_is_a_failure(write_config, camera_folder, models_dir, monkeypatch):
    monkeypatch.delenv("EDGE_TEST_NO_SUCH_PW", raising=False)
    cfg = load_config(write_config(perception={"models_dir": str(models_dir)}, mqtt={
        "enabled": True, "username": USER, "password_env": "EDGE_TEST_NO_SUCH_PW"}))
    row = next(c for c in run_doctor(cfg) if c.name.startswith("broker"))
    assert row.status == "fail" and "EDGE_TEST_NO_SUCH_PW" in row.detail


def test_invalid_config_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {site_id: a}\n")
    res = doctor(bad)
    assert res.returncode == 2 and "site.device_id" in res.stderr


def test_unknown_skip_is_a_usage_error(write_config):
    res = doctor(write_config(), "--skip", "clok")
    assert res.returncode == 2 and "clok" in res.stderr


def test_the_skip_help_names_every_check_the_doctor_has(capsys):
    """The list was written by hand in the help and left out ``web`` and ``service sandbox``, which ``--skip``
    accepts: read from the doctor's own checks now."""
    from edge_agent.cli import main
    from edge_agent.ops.doctor import CHECKS

    with pytest.raises(SystemExit) as done:
        main(["doctor", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    named = re.search(r"leave out a check \(([^)]*)\)", text)
    assert named is not None and named.group(1).split(", ") == list(CHECKS)


def _run(stdout: str, rc: int = 0, stderr: str = ""):
    return lambda *a, **k: subprocess.CompletedProcess(a, rc, stdout, stderr)


def test_clock_rows():
    assert check_clock(_run("yes\n")).status == "pass"
    assert check_clock(_run("no\n")).status == "fail"
    unknown = lambda: None  # noqa: E731 - a kernel that cannot be asked (not Linux, a sandbox)
    skipped = check_clock(_run("", 1, "System has not been booted with systemd as init system (PID 1)."), unknown)
    assert skipped.status == "skip" and "booted with systemd" in skipped.detail

    def missing(*a, **k):
        raise FileNotFoundError("timedatectl")

    assert check_clock(missing, unknown).status == "skip"


def test_without_timedatectl_the_kernel_answers_as_it_does_for_the_heartbeat():
    """In the Jetson container (no systemd) the row was always skipped, while the agent's heartbeat, from the
    kernel's flag, said ``clock_synced: false`` for the same clock. adjtimex(2) answers TIME_ERROR (5) for an
    unsynchronised clock, a state ≥ 0 otherwise."""
    from edge_agent.timesync import TIME_ERROR, KernelSyncProbe

    def missing(*a, **k):
        raise FileNotFoundError("timedatectl")

    unsynced = check_clock(missing, KernelSyncProbe(adjtimex=lambda buf: TIME_ERROR))
    assert unsynced.status == "fail" and "clock_synced" in unsynced.detail and "no systemd" in unsynced.detail
    synced = check_clock(_run("", 1, "Failed to connect to bus: Host is down"), KernelSyncProbe(adjtimex=lambda buf: 0))
    assert synced.status == "pass" and "kernel" in synced.detail
    # the agent's own probe on this machine: the row says what the heartbeat would
    mine = KernelSyncProbe()()
    row = check_clock(missing)
    assert row.status == {True: "pass", False: "fail", None: "skip"}[mine], row


def test_a_missing_provider_names_the_key_and_the_way_on(write_config):
    """The row said which provider was missing, not the setting that asks for it (probe newuser38)."""
    from edge_agent.ops.doctor import check_providers

    cfg = load_config(write_config("gpu.yaml", perception={"providers": ["NoSuchExecutionProvider"]}))
    row = check_providers(cfg)
    assert row.status == "fail" and row.detail.startswith("perception.providers: "), row.detail
    assert "NoSuchExecutionProvider" in row.detail and "take it out of perception.providers" in row.detail


def test_gpio_rows(write_config, tmp_path, monkeypatch):
    from gpiozero import Device

    monkeypatch.setattr(Device, "pin_factory", None)  # whatever another test left behind
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    sim = load_config(write_config("sim.yaml", locks=[{"id": "L1", "bay": "A1", "driver": "simulator"}]))
    assert check_gpio(sim, env={}, chips=[]).status == "skip"
    chip = tmp_path / "gpiochip0"
    chip.write_bytes(b"")
    os.chmod(chip, 0o600)
    cfg = load_config(write_config("pi.yaml", locks=[_gpiozero_lock()], camera={"source": "0"}))
    no_chip = check_gpio(cfg, env={}, chips=[])
    assert no_chip.status == "fail" and "no /dev/gpiochip" in no_chip.detail
    # the row names the locks and the way on (probe newuser38: it said the symptom only)
    assert "locks L1 (driver gpiozero)" in no_chip.detail and "driver: simulator" in no_chip.detail, no_chip.detail
    # A chip is there but this is no Raspberry Pi and lgpio is not installed: gpiozero finds no pin factory.
    if importlib.util.find_spec("lgpio") is None:  # on a real Pi this would pass
        no_factory = check_gpio(cfg, env={}, chips=[str(chip)])
        assert no_factory.status == "fail" and "gpiozero" in no_factory.detail and "lgpio" in no_factory.detail
    if os.geteuid() != 0:  # root can read anything
        os.chmod(chip, 0o000)
        denied = check_gpio(cfg, env={}, chips=[str(chip)])
        assert denied.status == "fail" and "group gpio" in denied.detail


def test_gpio_with_gpiozero_mock_factory(write_config):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    cfg = load_config(write_config("pi.yaml", locks=[_gpiozero_lock()], camera={"source": "0"}))
    old = Device.pin_factory
    Device.pin_factory = MockFactory()
    try:
        row = check_gpio(cfg, env={"GPIOZERO_PIN_FACTORY": "mock"}, chips=[])
    finally:
        Device.pin_factory.close()
        Device.pin_factory = old
    assert row.status == "pass" and "MockFactory" in row.detail


def _gpiozero_lock() -> dict:
    return {
        "id": "L1", "bay": "A1", "driver": "gpiozero",
        "motor": {"up": {"pin": 17}, "down": {"pin": 27}},
        "switches": {"down": {"pin": 5}, "up": {"pin": 6}},
    }


def test_broker_row_with_tls(write_config, camera_folder, models_dir, tls_broker, tls_material, tmp_path):
    """The configured CA and password connect; another CA, a wrong password or plain TCP each fail clearly."""
    from tests.events.conftest import DEVICE_PASSWORD, DEVICE_USER

    (tmp_path / "pw").write_text(DEVICE_PASSWORD + "\n")
    (tmp_path / "bad-pw").write_text("wrong\n")
    tls_url = tls_broker.url("mqtts")

    def broker_row(name: str, url: str, ca: Path | None, pw: str = "pw"):
        mqtt = {"enabled": True, "brokers": [url], "username": DEVICE_USER, "password_file": pw}
        if ca is not None:
            mqtt["tls"] = {"ca_file": str(ca)}
        cfg = load_config(write_config(name, perception={"models_dir": str(models_dir)}, mqtt=mqtt))
        return next(c for c in run_doctor(cfg, skip={"clock"}) if c.name.startswith("broker"))

    good = broker_row("good.yaml", tls_url, tls_material.ca)
    assert good.status == "pass" and "TLS" in good.detail and "user dev1" in good.detail, good
    other_ca = broker_row("ca.yaml", tls_url, tls_material.other_ca)
    assert other_ca.status == "fail" and "certificate verify failed" in other_ca.detail, other_ca
    wrong_pw = broker_row("pw.yaml", tls_url, tls_material.ca, pw="bad-pw")
    assert wrong_pw.status == "fail" and "refused" in wrong_pw.detail, wrong_pw
    plain = broker_row("plain.yaml", tls_broker.url("mqtt"), None)
    assert plain.status == "fail" and ("closed" in plain.detail or "CONNACK" in plain.detail), plain
    # ssl's "FileNotFoundError: [Errno 2] No such file or directory" named neither the key nor the file
    missing = broker_row("missing.yaml", tls_url, tmp_path / "no-ca.pem")
    assert missing.status == "fail" and missing.detail == f"mqtt.tls.ca_file: cannot read {tmp_path / 'no-ca.pem'} " \
        "(No such file or directory)", missing


def test_bay_view_row_names_the_bays_the_camera_shows_nothing_of(tmp_path):
    """Glare over one bay and a lens smudge over another: the agent would hold both bays unseen and keep
    their locks down, so the installer hears it from the doctor, per bay, from the frame the camera row read."""
    import cv2
    import numpy as np

    from edge_agent.ops.doctor import camera_rows
    from edge_agent.sim.scenario import EMPTY, scene_config
    from edge_agent.sim.synthetic import render

    frame = render(EMPTY)  # the simulator's textured car park, drawn on the bays' 960x540
    cfg = scene_config(str(tmp_path / "data"), camera={"source": str(tmp_path / "frames")})
    assert len(cfg.bays) == 2
    folder = tmp_path / "frames"
    folder.mkdir()

    def doctor_rows(image: np.ndarray) -> dict[str, object]:
        assert cv2.imwrite(str(folder / "000.png"), image)
        return {c.name: c for c in camera_rows(cfg)}

    clear = doctor_rows(frame)
    assert clear["camera"].status == "pass"
    assert clear["bay view"].status == "pass" and f"all {len(cfg.bays)} bays show texture" in clear["bay view"].detail

    first, second = cfg.bays[0], cfg.bays[1]
    blinded = frame.copy()
    sun = np.round(np.array(first.polygon)).astype(np.int32)
    cv2.fillPoly(blinded, [sun], (255, 255, 255))  # the sun in the lens over bay A, all but a strip of it
    x, y, w, h = cv2.boundingRect(sun)
    blinded[y:y + h // 4, x:x + w] = frame[y:y + h // 4, x:x + w]
    smudge = np.array(second.polygon, dtype=np.float64)  # a grey smudge on the lens, a little wider than bay B
    smudge = (smudge - smudge.mean(axis=0)) * 1.2 + smudge.mean(axis=0)
    cv2.fillPoly(blinded, [np.round(smudge).astype(np.int32)], (128, 128, 128))
    rows = doctor_rows(blinded)
    view = rows["bay view"]
    assert rows["camera"].status == "pass" and view.status == "fail"
    assert view.detail.startswith(f"2 of {len(cfg.bays)} bays cannot be seen — blank: ")
    assert "clean the lens" in view.detail and "main stream" not in view.detail
    burnt = re.search(rf"\b{first.id} (\d+)% burnt out or black", view.detail)
    assert burnt and 45 < int(burnt.group(1)) < 100, view.detail
    assert re.search(rf"\b{second.id} uniform \(grey spread 0\.\d, mean 128\)", view.detail), view.detail

    masked = frame.copy()  # the camera's own privacy mask over bay B's lower half: one exact grey, the rest seen
    bx, by, bw, bh = cv2.boundingRect(np.round(np.array(second.polygon)).astype(np.int32))
    masked[by + bh // 2:by + bh, bx:bx + bw] = 100
    view = doctor_rows(masked)["bay view"]
    assert view.status == "fail" and view.detail.startswith(f"1 of {len(cfg.bays)} bays cannot be seen — blank: ")
    painted = re.search(rf"\b{second.id} (\d+)% one exact grey level \(a privacy mask", view.detail)
    assert painted and 30 < int(painted.group(1)) < 60 and "privacy masks and on-screen text off" in view.detail, view.detail

    cv2.imwrite(str(folder / "000.png"), cv2.resize(frame, (640, 480)))  # another aspect ratio: no bay can be judged
    rows = {c.name: c for c in camera_rows(cfg)}
    assert rows["camera"].status == "fail" and rows["bay view"].status == "skip"
    assert "see the camera row" in rows["bay view"].detail


def test_bay_view_row_names_a_bay_too_few_camera_pixels_across(tmp_path):
    """A bay drawn far away, or a sub-stream scaled up to the bays' size: the doctor counts the camera's own
    pixels across each bay (the frame is read, not the config), and under 8 it names the bay."""
    import cv2

    from edge_agent.bays.blank import MIN_BAY_PX
    from edge_agent.ops.doctor import camera_rows
    from edge_agent.sim.scenario import EMPTY, scene_config
    from edge_agent.sim.synthetic import render

    base = scene_config(str(tmp_path / "data"))
    far = [[500.0, 260.0], [512.0, 260.0], [512.0, 280.0], [500.0, 280.0]]  # 12 x 20 px where the bays are drawn
    tiny = [[520.0, 260.0], [527.0, 260.0], [527.0, 280.0], [520.0, 280.0]]  # 7 px across as drawn
    bays = [{"id": "A", "polygon": base.bays[0].polygon}, {"id": "F", "polygon": far}, {"id": "G", "polygon": tiny}]
    folder = tmp_path / "frames"
    folder.mkdir()
    cfg = scene_config(str(tmp_path / "data"), camera={"source": str(folder)}, bays=bays, locks=[])
    frame = render(EMPTY)

    def view(width: int) -> str:
        cv2.imwrite(str(folder / "000.png"), cv2.resize(frame, (width, width * 9 // 16), interpolation=cv2.INTER_AREA))
        camera, bay_view = camera_rows(cfg)
        assert camera.status == "pass", camera.detail
        return f"{bay_view.status}: {bay_view.detail}"

    assert MIN_BAY_PX == 8
    drawn = view(960)  # F is 12 px across as drawn: seen
    assert drawn.startswith("fail: 1 of 3 bays cannot be seen — under 8 of the camera's pixels across: G 7.0 px. "
                            "A bay that small is guessed and its lock stays down: use the camera's main stream"), drawn
    half = view(480)  # the sub-stream: the same view at half the pixels, scaled up to the bays' 960x540
    assert half.startswith("fail: 2 of 3 bays cannot be seen — under 8 of the camera's pixels across: F 6.0 px, "
                           "G 3.5 px."), half
    big = view(1920)  # a bigger stream is read at the bays' size: G gains nothing
    assert big.startswith("fail: 1 of 3 bays cannot be seen — under 8 of the camera's pixels across: G 7.0 px."), big
    assert "main stream" in half


def test_a_file_run_refuses_is_a_bad_config_for_the_doctor(write_config, capsys):
    """A sink's misspelt event type stops `run` (exit 2); the doctor said "all checks passed or skipped" for the
    same file. Now it is a bad config here too: exit 2, the key named, before any check."""
    from edge_agent.cli import main

    sinks = [{"name": "a", "kind": "webhook", "url": "http://127.0.0.1:9/x", "events": ["violation_start"]}]
    cfg = write_config(notify={"sinks": sinks})
    assert main(["doctor", "--config", str(cfg), "--skip", "clock", "--skip", "camera"]) == 2
    captured = capsys.readouterr()
    assert "notify.sinks[0].events: violation_start: no such event type" in captured.err
    assert "CHECK" not in captured.out


def test_web_row_reads_the_session_key_file_as_run_does(write_config, tmp_path):
    """A key file written by hand that 0.4.0 read whole (``short`` then a long line: 48 characters) is refused by
    ``run`` since (the first line is the key); check-config and every row passed it, so an upgrade's restart was
    the first to say. The row uses the same reader as the page, and names the key."""
    from edge_agent.config.mqtt import SecretError
    from edge_agent.ops.doctor import check_web
    from edge_agent.web.auth import session_secret

    key = tmp_path / "session.key"
    cfg = load_config(write_config(web={"enabled": True, "session_secret_file": str(key)}))
    (key.parent / "users.txt").write_text("admin:$argon2id$x\n", encoding="utf-8")
    missing = check_web(cfg)
    assert (missing.status, missing.detail) == ("pass", f"session key {key} (none yet: written at the first start)")
    key.write_text("k" * 64 + "\n", encoding="utf-8")  # as 0.4.0 wrote it
    assert check_web(cfg).status == "pass"
    key.write_text("short\n" + "k" * 42 + "\n", encoding="utf-8")
    row = check_web(cfg)
    assert row.status == "fail" and row.detail.startswith("web.session_secret_file: ") and "5 characters" in row.detail
    with pytest.raises(SecretError, match="5 characters on its first line"):
        session_secret(key)  # what the page (run, review) does with the same file
    assert check_web(load_config(write_config())).status == "skip"


def test_web_row_warns_when_nobody_can_sign_in(write_config, tmp_path):
    """A first install started the page with no users file (deployment.md adds users after the start): every login
    was "wrong user name or password", and no row nor log line said why (probe newuser41)."""
    from edge_agent.ops.doctor import check_web

    path = write_config(web={"enabled": True})
    row = check_web(load_config(path))
    assert row.status == "warn", row
    assert f"no users in {tmp_path / 'users.txt'}: nobody can sign in" in row.detail
    assert f"edge-agent users add NAME --role admin --config {path}" in row.detail
    (tmp_path / "users.txt").write_text("# users\nana:$argon2id$x:reviewer\n", encoding="utf-8")
    assert check_web(load_config(path)).status == "pass"


def test_disk_row_passes_a_data_dir_the_first_run_makes(write_config, tmp_path):
    """`run` makes a missing data_dir (parents too): the row failed ("missing (install.sh creates it)", exit 1) on
    every installation by hand before the first start; a folder this user cannot make it in still fails."""
    from edge_agent.ops.doctor import check_disk

    fresh = load_config(write_config(data_dir=str(tmp_path / "new" / "data")))
    row = check_disk(fresh)
    assert row.status == "pass" and "not there yet: the first `run` makes it in" in row.detail, row
    assert not (tmp_path / "new").exists()  # the doctor makes nothing
    (tmp_path / "afile").write_text("x")
    blocked = load_config(write_config(data_dir=str(tmp_path / "afile" / "data")))
    row = check_disk(blocked)
    assert row.status == "fail" and "cannot make it in" in row.detail, row


def test_masks_row_names_the_bays_a_mask_covers(tmp_path):
    """``camera.masks`` over most of bay A (and a sliver of B's far edge): the row fails naming A, the share and the
    mask, as the agent holds A ``bay_overlay`` with its lock down; a mask clipping a bay only passes, naming it; and
    ``doctor`` lists the row with the camera's."""
    from edge_agent.ops.doctor import CHECKS, check_masks
    from edge_agent.sim.scenario import scene_config

    line = [[480, 190], [900, 190], [900, 205], [480, 205]]
    block = [[60, 220], [460, 220], [460, 530], [60, 530]]
    row = check_masks(scene_config(str(tmp_path), camera={"masks": [line, block]}))
    assert row.status == "fail" and "1 of 2 bays" in row.detail and "A 91% (masks[1])" in row.detail, row
    assert "B " not in row.detail and "bay_overlay" in row.detail
    row = check_masks(scene_config(str(tmp_path), camera={"masks": [line]}))
    assert row.status == "pass" and "B 2% (masks[0])" in row.detail and "A " not in row.detail, row
    assert check_masks(scene_config(str(tmp_path))).status == "skip"
    rows = CHECKS["camera"](scene_config(str(tmp_path), camera={"source": str(tmp_path / "none"), "masks": [block]}),
                            subprocess.run)
    assert [r.name for r in rows] == ["camera", "bay view", "masks"] and rows[2].status == "fail"


def test_disk_row_fails_what_run_refuses_as_planted(write_config, tmp_path):
    """A FIFO at ``events.jsonl`` or a link at ``evidence/evidence.db``: `run` and `review` refuse to start, exit 2,
    with a line that says "`edge-agent doctor` checks this"; the row passed (the upgrade's check before a restart
    said all was well)."""
    import os

    from edge_agent.ops.doctor import check_disk

    data = tmp_path / "data"
    (data / "evidence").mkdir(parents=True)
    cfg = load_config(write_config(data_dir=str(data)))
    (data / "events.jsonl").write_text("")
    assert check_disk(cfg).status == "pass"
    (data / "events.jsonl").unlink()
    os.mkfifo(data / "events.jsonl")
    (data / "evidence" / "evidence.db").symlink_to(tmp_path / "elsewhere.db")
    row = check_disk(cfg)
    assert row.status == "fail" and "events.jsonl (a FIFO)" in row.detail, row
    assert "evidence/evidence.db (a symbolic link)" in row.detail, row


def test_disk_row_fails_a_linked_outbox_outside_data_dir(write_config, tmp_path):
    """``mqtt.outbox.path`` outside ``data_dir`` made a link to the file on another disk (0.24.0 followed it): `run`
    refuses it, exit 2, and the row passed, so the upgrade's doctor before the restart said all was well (probe
    updown33). The row names it and the move that keeps the queued events; a FIFO there is to be removed."""
    import os

    from edge_agent.ops.doctor import check_disk

    data, keep = tmp_path / "data", tmp_path / "keep"
    data.mkdir()
    keep.mkdir()
    box = keep / "outbox.sqlite"
    cfg = load_config(write_config(data_dir=str(data), mqtt={"enabled": True, "outbox": {"path": str(box)}}))
    (tmp_path / "ssd.sqlite").write_bytes(b"")
    assert check_disk(cfg).status == "pass"  # no outbox yet
    box.symlink_to(tmp_path / "ssd.sqlite")
    row = check_disk(cfg)
    assert row.status == "fail" and f"{box} (a symbolic link)" in row.detail, row
    assert "move the file it leads to over the link" in row.detail, row
    box.unlink()
    os.mkfifo(box)
    row = check_disk(cfg)
    assert row.status == "fail" and f"{box} (a FIFO)" in row.detail and row.detail.endswith("remove it"), row
    box.unlink()
    box.write_bytes(b"")
    (keep / "outbox.sqlite-wal").symlink_to(tmp_path / "ssd.sqlite")
    assert "outbox.sqlite-wal (a symbolic link)" in check_disk(cfg).detail
    disabled = load_config(write_config(data_dir=str(data), mqtt={"enabled": False, "outbox": {"path": str(box)}}))
    assert check_disk(disabled).status == "pass"


def test_models_row_warns_of_bays_the_site_calibration_was_not_fitted_on(write_config, models_dir, tmp_path):
    """A site head learns the looks of the bays it was labelled on. On NORPark (never seen by the model), heads
    fitted on 10 of its 46 bays read 4.4 % of the other bays' cars p <= 0.3 (the lock's side; the shipped model
    0.7 %), while the same labels scored the labelled bays well: a bay added after "Use it" runs on a head that never
    saw it, and nothing said so. A file from before the bays were kept says nothing (unknown)."""
    import hashlib

    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.ops.doctor import check_models

    site_model = models_dir / "occupancy-site.onnx"
    n = BayClassifier.load(site_model).n_features
    cal = tmp_path / "data" / "occupancy-calibration.json"
    cal.parent.mkdir(exist_ok=True)
    doc = {"model": "occupancy-site.onnx", "model_sha256": hashlib.sha256(site_model.read_bytes()).hexdigest(),
           "head": {"w": [0.01] * n, "b": 0.0}, "occupied": 10, "empty": 10, "cv_accuracy_before": 0.83,
           "cv_accuracy_after": 0.97}
    bays = [{"id": "A1", "polygon": [[0, 0], [300, 0], [300, 400], [0, 400]]},
            {"id": "A2", "polygon": [[310, 0], [600, 0], [600, 400], [310, 400]]}]
    cfg = load_config(write_config(perception={"models_dir": str(models_dir)}, bays=bays,
                                   occupancy={"calibration": "occupancy-calibration.json"}))
    cal.write_text(json.dumps({**doc, "bays": ["A1"]}))
    row = check_models(cfg)
    assert row.status == "warn" and "not fitted on bay A2" in row.detail and "calibrate again" in row.detail, row
    cal.write_text(json.dumps({**doc, "bays": ["A1", "A2"]}))
    assert check_models(cfg).status == "pass"
    cal.write_text(json.dumps(doc))  # older file: its bays unknown
    assert check_models(cfg).status == "pass"
    cal.write_text(json.dumps({**doc, "bays": "A1"}))  # not a list: the agent refuses it, and so does the row
    assert check_models(cfg).status == "fail"


def test_a_check_named_with_a_dash_is_skipped_as_with_its_space(write_config, tmp_path):
    """``--skip service-sandbox`` / ``onnx_providers``: the names have a space, and the shell's way of writing one
    word was refused "unknown check(s)", exit 2 (probe newuser36)."""
    cfg = write_config()
    res = doctor(cfg, "--json", "--skip", "clock", "--skip", "service-sandbox", "--skip", "onnx_providers",
                 "--skip", "camera", "--skip", "models", "--skip", "disk")
    assert res.returncode in (0, 1) and "unknown check" not in res.stderr, res.stderr
    status = rows(res.stdout)
    assert status["service sandbox"] == status["onnx providers"] == "skip", status
    assert doctor(cfg, "--skip", "bogus").returncode == 2


def test_models_row_shows_a_camera_declared_under_one_light(write_config, models_dir):
    """``occupancy.steady_light`` is the installer's word, checked by nothing, that the bays see one light at every
    hour: with it the page offers a calibration from pictures of one hour, which on an outdoor camera reads many more
    cars empty at another hour (docs/occupancy.md). Nothing showed the key was set; the row now says so."""
    from edge_agent.ops.doctor import check_models

    plain = check_models(load_config(write_config(perception={"models_dir": str(models_dir)})))
    assert plain.status == "pass" and "steady_light" not in plain.detail, plain
    row = check_models(load_config(write_config(perception={"models_dir": str(models_dir)},
                                                occupancy={"steady_light": True})))
    assert row.status == "pass" and "occupancy.steady_light" in row.detail and "span" in row.detail, row


def test_models_row_fails_a_calibrated_site_without_the_model_an_uncalibrated_site_runs(write_config, models_dir,
                                                                                       tmp_path):
    """A calibrated site's raise needs ``occupancy.onnx`` to read the bay empty too, and `run` refuses a calibrated
    site whose models folder lacks it (``occupancy.calibration``, exit 2). The row loaded only the calibrated model
    and passed such a folder ("all files present"): `occupancy.onnx` is not in the fetched manifest, so nothing
    else looked for it. It fails now, as `run` does, and so does one that cannot be loaded."""
    import hashlib

    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.config.load import ConfigError
    from edge_agent.ops.doctor import check_models
    from edge_agent.runtime.models import default_classifier

    folder = tmp_path / "site-models"
    folder.mkdir()
    for f in models_dir.iterdir():
        if f.name != "occupancy.onnx":
            (folder / f.name).symlink_to(f)
    site_model = models_dir / "occupancy-site.onnx"
    cal = tmp_path / "data" / "occupancy-calibration.json"
    cal.parent.mkdir(exist_ok=True)
    cal.write_text(json.dumps({
        "model": "occupancy-site.onnx", "model_sha256": hashlib.sha256(site_model.read_bytes()).hexdigest(),
        "head": {"w": [0.01] * BayClassifier.load(site_model).n_features, "b": 0.0}, "occupied": 10, "empty": 10,
        "cv_accuracy_before": 0.83, "cv_accuracy_after": 0.97}))
    cfg = load_config(write_config(perception={"models_dir": str(folder)},
                                   occupancy={"calibration": "occupancy-calibration.json"}))
    with pytest.raises(ConfigError, match="occupancy.onnx not found"):
        default_classifier(cfg)  # what `run` does with it
    row = check_models(cfg)
    assert row.status == "fail" and f"{folder / 'occupancy.onnx'} (missing" in row.detail, row
    (folder / "occupancy.onnx").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="occupancy.calibration: .*occupancy.onnx cannot be loaded"):
        default_classifier(cfg)
    row = check_models(cfg)
    assert row.status == "fail" and "occupancy.onnx" in row.detail and "cannot be loaded" in row.detail, row
    (folder / "occupancy.onnx").unlink()
    (folder / "occupancy.onnx").symlink_to(models_dir / "occupancy.onnx")
    assert check_models(cfg).status == "pass"


def test_the_doctor_says_whether_the_camera_shows_the_view_the_site_calibration_was_labelled_on(tmp_path):
    """``run`` uses a site calibration only once a frame shows the view its labels were cut on (a data dir copied
    onto another camera, a camera turned since); the models row reads files alone and passed such a calibration,
    so the installer learnt it from the heartbeat after the start. The camera row's frame is compared with the
    calibration's pictures: real PKLot frames, the same lot another day (pass), seen mirrored (warn: other ground
    under the same outlines), and no frame (skip, said)."""
    import csv as csv_

    import cv2
    import numpy as np

    from edge_agent.bays.calibration import SiteCalibration, keep_views
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier
    from edge_agent.ops.doctor import camera_rows
    from edge_agent.sim.scenario import scene_config
    from tests.conftest import SHARED

    bays_dev = SHARED / "datasets" / "bays-dev"
    if not (bays_dev / "frames.csv").is_file():
        pytest.skip("../shared/datasets/bays-dev is not present (set EDGE_AGENT_SHARED in a worktree)")
    rows = list(csv_.DictReader((bays_dev / "frames.csv").open(encoding="utf-8")))
    files = sorted({r["file"] for r in rows})
    labelled, later = [cv2.imread(str(bays_dev / f)) for f in files[:25:6]], cv2.imread(str(bays_dev / files[-1]))
    polygons = {r["bay_id"]: json.loads(r["polygon"]) for r in rows if r["file"] == files[0]}
    site = BayClassifier.load(SITE_MODEL)
    views, width = keep_views(labelled, 1280)
    data = tmp_path / "data"
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name, bays=tuple(polygons),
                    outlines={b: tuple(map(tuple, p)) for b, p in polygons.items()}, views=views, view_width=width
                    ).save(data / "cal.json")
    folder = tmp_path / "frames"
    folder.mkdir()
    bays = [{"id": b, "polygon": p} for b, p in polygons.items()]
    cfg = scene_config(str(data), camera={"source": str(folder), "width": 1280, "height": 720}, bays=bays, locks=[],
                       occupancy={"calibration": "cal.json"})

    def row(image: np.ndarray | None) -> object:
        for f in folder.iterdir():
            f.unlink()
        if image is not None:
            assert cv2.imwrite(str(folder / "000.png"), image)
        return {c.name: c for c in camera_rows(cfg)}["calibration view"]

    own = row(later)
    assert own.status == "pass" and "shows the view" in own.detail, own.detail
    other = row(np.ascontiguousarray(later[:, ::-1]))
    assert other.status == "warn" and "under 0.15" in other.detail and "calibrate again" in other.detail, other.detail
    lost = row(None)
    assert lost.status == "skip" and "see the camera row" in lost.detail, lost.detail
    uncalibrated = scene_config(str(data), camera={"source": str(folder)})
    assert "calibration view" not in {c.name for c in camera_rows(uncalibrated)}  # no row without a calibration


def test_the_deployment_guide_names_every_row_the_doctor_prints(write_config, camera_folder, models_dir, closed_port):
    """docs/deployment.md's first-run step listed the doctor's rows without ``onnx providers``, ``commands`` and
    ``web certificate``: an operator reading it took a WARN on a row it never named for something else. The list
    (and the example table under "Doctor") must be the rows the doctor prints, in its order."""
    # every row shows: MQTT on (``commands``), a site calibration named (``calibration view``)
    cfg = load_config(write_config(perception={"models_dir": str(models_dir)},
                                   occupancy={"calibration": "occupancy-calibration.json"},
                                   mqtt={"enabled": True, "brokers": [f"mqtt://127.0.0.1:{closed_port}"]}))
    printed = list(dict.fromkeys("broker" if c.name.startswith("broker ") else c.name
                                 for c in run_doctor(cfg, skip={"clock"})))
    guide = (Path(__file__).parents[2] / "docs" / "deployment.md").read_text(encoding="utf-8")
    listed = re.search(r"one row\s+per check \(([^)]*)\)", guide)
    assert listed, "docs/deployment.md: the first run's doctor step lost its list of rows"
    assert [n.strip() for n in listed.group(1).split(",")] == printed, printed
    table = guide.split("\n## Doctor\n", 1)[1].split("```\nCHECK", 1)[1].split("```", 1)[0]
    shown = [re.split(r"\s{2,}", line)[0] for line in table.splitlines()[1:] if re.search(r"\s(PASS|WARN|FAIL|SKIP)\s", line)]
    assert list(dict.fromkeys("broker" if n.startswith("broker ") else n for n in shown)) == printed
    told = re.findall(r"^- \*\*([a-z ]+)\*\*", guide.split("\n## Doctor\n", 1)[1].split("\n## ", 1)[0], re.M)
    assert told == printed  # "The rows:" says what each one checks
