"""``edge-agent run`` as the shipped unit runs it, not as root in a temp dir (issue 15 §5).

An unprivileged user; the config directory root-owned and read-only to it (config 0640 like
``install.sh`` makes it); only the data dir writable. The installer page saves bays over HTTP,
a backend sets lists over MQTT (signed), the agent restarts, and both are still there. strace
records every file the agent creates, writes, renames or removes: each lies under the data dir
(or an API file system / the private /tmp the unit gets); and the unit's ReadWritePaths cover
the data dir of the configs a device ships with.
"""

from __future__ import annotations

import configparser
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import httpx
import pytest
import yaml

from edge_agent.config import load_config
from edge_agent.events.broker import free_port
from edge_agent.events.command_handler import sign_command
from edge_agent.sim.synthetic import BAYS, Scene, render
from edge_agent.web.auth import UsersFile
from tests.conftest import REPO
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import Subscriber, wait_until
from tests.runtime.as_user import skip_unless_it_can_import

UNIT = REPO / "deploy" / "edge-agent.service"
USER = "nobody"
KEY = "device-hmac-key-for-this-test"
PASSWORD = "agent-password"
PREFIX = "edge/s1/cam1"
# Where a ProtectSystem=strict, PrivateTmp=yes unit may write besides ReadWritePaths (systemd.exec(5)).
API_FS = ("/dev/", "/proc/", "/sys/", "/tmp/", "/var/tmp/")


def unit_writable_paths() -> list[str]:
    """ReadWritePaths and StateDirectory (under /var/lib) of the shipped unit."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    svc = parser["Service"]
    paths = svc.get("ReadWritePaths", "").split()
    paths += [f"/var/lib/{d}" for d in svc.get("StateDirectory", "").split()]
    return [p.lstrip("-") for p in paths]


def under(path: str, roots: list[str]) -> bool:
    return any(path == r.rstrip("/") or path.startswith(r.rstrip("/") + "/") for r in roots)


@pytest.mark.parametrize("example", ["rpi5-two-bays.yaml", "jetson.yaml"])
def test_the_unit_may_write_where_a_shipped_config_keeps_its_data(example):
    """Static half: the data dir (and any explicit state path) of a device config is writable by the unit."""
    cfg = load_config(REPO / "config" / example)
    allowed = unit_writable_paths()
    assert "ProtectSystem=strict" in UNIT.read_text() and allowed
    state = [cfg.data_dir, cfg.mqtt.outbox.path, cfg.web.session_secret_file]
    for p in filter(None, state):
        assert under(str(Path(p)), allowed), f"{example}: {p} is outside the unit's ReadWritePaths {allowed}"


# -- the dynamic half ------------------------------------------------------------------------------
_WRITE_CALLS = re.compile(
    r'^(\d+) +(openat|open|creat|mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|link|linkat|symlink|'
    r'symlinkat|truncate|chmod|fchmodat|chown|fchownat|utimensat)\((.*)\) = (\d+)')


def written_paths(trace: Path, cwd: Path) -> set[str]:
    """Every path a successful file-changing syscall named in an ``strace -f`` log."""
    out: set[str] = set()
    for line in trace.read_text(errors="replace").splitlines():
        m = _WRITE_CALLS.match(line)
        if not m:
            continue
        call, args = m.group(2), m.group(3)
        if call in ("openat", "open") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", args):
            continue
        if call == "utimensat" and '"' not in args:
            continue
        for p in re.findall(r'"((?:[^"\\]|\\.)*)"', args):
            out.add(os.path.normpath(p if p.startswith("/") else os.path.join(cwd, p)))
    return out


def _ids() -> tuple[int, int]:
    pw = pwd.getpwnam(USER)
    return pw.pw_uid, pw.pw_gid


@pytest.fixture
def installed(tmp_path_factory):
    """A device layout under a fresh root-owned dir: etc/ (config, users, HMAC key: root, 0640, the
    agent's group), var-lib/ (the data dir: the agent's own), frames/ (the camera)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the agent as another user")
    if not shutil.which("setpriv") or not shutil.which("strace"):
        pytest.skip("setpriv and strace are needed")
    try:
        uid, gid = _ids()
    except KeyError:
        pytest.skip(f"no user {USER}")
    skip_unless_it_can_import(uid, gid, REPO, USER)
    group = grp.getgrgid(gid).gr_name
    root = Path(tempfile.mkdtemp(prefix="edge-installed-"))
    os.chmod(root, 0o755)
    etc, data, frames = root / "etc", root / "var-lib", root / "frames"
    frames.mkdir()
    empty = render(Scene())
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:04d}.jpg"), empty)
    etc.mkdir(mode=0o750)
    os.chown(etc, 0, gid)
    data.mkdir(mode=0o750)
    os.chown(data, uid, gid)
    yield root, etc, data, frames, uid, gid, group
    shutil.rmtree(root, ignore_errors=True)


def _config(etc: Path, data: Path, frames: Path, port: int, web_port: int, gid: int, models: Path) -> Path:
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(frames), "fps": 4, "width": 960, "height": 540, "loop": True},
        "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
        "lists": {"allow": ["粤BD00001"]},
        "mqtt": {"enabled": True, "brokers": [f"mqtt://127.0.0.1:{port}"], "hmac_secret_file": "hmac.key"},
        "web": {"enabled": True, "port": web_port, "language": "en"},
        "perception": {"models_dir": str(models)},
        "data_dir": str(data),
    }
    files = {
        "config.yaml": "# operator's config: root-owned, 0640\n" + yaml.safe_dump(cfg, allow_unicode=True),
        "hmac.key": KEY + "\n",
    }
    for name, text in files.items():
        (etc / name).write_text(text, encoding="utf-8")
    UsersFile(etc / "users.txt").set("admin", PASSWORD)
    for name in (*files, "users.txt"):
        os.chown(etc / name, 0, gid)
        os.chmod(etc / name, 0o640)
    return etc / "config.yaml"


