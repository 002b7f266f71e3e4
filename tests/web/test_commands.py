"""``edge-agent users`` and ``edge-agent review`` as a person runs them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

from edge_agent.cli import main
from edge_agent.web.auth import UsersFile
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)


def test_users_add_list_remove(site, tmp_path, capsys):
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-enough\n")
    cfg = str(site.config_path)
    assert main(["users", "add", "li.wei", "--config", cfg, "--password-file", str(pw)]) == 0
    assert "li.wei (admin): saved in" in capsys.readouterr().out
    users = UsersFile(site.root / "users.txt")
    assert users.verify("li.wei", "s3cret-enough") and not users.verify("li.wei", "wrong")
    assert users.load()["li.wei"].startswith("$argon2id$")
    st = os.stat(users.path)  # readable by the folder's group (the agent's), by nobody else
    assert oct(st.st_mode & 0o777) == "0o640" and st.st_gid == os.stat(users.path.parent).st_gid
    assert main(["users", "list", "--config", cfg]) == 0
    assert capsys.readouterr().out.split() == ["admin", "admin", "li.wei", "admin"]  # name, role
    pw.write_text("short\n")
    assert main(["users", "add", "bob", "--config", cfg, "--password-file", str(pw)]) == 2
    assert "at least 8" in capsys.readouterr().err
    assert main(["users", "remove", "li.wei", "--config", cfg]) == 0
    assert main(["users", "remove", "li.wei", "--config", cfg]) == 1
    assert "li.wei" not in users.load()


def test_users_add_or_remove_without_the_right_to_write_is_one_line(site, tmp_path, capsys):
    """``users add`` without ``sudo`` on ``/etc/edge-agent``, or a users file under a file, was a traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    doc = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    doc.setdefault("web", {})["users_file"] = str(blocker / "users.txt")
    cfg = tmp_path / "blocked.yaml"
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-enough\n")
    assert main(["users", "add", "li.wei", "--config", str(cfg), "--password-file", str(pw)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"web.users_file {blocker}/users.txt: cannot write (") and "nothing changed" in err, err
    assert blocker.read_text() == "not a folder"


def test_users_with_a_bad_config_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {site_id: x}\n")
    assert main(["users", "list", "--config", str(bad)]) == 2
    assert "site.device_id" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_review_serves_the_stored_evidence(site):
    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    port = _free_port()
    data["web"]["port"] = port
    site.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "review", "--config", str(site.config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # a real subprocess: poll until it listens (never asserts on the time it took)
            try:
                httpx.get(base + "/login")
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        with httpx.Client(base_url=base) as c:
            tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": "admin", "password": "correct horse battery", "csrf": tok})
            html = c.get("/violations").text
            assert "共 7 条" in html and "粤B11111" in html
            # the installer takes a fresh picture from the camera folder
            snap = re.search(r'id="snap" src="(/evidence/[^"]+)"', c.get("/installer").text).group(1)
            assert c.get(snap).content[:2] == b"\xff\xd8"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_default_users_file_lives_beside_the_config(site, tmp_path, monkeypatch):
    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    del data["web"]  # all defaults
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "agent.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    pw = tmp_path / "pw"
    pw.write_text("long enough pw\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # not the config's folder
    assert main(["users", "add", "ops", "--config", str(folder / "agent.yaml"), "--password-file", str(pw)]) == 0
    assert UsersFile(folder / "users.txt").verify("ops", "long enough pw")
    assert list(cwd.iterdir()) == []


def test_review_without_users_says_how_to_add_one(site, capsys):
    (site.root / "users.txt").unlink()
    assert main(["review", "--config", str(site.config_path)]) == 2
    err = capsys.readouterr().err
    assert "no users in" in err and "edge-agent users add NAME --config" in err


def test_review_mode_never_shows_the_camera_source_and_refuses_confirm(tmp_path):
    """An RTSP source carries the camera's password; review mode's "no frame" message reached the installer
    page and the log with it. Confirming the view needs the running agent: a refusal, not an AttributeError."""
    from edge_agent.clock import FakeClock
    from edge_agent.control import ControlError
    from edge_agent.perception.lists import PlateLists
    from edge_agent.sim.scenario import scene_config
    from edge_agent.web.offline import OfflineControl

    cfg = scene_config(str(tmp_path / "data"))
    cfg.camera.source = str(tmp_path / "admin:S3cretPw@cam" / "missing.mp4")  # opens nothing, at once
    control = OfflineControl(cfg, None, PlateLists([], []), FakeClock())
    with pytest.raises(ControlError) as err:
        control.snapshot(None)
    assert "S3cretPw" not in str(err.value) and "camera.source" in str(err.value)
    result = control.confirm_camera()
    assert not result.ok and "review mode" in result.message


def test_review_with_its_port_out_of_range_or_taken_is_one_line_and_exit_2(site, capsys):
    """``--port 70000`` (and ``--host 'h ost'``) reached the config model's validation and ended in its traceback;
    a port in use was exit 1 with the errno twice."""
    for port in ("70000", "-1"):
        with pytest.raises(SystemExit) as exc:
            main(["review", "--config", str(site.config_path), "--port", port])
        assert exc.value.code == 2
        assert f"argument --port: a port is 0 to 65535, not {port}" in capsys.readouterr().err
    for host in ("h ost", "-"):  # --host 'h ost' was the config model's traceback too
        with pytest.raises(SystemExit) as exc:
            main(["review", "--config", str(site.config_path), f"--host={host}"])
        assert exc.value.code == 2
        assert f"argument --host: '{host}' is not a host name or IP address" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert main(["review", "--config", str(site.config_path), "--host", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"review: web.host / web.port: cannot listen on 127.0.0.1:{port} (Address already in use)\n"


def test_users_add_with_nothing_to_read_a_password_from_is_one_line(site):
    """No terminal and stdin closed (a provisioning script): ``getpass`` raised ``EOFError``, a traceback."""
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "users", "add", "ops", "--config",
                           str(site.config_path)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, start_new_session=True)  # no controlling terminal: getpass reads stdin
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().endswith("ops: no password typed (stdin closed): give one with --password-file "
                                        "FILE ('-': stdin)")


def device_etc(site, request) -> tuple[Path, object]:
    """``/etc/edge-agent`` as ``install.sh`` makes it: ``root:<the agent's group>`` 0750, the config inside (its users
    file beside it), and the agent's account (``nobody`` here)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as the installer and another user to act as the agent")
    import pwd

    agent = pwd.getpwnam("nobody")
    root = Path(tempfile.mkdtemp(prefix="edge-users-"))  # pytest's own tmp folders are private to root
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    root.chmod(0o755)
    etc = root / "etc-edge-agent"
    etc.mkdir()
    os.chown(etc, 0, agent.pw_gid)
    etc.chmod(0o750)
    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    data["web"]["users_file"] = "users.txt"
    (etc / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return etc, agent


def agent_verifies(agent, users: Path, name: str, password: str) -> bool:  # noqa: ANN001 - pwd.struct_passwd
    """The agent's view: a child process with the agent's user and group only (no exec, so no
    interpreter the user may not read is needed)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            os.setgroups([])
            os.setgid(agent.pw_gid)
            os.setuid(agent.pw_uid)
            ok = UsersFile(users).verify(name, password)
        finally:
            os._exit(0 if ok else 1)
    return os.waitpid(pid, 0)[1] == 0


def test_users_added_by_root_stay_readable_by_the_agent(site, tmp_path, request):
    """On a device ``sudo edge-agent users add`` writes ``/etc/edge-agent/users.txt`` (beside the config, a
    ``root:edge-agent`` 0750 folder) and the agent reads it as its own user through that group. The file was
    ``root:root`` 0600, and every login of the running agent was a PermissionError (HTTP 500)."""
    import grp

    etc, agent = device_etc(site, request)
    group = grp.getgrgid(agent.pw_gid).gr_name
    pw = tmp_path / "pw"
    pw.write_text("long enough pw\n")
    assert main(["users", "add", "ops", "--config", str(etc / "config.yaml"), "--password-file", str(pw)]) == 0
    assert agent_verifies(agent, etc / "users.txt", "ops", "long enough pw"), f"group {group} cannot read the users file"
    st = os.stat(etc / "users.txt")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, agent.pw_gid, 0o640)
    # a rewrite keeps what the installer chose (here: the agent's own file, 0600)
    os.chown(etc / "users.txt", agent.pw_uid, agent.pw_gid)
    (etc / "users.txt").chmod(0o600)
    assert main(["users", "add", "li", "--config", str(etc / "config.yaml"), "--password-file", str(pw)]) == 0
    st = os.stat(etc / "users.txt")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (agent.pw_uid, agent.pw_gid, 0o600)
    assert agent_verifies(agent, etc / "users.txt", "li", "long enough pw")


def test_a_root_only_users_file_of_an_older_release_becomes_readable_by_the_agent(site, tmp_path, request):
    """Releases before the fix above left ``users.txt`` ``root:root`` 0600 on every device where users were added
    with ``sudo``. After an upgrade that file was still unreadable to the agent (every login HTTP 500), and
    ``users add`` kept its owner, group and mode, so adding or re-adding a user never mended it. A file only
    root may read is no choice anyone made for the agent: a rewrite gives it the folder's group, as a first file."""
    from argon2 import PasswordHasher

    etc, agent = device_etc(site, request)
    users = etc / "users.txt"
    users.write_text(f"alice:{PasswordHasher().hash('alices old password')}\n", encoding="utf-8")  # 0.1.0's line
    os.chown(users, 0, 0)
    users.chmod(0o600)
    assert not agent_verifies(agent, users, "alice", "alices old password")  # what the upgraded device met
    pw = tmp_path / "pw"
    pw.write_text("long enough pw\n")
    assert main(["users", "add", "bob", "--role", "reviewer", "--config", str(etc / "config.yaml"),
                 "--password-file", str(pw)]) == 0
    st = os.stat(users)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, agent.pw_gid, 0o640)
    assert agent_verifies(agent, users, "alice", "alices old password")
    assert agent_verifies(agent, users, "bob", "long enough pw")


def test_review_as_root_refuses_a_data_dir_of_the_agent(tmp_path):
    """``sudo edge-agent review`` on a device made the evidence database and the session key as root in the
    agent's data dir; the agent's next start failed (``attempt to write a readonly database``, then the key's
    ``Permission denied``). Refused with the command to run instead, before anything is made."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import pwd

    from tests.web.conftest import write_config

    config = write_config(tmp_path)
    data = Path(yaml.safe_load(config.read_text(encoding="utf-8"))["data_dir"])
    data.mkdir(parents=True, exist_ok=True)
    agent = pwd.getpwnam("nobody")
    os.chown(data, agent.pw_uid, agent.pw_gid)
    UsersFile(tmp_path / "users.txt").set("admin", "long enough pw")
    before = sorted(data.rglob("*"))
    res = subprocess.run([sys.executable, "-m", "edge_agent", "review", "--config", str(config), "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "belongs to nobody" in res.stderr and "sudo -u nobody edge-agent review --config" in res.stderr
    assert sorted(data.rglob("*")) == before  # nothing made as root


def test_users_add_on_a_full_disk_leaves_the_file_and_no_scratch_copy(site, tmp_path, capsys, tiny_disk):  # noqa: F811
    """ENOSPC while rewriting the users file: the old file stands, one line, and no partial ``users.txt.tmp``
    of password hashes is left beside it (one was, world-readable under a 022 umask)."""
    from tests.tmpfs import fill

    disk = tiny_disk(1)
    doc = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    doc.setdefault("web", {})["users_file"] = str(disk / "users.txt")
    cfg = tmp_path / "full.yaml"
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-enough\n")
    assert main(["users", "add", "li.wei", "--config", str(cfg), "--password-file", str(pw)]) == 0
    before = (disk / "users.txt").read_bytes()
    fill(disk)
    capsys.readouterr()
    assert main(["users", "add", "wang.fang", "--config", str(cfg), "--password-file", str(pw)]) == 2
    err = capsys.readouterr().err
    assert "cannot write (No space left on device)" in err and "nothing changed" in err, err
    assert (disk / "users.txt").read_bytes() == before
    assert sorted(p.name for p in disk.iterdir()) == ["filler.bin", "users.txt"]


def test_review_on_a_read_only_data_dir_is_one_line(site, tmp_path, capsys):
    """A backup on a read-only mount (or a card the kernel turned read-only) reviewed: was a traceback on the
    session key (OSError: Read-only file system), exit 1."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        doc = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
        doc["data_dir"] = str(ro)
        doc.setdefault("web", {})["users_file"] = str(site.root / "users.txt")
        cfg = tmp_path / "ro.yaml"
        cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        assert main(["review", "--config", str(cfg), "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"review: data_dir {ro}: not writable (Read-only file system)") and \
            "review a copy in a writable folder" in err and err.count("\n") == 1, err
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_review_with_a_session_key_file_that_holds_no_key_is_one_line_and_the_file_kept(site, capsys):
    """``web.session_secret_file`` naming a binary key (``head -c 32 /dev/urandom``) was a UnicodeDecodeError
    traceback at every start of ``review`` and ``run``."""
    key = site.root / "secret.key"
    key.write_bytes(b"\x8f\x00\xfe" * 16)
    key.chmod(0o600)  # a secret as it should be kept: the one line is the error, not the mode warning
    assert main(["review", "--config", str(site.config_path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"review: web.session_secret_file: {key} is not UTF-8 text") and err.count("\n") == 1, err
    assert key.read_bytes() == b"\x8f\x00\xfe" * 16


def test_a_password_file_that_is_not_text_or_a_closed_stdin_is_one_line(site, tmp_path, capsys, monkeypatch):
    """``--password-file key.bin`` was a UnicodeDecodeError traceback and ``--password-file - <&-`` a TypeError
    one; each is one line, exit 2, nobody added."""
    cfg = str(site.config_path)
    key = tmp_path / "key.bin"
    key.write_bytes(b"\xff\xfe p\x00w\x00")
    assert main(["users", "add", "li.wei", "--config", cfg, "--password-file", str(key)]) == 2
    assert capsys.readouterr().err == f"cannot read the password file: {key} is not UTF-8 text\n"
    monkeypatch.setattr(sys, "stdin", None)  # what Python gives a process started with stdin closed
    assert main(["users", "add", "li.wei", "--config", cfg, "--password-file", "-"]) == 2
    assert "li.wei: no password typed (stdin closed)" in capsys.readouterr().err
    assert "li.wei" not in UsersFile(site.root / "users.txt").load()


def test_a_users_file_that_cannot_be_read_is_one_line_naming_it(site, tmp_path, capsys):
    """A users file that is not text (a UTF-16 copy), or a folder, made ``users list`` / ``add`` / ``review``
    end in a traceback; each says ``web.users_file PATH: why``, exit 2, and the file is left as it was."""
    doc = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    for name, make in (("utf16.txt", lambda p: p.write_bytes("admin:x\n".encode("utf-16"))), ("dir", Path.mkdir)):
        users = tmp_path / name
        make(users)
        doc.setdefault("web", {})["users_file"] = str(users)
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        why = "not UTF-8 text" if name != "dir" else "Is a directory"
        for argv in (["users", "list"], ["users", "remove", "admin"], ["review", "--port", "0"]):
            assert main([*argv, "--config", str(cfg)]) == 2, argv
            err = capsys.readouterr().err
            assert err.startswith(("", "review: ")[argv[0] == "review"] + f"web.users_file {users}: {why}"), err
            assert "Traceback" not in err
        assert main(["users", "add", "li.wei", "--config", str(cfg), "--password-file", "/dev/null"]) == 2
        assert capsys.readouterr().err.startswith(f"web.users_file {users}: {why}")
    assert (tmp_path / "utf16.txt").read_bytes() == "admin:x\n".encode("utf-16")


def test_two_users_add_at_once_keep_both_users(tmp_path, monkeypatch):
    """``users add alice & users add bob`` (a provisioning script) each read the file, hashed, wrote it back:
    the later write dropped the other's user (10 of 10 runs in two threads), or its rename failed on the
    other's shared scratch file. The read-change-write now holds the folder's ``flock``, as the overrides' does:
    probed here from another descriptor, which must find it taken while the file is read."""
    import fcntl

    users = UsersFile(tmp_path / "etc" / "users.txt")
    users.set("admin", "s3cret-enough")
    probes = []
    real = UsersFile.entries

    def entries(self):  # noqa: ANN001, ANN202
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            probes.append("free")
        except BlockingIOError:
            probes.append("held")
        finally:
            os.close(fd)
        return real(self)

    monkeypatch.setattr(UsersFile, "entries", entries)
    users.set("li.wei", "s3cret-enough")
    assert users.remove("admin")
    assert probes == ["held", "held"]
    monkeypatch.undo()
    assert list(users.load()) == ["li.wei"]


def test_a_password_file_without_a_line_end_is_refused_not_read_for_ever(site, tmp_path, capsys):
    """``--password-file /dev/zero`` (or a disk image) has no line end: readline read until memory ran out. The first
    line is read up to what the login form takes (1024 characters); longer is one line, exit 2, nothing saved."""
    cfg = str(site.config_path)
    assert main(["users", "add", "zed", "--config", cfg, "--password-file", "/dev/zero"]) == 2
    err = capsys.readouterr().err
    assert "/dev/zero: its first line is over 1024 characters" in err, err
    assert "zed" not in UsersFile(site.root / "users.txt").load()
    pw = tmp_path / "pw.txt"
    pw.write_text("x" * 1024 + "\n")  # the longest the form takes is still fine
    assert main(["users", "add", "zed", "--config", cfg, "--password-file", str(pw)]) == 0
    assert UsersFile(site.root / "users.txt").verify("zed", "x" * 1024)


def test_a_user_name_with_a_line_end_is_refused_and_the_file_kept(site, tmp_path, capsys):
    """``users add $'rev\\n'`` (a name read from a file or a form with its line end): the name check's ``$`` matched
    before the line end, so it wrote a line ``rev`` (no hash) and a line ``:HASH``, an admin with no name,
    and said "saved"; ``rev``'s password was never set."""
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-enough\n")
    users = UsersFile(site.root / "users.txt")
    before = users.path.read_bytes()
    for name in ("rev\n", "rev\r\n", "\nrev"):
        assert main(["users", "add", name, "--config", str(site.config_path), "--password-file", str(pw)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(repr(name) + ": user names use") and err.count("\n") == 1
    assert users.path.read_bytes() == before
    assert "" not in users.entries()


def test_a_host_or_variable_name_with_a_line_end_is_refused(tmp_path):
    from edge_agent.config.hosts import host_problem
    from edge_agent.config.mqtt import _env_name

    assert host_problem("edge-broker") is None and host_problem("edge-broker\n") is not None
    assert _env_name("EDGE_HMAC") == "EDGE_HMAC"
    with pytest.raises(ValueError, match="not an environment variable name"):
        _env_name("EDGE_HMAC\n")


def test_users_list_with_no_users_file_says_where_it_looked(tmp_path, capsys):
    """``users list`` on a config whose users file does not exist (a relative ``users_file``, the wrong config, none
    added yet) printed nothing, exit 0: an operator could not tell an empty list from a wrong file (newuser37)."""
    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: {site_id: s, device_id: d}\ncamera: {source: x}\nbays: [{id: A, polygon: [[0, 0], [9, 0], "
                   "[9, 9]]}]\nweb: {users_file: users.txt}\n")
    assert main(["users", "list", "--config", str(cfg)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and f"no users in {tmp_path / 'users.txt'}: add one with `edge-agent users add" in out.err


def test_the_agents_page_with_no_users_says_so_at_its_start(site, caplog):
    """``run`` started the page of a first install (deployment.md adds users after the start) with no users: every
    login was "wrong user name or password", and the journal said nothing why (probe newuser41). ``review``
    refuses such a start; ``run``'s page, which lives for the locks' sake, says it once."""
    import logging

    (site.root / "users.txt").unlink()
    with caplog.at_level(logging.WARNING, logger="edge_agent.web.app"):
        site.app()
    said = [r.getMessage() for r in caplog.records if "nobody can sign in" in r.getMessage()]
    assert said == [f"review page: no users in {site.root / 'users.txt'}: nobody can sign in; add one with "
                    f"`edge-agent users add NAME --role admin --config {site.config_path}`"], caplog.text
    caplog.clear()
    UsersFile(site.root / "users.txt").set("admin", "a-long-password")
    with caplog.at_level(logging.WARNING, logger="edge_agent.web.app"):
        site.app()
    assert "nobody can sign in" not in caplog.text
