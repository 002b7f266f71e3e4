"""deploy/install.sh: shellcheck-clean; ``--dry-run`` into a temp prefix prints every step and changes nothing."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "install.sh"
EXAMPLE = REPO / "config" / "rpi5-two-bays.yaml"


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    res = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


@pytest.fixture
def example(tmp_path) -> Path:
    """The Pi example config once it exists; until then a stand-in so the plan can still be checked."""
    if EXAMPLE.is_file():
        return EXAMPLE
    stand_in = tmp_path / "rpi5-two-bays.yaml"
    stand_in.write_text("site: {site_id: s, device_id: d}\n")
    return stand_in


def dry_run(prefix: Path, example: Path, *extra: str) -> list[str]:
    res = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--prefix", str(prefix), "--config-example", str(example), *extra],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.splitlines()


def commands(lines: list[str]) -> list[list[str]]:
    return [shlex.split(ln.strip()[2:]) for ln in lines if ln.strip().startswith("$ ")]


def test_dry_run_prints_every_step_in_order_and_touches_nothing(tmp_path, example):
    prefix = tmp_path / "root"
    cmds = commands(dry_run(prefix, example))
    flat = [" ".join(c) for c in cmds]

    def index(fragment: str) -> int:
        hits = [i for i, c in enumerate(flat) if fragment in c]
        assert hits, f"no step containing {fragment!r} in:\n" + "\n".join(flat)
        return hits[0]

    order = [
        "apt-get install",
        "useradd --system" if _user_missing() else "usermod --append --groups gpio,video edge-agent",
        f"install -d -m 0750 -o edge-agent -g edge-agent {prefix}/var/lib/edge-agent",
        f"python3 -m venv {prefix}/opt/edge-agent/venv",
        f"pip install -q --disable-pip-version-check --upgrade {REPO}[pi]",
        f"edge-agent models fetch --dir {prefix}/opt/edge-agent/models",
        f"install -m 0640 -o root -g edge-agent {example} {prefix}/etc/edge-agent/config.yaml",
        f"edge-agent check-config {prefix}/etc/edge-agent/config.yaml",
        f"install -m 0644 {REPO}/deploy/edge-agent.service {prefix}/etc/systemd/system/edge-agent.service",
        "systemctl enable edge-agent.service",
        f"runuser -u edge-agent -- {prefix}/opt/edge-agent/venv/bin/edge-agent doctor --config {prefix}/etc/edge-agent/config.yaml",
    ]
    positions = [index(f) for f in order]
    assert positions == sorted(positions)
    apt = next(c for c in cmds if "apt-get" in c and "install" in c)
    assert {"python3-venv", "liblgpio-dev"} <= set(apt)
    assert not prefix.exists()  # a dry run creates nothing


def shipped_models() -> list[str]:
    """The model files committed in models/ (the manifest's files are fetched from wheels, not committed)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    res = subprocess.run(["git", "-C", str(REPO), "ls-files", "models"], capture_output=True, text=True, check=True)
    names = sorted(Path(p).name for p in res.stdout.split() if p.endswith(".onnx"))
    assert "occupancy.onnx" in names
    return names


@pytest.mark.parametrize("flags", [(), ("--no-models",)])
def test_every_committed_model_is_installed(tmp_path, example, flags):
    """The agent loads the occupancy model from the installed models folder; `models fetch` cannot bring it
    (no wheel holds it), so an install without the copy stopped at `occupancy.model` on every start."""
    prefix = tmp_path / "root"
    flat = [" ".join(c) for c in commands(dry_run(prefix, example, *flags))]
    for name in shipped_models():
        step = f"install -m 0644 {REPO}/models/{name} {prefix}/opt/edge-agent/models/{name}"
        assert step in flat, f"{name} is not installed:\n" + "\n".join(flat)


def test_the_units_documentation_is_installed(tmp_path, example):
    """`systemctl help edge-agent` opens the unit's Documentation=; the file it named was never installed."""
    prefix = tmp_path / "root"
    unit = (REPO / "deploy" / "edge-agent.service").read_text()
    docs = [u.removeprefix("file://") for ln in unit.splitlines() if ln.startswith("Documentation=")
            for u in ln.split("=", 1)[1].split() if u.startswith("file://")]
    assert docs
    cmds = commands(dry_run(prefix, example, "--no-apt", "--no-system", "--no-models"))
    for path in docs:
        dest = f"{prefix}{path}"
        copies = [c for c in cmds if c[0] == "install" and (c[-1] == dest or c[-1] == str(Path(dest).parent) + "/")]
        assert any(str(REPO / Path(path).name) in c for c in copies), f"{path} is not installed"


def test_rerun_keeps_existing_config_and_venv(tmp_path, example):
    prefix = tmp_path / "root"
    (prefix / "etc/edge-agent").mkdir(parents=True)
    (prefix / "etc/edge-agent/config.yaml").write_text("mine: true\n")
    (prefix / "etc/edge-agent/edge-agent.env").write_text("SECRET=x\n")
    (prefix / "opt/edge-agent/venv/bin").mkdir(parents=True)
    (prefix / "opt/edge-agent/venv/bin/python").symlink_to(shutil.which("python3"))
    out = dry_run(prefix, example)
    flat = [" ".join(c) for c in commands(out)]
    assert not any("config.yaml" in c and c.startswith("install ") for c in flat)
    assert not any("edge-agent.env" in c for c in flat)
    assert not any("-m venv" in c for c in flat)
    assert any("pip install" in c and "--upgrade" in c for c in flat)  # an upgrade still installs the new version
    assert any("config.yaml" in ln and "kept" in ln for ln in out)
    assert (prefix / "etc/edge-agent/config.yaml").read_text() == "mine: true\n"


def test_staging_flags_skip_system_changes(tmp_path, example):
    flat = [" ".join(c) for c in commands(dry_run(tmp_path / "root", example, "--no-apt", "--no-system", "--no-models"))]
    for absent in ("apt-get", "useradd", "usermod", "groupadd", "systemctl", "models fetch", " -o "):
        assert not any(absent in c for c in flat), absent
    assert any(c.startswith("install -m 0644") and c.endswith("edge-agent.service") for c in flat)


def test_bad_option_is_refused(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True)
    assert res.returncode != 0 and "unknown option: --frobnicate" in res.stderr


def test_missing_example_config_stops_before_any_step(tmp_path):
    res = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--prefix", str(tmp_path), "--config-example", str(tmp_path / "nope.yaml")],
        capture_output=True, text=True,
    )
    assert res.returncode == 1 and "missing" in res.stderr and "$ " not in res.stdout