class Running:
    """The agent under strace, as the unprivileged user, in the data dir (WorkingDirectory)."""

    def __init__(self, config: Path, data: Path, trace: Path, uid: int, gid: int) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), "HOME": "/nonexistent",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
        self.log = open(trace.with_suffix(".out"), "w")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=%file", "--",
             "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
             sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
            cwd=data, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.output = trace.with_suffix(".out")

    def agent_pid(self) -> int:
        def child() -> int | None:
            try:
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            except OSError:
                return None
            return int(kids[0]) if kids else None
        return wait_until(child, 20, "the agent process under strace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.agent_pid(), signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()
        return rc


def _login(url: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=url, timeout=30)
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok})
    assert r.status_code in (200, 303), r.text[:300]
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/installer").text).group(1)
    return c, tok


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _ask(backend: Subscriber, name: str, body: dict) -> dict:
    corr = f"{name}-{time.monotonic_ns()}".encode()
    backend.request(f"{PREFIX}/cmd/{name}", body, "backend/replies", corr)
    return backend.wait_for("backend/replies", lambda m: m.props.CorrelationData == corr, timeout=30).json()


def _snapshot(backend: Subscriber, bay: str) -> dict:
    """A signed snapshot of ``bay``, asked again while the camera has no frame yet (just started)."""
    def ask() -> dict | None:
        r = _ask(backend, "snapshot", sign_command("snapshot", {"ts": _now(), "bay": bay}, KEY.encode()))
        return None if r["code"] == "no_frame" else r
    return wait_until(ask, 60, f"a snapshot of bay {bay}")


@pytest.mark.broker
def test_run_as_an_unprivileged_user_keeps_installer_bays_and_mqtt_lists_across_a_restart(
        installed, broker, models_dir):  # noqa: F811
    root, etc, data, frames, uid, gid, _ = installed
    web_port = free_port()
    config = _config(etc, data, frames, broker.port, web_port, gid, models_dir)
    original = config.read_bytes()
    url = f"http://127.0.0.1:{web_port}"
    backend = Subscriber(broker.port, ["backend/#", f"{PREFIX}/status"]).start()
    new_bays = {"A": [[30, 300], [400, 300], [400, 530], [30, 530]], "C": [[500, 40], [700, 40], [700, 200]]}
    lists = sign_command("set-lists", {"ts": _now(), "allow": ["粤B12345", "京AD12345"], "deny": ["京A12345"]},
                         KEY.encode())
    try:
        # -- first run: save bays from the installer page, lists over MQTT -----------------------------
        agent = Running(config, data, root / "trace1.log", uid, gid)
        try:
            wait_until(lambda: any(m.json()["state"] == "online" for m in backend.on(f"{PREFIX}/status")), 90,
                       "the agent online on MQTT")
            wait_until(lambda: _up(url), 60, "the review page")
            client, tok = _login(url)
            r = client.post("/installer", headers={"X-CSRF-Token": tok},
                            json={"bays": [{"id": k, "polygon": v} for k, v in new_bays.items()]})
            assert r.status_code == 200 and r.json()["ok"], r.text
            assert r.json()["reload"]["ok"], r.json()
            reply = _ask(backend, "set-lists", lists)
            assert reply["ok"] and reply["data"]["saved"] is True, reply
            assert _snapshot(backend, "C")["ok"]
        finally:
            assert agent.stop() == 0, agent.output.read_text()[-3000:]
        assert config.read_bytes() == original  # the operator's file: never written (and it cannot be)
        assert (data / "overrides.yaml").stat().st_uid == uid

        # -- second run: both kept; the old signed command is still a replay ---------------------------
        online_before = len([m for m in backend.on(f"{PREFIX}/status") if m.json()["state"] == "online"])
        agent = Running(config, data, root / "trace2.log", uid, gid)
        try:
            wait_until(lambda: len([m for m in backend.on(f"{PREFIX}/status") if m.json()["state"] == "online"])
                       > online_before, 90, "the restarted agent online")
            snap = _snapshot(backend, "C")
            assert snap["ok"], snap  # bay C exists only through the installer's save
            gone = _snapshot(backend, "B")
            assert gone["code"] == "unknown_bay"
            assert _ask(backend, "set-lists", lists)["code"] == "replay"
            wait_until(lambda: _up(url), 60, "the review page")
            client, _ = _login(url)
            page = client.get("/installer").text
            assert all(f'"{k}"' in page for k in new_bays) and '"B"' not in page
        finally:
            assert agent.stop() == 0, agent.output.read_text()[-3000:]
        assert f"apply from {data / 'overrides.yaml'}" in agent.output.read_text()
    finally:
        backend.stop()

    cfg = load_config(config)
    assert [b.id for b in cfg.bays] == ["A", "C"]
    assert (sorted(cfg.lists.allow), cfg.lists.deny) == (sorted(["粤B12345", "京AD12345"]), ["京A12345"])
    assert not [p for p in etc.iterdir() if p.name not in ("config.yaml", "hmac.key", "users.txt")]

    # -- every path written lies under the data dir (the unit's ReadWritePaths) or an API fs / private tmp
    written = written_paths(root / "trace1.log", data) | written_paths(root / "trace2.log", data)
    assert any(p.endswith("/overrides.yaml") for p in written) and any("command-replay" in p for p in written)
    outside = sorted(p for p in written if not under(p, [str(data)])
                     and (under(p, [str(root)]) or not p.startswith(API_FS)))  # root itself lies in /tmp
    assert not outside, outside


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