def _user_missing() -> bool:
    return subprocess.run(["id", "-u", "edge-agent"], capture_output=True).returncode != 0


def stand_in_venv(prefix: Path) -> None:
    """An installed venv whose pip does nothing (no package index here) and whose ``edge-agent`` is this
    checkout: every other step of an upgrade runs for real."""
    bin_dir = prefix / "opt/edge-agent/venv/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(
        f'#!/bin/sh\n[ "$1 $2" = "-m pip" ] && exit 0\nexec {shlex.quote(sys.executable)} "$@"\n')
    (bin_dir / "edge-agent").write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(REPO))} exec {shlex.quote(sys.executable)} -m edge_agent \"$@\"\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)


def test_an_upgrade_whose_kept_config_the_new_version_refuses_finishes_and_says_so(tmp_path, example):
    """A config an older release took (here a session of a year; now at most 30 days) is refused by the new
    version's check. The script stopped there (set -e) with the new version already in the venv, the old unit
    and docs left in place, a running service not restarted and nothing saying the upgrade was half done."""
    prefix = tmp_path / "root"
    stand_in_venv(prefix)
    config = prefix / "etc/edge-agent/config.yaml"
    config.parent.mkdir(parents=True)
    kept = example.read_text(encoding="utf-8") + "\n# an older release took a session of a year\n"
    kept = kept.replace("\nweb:\n", "\nweb:\n  session_max_age_s: 31536000\n", 1)
    assert "session_max_age_s: 31536000" in kept
    config.write_text(kept, encoding="utf-8")
    unit = prefix / "etc/systemd/system/edge-agent.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/opt/edge-agent/venv/bin/edge-agent run  # the older release's\n")
    res = subprocess.run(["bash", str(SCRIPT), "--prefix", str(prefix), "--config-example", str(example),
                          "--no-apt", "--no-system", "--no-models"], capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "web.session_max_age_s" in out and "installed, but the config is refused" in out
    assert config.read_text(encoding="utf-8") == kept  # the operator's config is never touched
    assert unit.read_bytes() == (REPO / "deploy/edge-agent.service").read_bytes()  # the remaining steps ran
    assert (prefix / "opt/edge-agent/docs/deployment.md").is_file()
    assert "==> doctor" not in out  # it would only repeat the refusal


def test_an_upgrade_gives_a_root_only_users_file_the_agents_group(tmp_path, example):
    """``users add`` with sudo before 2026-12-03 left ``/etc/edge-agent/users.txt`` ``root:root`` 0600: the agent
    (user edge-agent) failed every login. The upgrade mends what the install layout says: root:edge-agent 0640."""
    if os.geteuid() != 0:
        pytest.skip("the file must belong to root, as an older users add with sudo left it")
    prefix = tmp_path / "root"
    users = prefix / "etc/edge-agent/users.txt"
    users.parent.mkdir(parents=True)
    users.write_text("alice:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g\n")
    users.chmod(0o600)
    (prefix / "etc/edge-agent/config.yaml").write_text("mine: true\n")
    flat = [" ".join(c) for c in commands(dry_run(prefix, example))]
    assert f"chgrp edge-agent {users}" in flat and f"chmod g+r {users}" in flat
    users.chmod(0o640)  # readable by its group already: left as it is
    flat = [" ".join(c) for c in commands(dry_run(prefix, example))]
    assert not any("chgrp" in c or "chmod g+r" in c for c in flat)


def test_the_doctor_runs_in_the_data_dir_as_the_unit_does(tmp_path, example):
    """lgpio (gpiozero's factory on a Pi 5) makes its notification pipe in the working directory. The doctor ran
    as edge-agent from wherever sudo was typed (a 0700 home, the checkout): no pipe, no lgpio, gpio FAIL on a
    device whose service (WorkingDirectory=/var/lib/edge-agent) then drove its locks. It runs in the data dir now,
    where relative config paths also resolve as under the unit."""
    prefix = tmp_path / "root"
    stand_in_venv(prefix)
    agent = prefix / "opt/edge-agent/venv/bin/edge-agent"
    real = agent.read_text()
    agent.write_text(real.replace("#!/bin/sh\n", f'#!/bin/sh\n[ "$1" = doctor ] && pwd > {tmp_path}/doctor-cwd\n', 1))
    elsewhere = tmp_path / "where-sudo-was-typed"
    elsewhere.mkdir()
    res = subprocess.run(["bash", str(SCRIPT), "--prefix", str(prefix), "--config-example", str(example),
                          "--no-apt", "--no-system", "--no-models"],
                         cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert "==> doctor" in res.stdout, res.stdout + res.stderr
    assert (tmp_path / "doctor-cwd").read_text().strip() == str(prefix / "var/lib/edge-agent")
    unit = (REPO / "deploy/edge-agent.service").read_text()
    assert "WorkingDirectory=/var/lib/edge-agent\n" in unit
    flat = [" ".join(c) for c in commands(dry_run(prefix, example, "--no-apt", "--no-system", "--no-models"))]
    cd, doctor = (next(i for i, c in enumerate(flat) if c.startswith(s)) for s in ("cd ", f"{agent} doctor"))
    assert flat[cd] == f"cd {prefix}/var/lib/edge-agent" and cd == doctor - 1


def test_a_hardened_umask_does_not_leave_the_venv_unreadable_to_the_service(tmp_path, example):
    """sudo keeps the login's umask when it is stricter than 022 (CIS images use 027, some 077): the venv, pip's
    files and the fetched models came out root-only, and the service (user edge-agent) failed to exec
    /opt/edge-agent/venv/bin/edge-agent (203/EXEC). Every program the script runs must create files others can
    read; the stand-in ``edge-agent`` (check-config, doctor) says which umask it got."""
    prefix = tmp_path / "root"
    stand_in_venv(prefix)
    agent = prefix / "opt/edge-agent/venv/bin/edge-agent"
    agent.write_text(agent.read_text().replace("#!/bin/sh\n", f"#!/bin/sh\numask >> {tmp_path}/umasks\n", 1))
    res = subprocess.run(["bash", str(SCRIPT), "--prefix", str(prefix), "--config-example", str(example),
                          "--no-apt", "--no-system", "--no-models"],
                         capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o077))
    assert "==> doctor" in res.stdout, res.stdout + res.stderr
    assert set((tmp_path / "umasks").read_text().split()) == {"0022"}
    created = [p for p in (prefix / "opt").rglob("*") if p.is_file() and not p.is_relative_to(agent.parent)]
    assert created and all(p.stat().st_mode & 0o004 for p in created), [oct(p.stat().st_mode) for p in created]


def test_help_is_the_header_comment_only():
    res = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    lines = res.stdout.splitlines()
    assert res.returncode == 0 and lines[0].startswith("Install or upgrade edge-agent")
    assert lines[-1].lstrip().startswith("--no-models") and not any("set -euo" in ln for ln in lines)


def test_an_install_where_systemd_is_not_running_enables_the_unit_without_a_reload(tmp_path, example):
    """An SD-card image built in a container (or any host not booted with systemd): `systemctl daemon-reload`
    failed there and set -e ended the install before `enable`; `enable` works offline."""
    if Path("/run/systemd/system").is_dir():
        pytest.skip("this host runs systemd")
    out = dry_run(tmp_path / "root", example, "--no-apt", "--no-models")
    flat = [" ".join(c) for c in commands(out)]
    assert "systemctl enable edge-agent.service" in flat
    assert not any("daemon-reload" in c for c in flat)
    assert any("systemd is not running here" in ln for ln in out)


def test_an_upgrade_onto_a_key_every_user_may_read_is_not_restarted_and_names_the_chmod(tmp_path, example):
    """From 2026-12-05 a private key readable by every user (``mqtt.tls.key_file`` at 0644, taken before) is
    refused at load. An upgrade must not restart a device onto a config it refuses: the script ends exit 2 with
    the key, its mode and the chmod named, the running service left on the old version, the key left as it is
    (the operator's file: the installer did not put it there)."""
    prefix = tmp_path / "root"
    stand_in_venv(prefix)
    config = prefix / "etc/edge-agent/config.yaml"
    config.parent.mkdir(parents=True)
    key = prefix / "etc/edge-agent/client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    (prefix / "etc/edge-agent/client.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    kept = example.read_text(encoding="utf-8").replace(
        "  tls: {ca_file: /etc/edge-agent/ca.pem}",
        f"  tls: {{cert_file: {prefix}/etc/edge-agent/client.pem, key_file: {key}}}", 1)
    assert str(key) in kept
    config.write_text(kept, encoding="utf-8")
    res = subprocess.run(["bash", str(SCRIPT), "--prefix", str(prefix), "--config-example", str(example),
                          "--no-apt", "--no-system", "--no-models"], capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert f"mqtt.tls.key_file: {key} is readable by every user on this device (mode 0644)" in out, out
    assert "chmod 640" in out and "installed, but the config is refused" in out
    assert oct(key.stat().st_mode & 0o777) == oct(0o644)


def _stub(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text("#!/bin/bash\n" + body + "\n")
    (folder / name).chmod(0o755)


def test_a_minimal_debian_without_the_pi_archive_or_systemd_installs(tmp_path, example):
    """A bare Debian bookworm (probe install19, debootstrap minbase): apt-get refused the whole package line for
    the two lgpio packages only Raspberry Pi OS's archive has ("Unable to locate package liblgpio1", exit 100),
    and once past that, set -e ended the install at `systemctl enable` (exit 127: no systemd package), before the
    doctor. The user and system tools are stand-ins that log what they were asked; no systemctl is on the PATH."""
    prefix = tmp_path / "root"
    res, log = _install_on_a_bare_debian(tmp_path, example, doctor_rc=0)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    apt = next(ln.split() for ln in log.read_text().splitlines() if ln.startswith("apt-get") and "install" in ln)
    assert {"python3-venv", "procps"} <= set(apt) and not {"liblgpio1", "liblgpio-dev"} & set(apt), apt
    assert "liblgpio1: not in this system's apt sources" in out
    assert "no systemctl here" in out and "==> doctor" in out and "==> done" in out
    assert (prefix / "etc/systemd/system/edge-agent.service").is_file()


def _install_on_a_bare_debian(tmp_path: Path, example: Path, doctor_rc: int, systemctl: bool = False,
                              booted: bool = False) -> tuple[subprocess.CompletedProcess, Path]:
    """The install as root on stand-ins for a bare Debian's system tools (they log what they were asked to
    ``calls``), no systemctl on the PATH unless ``systemctl`` (then a stand-in that logs); the doctor ends
    ``doctor_rc``. ``booted``: as on a host running systemd (sd_booted: ``/run/systemd/system`` is a folder), in
    a mount namespace of its own with a tmpfs on ``/run`` (this host's ``/run`` is left as it is)."""
    if os.geteuid() != 0:
        pytest.skip("the script's system steps need root")
    prefix = tmp_path / "root"
    stand_in_venv(prefix)
    agent = prefix / "opt/edge-agent/venv/bin/edge-agent"
    agent.write_text(agent.read_text().replace("#!/bin/sh\n", f'#!/bin/sh\n[ "$1" = doctor ] && exit {doctor_rc}\n', 1))
    log = tmp_path / "calls"
    stubs, tools = tmp_path / "stubs", tmp_path / "tools"
    stubs.mkdir()
    tools.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):  # every tool but systemctl
        for exe in Path(d).iterdir() if Path(d).is_dir() else ():
            if exe.name != "systemctl" and not (tools / exe.name).exists() and os.access(exe, os.X_OK):
                (tools / exe.name).symlink_to(exe)
    for name in ("apt-get", "groupadd", "usermod", "useradd"):
        _stub(stubs, name, f'echo "{name} $*" >> {log}')
    if systemctl:  # installed, the unit not running (is-active: 3)
        _stub(stubs, "systemctl", f'echo "systemctl $*" >> {log}; [[ "$1" == is-active ]] && exit 3; exit 0')
    _stub(stubs, "apt-cache", '[[ "$2" == liblgpio* ]] && exit 100; exit 0')
    _stub(stubs, "getent", "exit 0")
    _stub(stubs, "id", "exit 0")
    _stub(stubs, "runuser", 'shift 3; exec "$@"')  # runuser -u edge-agent -- CMD
    real_install = shutil.which("install")
    _stub(stubs, "install", f'a=(); while (($#)); do case "$1" in -o|-g) shift 2;; *) a+=("$1"); shift;; esac; done\n'
                            f'exec {real_install} "${{a[@]}}"')
    argv = ["bash", str(SCRIPT), "--prefix", str(prefix), "--config-example", str(example), "--no-models"]
    if booted:
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if subprocess.run([*unshare, "true"], capture_output=True).returncode != 0:
            pytest.skip("no mount namespace here")
        argv = [*unshare, "bash", "-c", 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$@"',
                "booted", *argv]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": f"{stubs}:{tools}"})
    return res, log


def test_the_doctors_closing_note_says_how_to_start_the_agent_where_systemd_is_not_there(tmp_path, example):
    """The doctor finding problems ended the install with "fix them, then: sudo systemctl start edge-agent.service"
    on a host with no systemctl (exit 127 there) or no systemd running (an image built in a container: "System has
    not been booted with systemd"). It says how to start the agent by hand there, and where the unit is."""
    def by_hand(prefix: Path) -> str:
        return (f"cd {prefix}/var/lib/edge-agent && sudo runuser -u edge-agent -- {prefix}/opt/edge-agent/venv/bin/"
                f"edge-agent run --config {prefix}/etc/edge-agent/config.yaml")

    res, _ = _install_on_a_bare_debian(tmp_path, example, doctor_rc=1)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out  # the doctor is advice, not a gate
    note = next(ln for ln in out.splitlines() if "doctor found problems" in ln)
    assert "systemctl start" not in note and by_hand(tmp_path / "root") in note, note
    assert f"the unit is {tmp_path}/root/etc/systemd/system/edge-agent.service" in note, note
    if Path("/run/systemd/system").is_dir():
        return  # the second case needs a host not booted with systemd
    image = tmp_path / "image"
    image.mkdir()
    res, log = _install_on_a_bare_debian(image, example, doctor_rc=1, systemctl=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "systemctl enable edge-agent.service" in log.read_text()
    notes = [ln for ln in out.splitlines() if "doctor found problems" in ln or "not started" in ln]
    assert len(notes) == 2 and all("systemctl start" not in ln for ln in notes), notes
    assert "edge-agent.service is enabled: it starts the agent at boot" in notes[-1], notes
    assert out.count(by_hand(image / "root")) == 1, notes  # once, at the end: the unit's step said it too (leftovers25)


def test_the_config_refused_notes_say_how_to_start_the_agent_where_systemd_is_not_there(tmp_path, example):
    """A refused config ended the install with "fix it, then: sudo systemctl restart edge-agent.service" on a host
    with no systemctl (exit 127 there) or no systemd running ("System has not been booted with systemd"), as the
    doctor's closing note did until leftovers20 (probe leftovers21). Here the example itself is refused."""
    def by_hand(prefix: Path) -> str:
        return (f"cd {prefix}/var/lib/edge-agent && sudo runuser -u edge-agent -- {prefix}/opt/edge-agent/venv/bin/"
                f"edge-agent run --config {prefix}/etc/edge-agent/config.yaml")

    refused = tmp_path / "refused.yaml"
    refused.write_text(example.read_text(encoding="utf-8").replace(
        "\nweb:\n", "\nweb:\n  session_max_age_s: 31536000\n", 1), encoding="utf-8")
    assert "session_max_age_s: 31536000" in refused.read_text(encoding="utf-8")
    res, _ = _install_on_a_bare_debian(tmp_path, refused, doctor_rc=0)
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "installed, but the config is refused" in out, out
    note = next(ln for ln in out.splitlines() if "as check-config says above" in ln)
    assert "systemctl restart" not in note and by_hand(tmp_path / "root") in note, note
    if Path("/run/systemd/system").is_dir():
        return  # the second case needs a host not booted with systemd
    image = tmp_path / "image"
    image.mkdir()
    res, _ = _install_on_a_bare_debian(image, refused, doctor_rc=0, systemctl=True)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    notes = [ln for ln in out.splitlines() if "as check-config says above" in ln or "would not start" in ln]
    assert len(notes) == 2 and all("systemctl restart" not in ln for ln in notes), notes
    assert "edge-agent.service is enabled: it starts the agent at boot" in notes[-1], notes
    assert out.count(by_hand(image / "root")) == 1, notes  # once, at the end: the unit's step said it too (leftovers22)


def test_where_systemd_runs_the_start_and_restart_advice_is_said_once(tmp_path, example):
    """On a host running systemd (probe leftovers25): a service not started and a doctor that found problems gave
    "sudo systemctl start edge-agent.service" twice in a row (the unit's step, then the doctor's closing note), and
    a refused config gave "sudo systemctl restart edge-agent.service" twice (the unit's step, then the closing
    note). Each is said once now, at the end; a doctor that passes still says how to start what was not started."""
    start, restart = "sudo systemctl start edge-agent.service", "sudo systemctl restart edge-agent.service"
    for doctor_rc in (1, 0):
        run = tmp_path / f"doctor{doctor_rc}"
        run.mkdir()
        res, log = _install_on_a_bare_debian(run, example, doctor_rc=doctor_rc, systemctl=True, booted=True)
        out = res.stdout + res.stderr
        assert res.returncode == 0 and "systemctl daemon-reload" in log.read_text(), out  # systemd ran: it reloaded
        assert out.count(start) == 1, out
        closing = out.split("==> doctor", 1)[1]
        assert start in closing and "not restarted" not in out, out
    refused = tmp_path / "refused.yaml"
    refused.write_text(example.read_text(encoding="utf-8").replace(
        "\nweb:\n", "\nweb:\n  session_max_age_s: 31536000\n", 1), encoding="utf-8")
    run = tmp_path / "refused"
    run.mkdir()
    res, _ = _install_on_a_bare_debian(run, refused, doctor_rc=0, systemctl=True, booted=True)
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "not restarted" in out, out
    assert out.count(restart) == 1 and restart in out.split("installed, but the config is refused", 1)[1], out
    assert "a running service keeps the old" in out, out  # what the unit's step still says: why not restarted


def test_a_staging_install_does_not_end_with_systemctl_start(tmp_path, example):
    """``--no-system`` (staging into --prefix: no user made, nothing enabled) ended with "fix them, then: sudo
    systemctl start edge-agent.service", a unit this system never enabled (newuser37). Its closing note says what
    to run where the staged files will run, and by hand here; a refused config's note says the same."""
    prefix = tmp_path / "root"
    stand_in_venv(prefix)
    argv = ["bash", str(SCRIPT), "--prefix", str(prefix), "--config-example", str(example), "--no-apt", "--no-system",
            "--no-models"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    closing = [ln for ln in out.splitlines() if "doctor found problems" in ln or "not started yet" in ln]
    by_hand = (f"cd {prefix}/var/lib/edge-agent && {prefix}/opt/edge-agent/venv/bin/edge-agent run --config "
               f"{prefix}/etc/edge-agent/config.yaml")
    assert res.returncode == 0 and len(closing) == 1, out
    assert "systemctl start" not in out and "--no-system" in closing[0] and by_hand in closing[0], closing
    config = prefix / "etc/edge-agent/config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("\nweb:\n", "\nweb:\n  session_max_age_s: 31536000\n",
                                                                 1), encoding="utf-8")
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    note = next(ln for ln in out.splitlines() if "as check-config says above" in ln)
    assert res.returncode == 2 and "systemctl restart edge-agent.service;" in note and by_hand in note, out
    assert "--no-system" in note, note
