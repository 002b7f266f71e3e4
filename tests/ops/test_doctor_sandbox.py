"""The doctor's ``service sandbox`` row reads the shipped unit (and a drop-in, as ``systemctl edit`` writes it).

The doctor runs as the service user but outside the unit: a ``data_dir`` on a USB disk passed its ``disk`` row and
the service then refused to start on a read-only file system (ProtectSystem=strict) at every restart; a CA in
/home/pi passed the broker row and the service (ProtectHome=yes) did not find it.
"""

from __future__ import annotations

import shutil

import yaml

from edge_agent.config.load import load_config
from edge_agent.ops.sandbox import check_sandbox, unit_for
from tests.conftest import REPO
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)

SHIPPED = REPO / "deploy" / "edge-agent.service"
EXAMPLE = REPO / "config" / "rpi5-two-bays.yaml"


def installed_unit(tmp_path):
    unit = tmp_path / "systemd" / "edge-agent.service"
    unit.parent.mkdir()
    shutil.copy(SHIPPED, unit)
    return unit


def off_the_hosts_disks(monkeypatch) -> None:  # noqa: ANN001 - pytest's
    """The paths a test names (``/mnt/ssd/…``) judged as on the root file system, whatever this host mounts: a CI
    runner's ``/mnt`` is a disk of its own, and the write-access tests failed there on the mount rule instead."""
    from edge_agent.ops import sandbox

    monkeypatch.setattr(sandbox, "own_mount", lambda path: None)


def config(tmp_path, **changes):
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def test_the_shipped_example_passes_under_the_shipped_unit(tmp_path):
    row = check_sandbox(config(tmp_path), installed_unit(tmp_path))
    assert row.status == "pass", row.detail


def test_a_data_dir_the_unit_may_not_write_fails_until_a_drop_in_allows_it(tmp_path, monkeypatch):
    off_the_hosts_disks(monkeypatch)
    unit = installed_unit(tmp_path)
    cfg = config(tmp_path, data_dir="/mnt/ssd/edge-agent")
    row = check_sandbox(cfg, unit)
    assert row.status == "fail"
    assert "data_dir /mnt/ssd/edge-agent: the service may not write there (ProtectSystem=strict" in row.detail
    assert "ReadWritePaths=/mnt/ssd/edge-agent" in row.detail  # the fix, named
    dropin = unit.parent / "edge-agent.service.d" / "override.conf"
    dropin.parent.mkdir()
    dropin.write_text("[Service]\nReadWritePaths=/mnt/ssd/edge-agent\n")
    assert check_sandbox(cfg, unit).status == "pass"


def test_a_file_in_a_home_folder_is_hidden_from_the_service(tmp_path):
    cfg = config(tmp_path, mqtt__tls={"ca_file": "/home/pi/ca.crt"})
    row = check_sandbox(cfg, installed_unit(tmp_path))
    assert row.status == "fail" and "mqtt.tls.ca_file /home/pi/ca.crt: hidden from the service (ProtectHome=yes)" \
        in row.detail, row.detail


def test_no_installed_unit_is_a_skip(tmp_path):
    assert check_sandbox(config(tmp_path), tmp_path / "none.service").status == "skip"


def test_every_read_write_paths_line_counts_as_systemd_takes_them(tmp_path, monkeypatch):
    """systemd takes each ``ReadWritePaths=`` line in turn (an empty one resets the list, not ``StateDirectory=``);
    configparser kept only a key's last line, so a drop-in naming the data disk and a log disk on two lines failed
    the row for a ``data_dir`` the service may write."""
    off_the_hosts_disks(monkeypatch)
    unit = installed_unit(tmp_path)
    cfg = config(tmp_path, data_dir="/mnt/ssd/edge-agent")
    dropin = unit.parent / "edge-agent.service.d" / "override.conf"
    dropin.parent.mkdir()
    dropin.write_text("[Service]\nReadWritePaths=/mnt/ssd/edge-agent\nReadWritePaths=/mnt/usb/logs\n")
    row = check_sandbox(cfg, unit)
    assert row.status == "pass", row.detail
    dropin.write_text("[Service]\n# the unit's own path reset\nReadWritePaths=\nReadWritePaths=/mnt/usb/logs \\\n"
                      "  /mnt/ssd/edge-agent\n")  # a line continued with a backslash
    assert check_sandbox(cfg, unit).status == "pass"
    assert check_sandbox(config(tmp_path), unit).status == "pass"  # /var/lib/edge-agent: still its StateDirectory
    dropin.write_text("[Service]\nReadWritePaths=/mnt/ssd/edge-agent\nReadWritePaths=\n")  # added, then reset
    row = check_sandbox(cfg, unit)
    assert row.status == "fail" and "data_dir /mnt/ssd/edge-agent: the service may not write there" in row.detail


def test_a_session_key_already_there_needs_no_write_access(tmp_path):
    """The agent writes ``web.session_secret_file`` only where there is none: a key the operator put beside the
    config (read-only to the service) is all it needs, and the row failed it as "may not write there"."""
    unit = installed_unit(tmp_path)
    dropin = unit.parent / "edge-agent.service.d" / "override.conf"
    dropin.parent.mkdir()
    dropin.write_text("[Service]\nPrivateTmp=no\n")  # this test's folder then stands for /etc: read-only
    key = tmp_path / "keys" / "web-secret.key"
    cfg = config(tmp_path, web__session_secret_file=str(key))
    row = check_sandbox(cfg, unit)
    assert row.status == "fail" and f"web.session_secret_file {key.parent}: the service may not write" in row.detail
    key.parent.mkdir()
    key.write_text("k" * 64 + "\n")
    row = check_sandbox(cfg, unit)
    assert row.status == "pass", row.detail


def test_a_second_agents_unit_is_the_one_its_doctor_reads(tmp_path):
    """Probe newuser34: a second camera's agent runs from a copy of the unit (docs/deployment.md, "Two cameras on one
    device") with its own config and data_dir. Its doctor read edge-agent.service, whose sandbox does not hold the
    second data_dir, and failed a service that ran: the unit whose ExecStart names this config is read now."""
    first = installed_unit(tmp_path)
    second = first.with_name("edge-agent-cam2.service")
    cfg = config(tmp_path, data_dir="/var/lib/edge-agent-cam2")
    text = first.read_text(encoding="utf-8").replace("/var/lib/edge-agent", "/var/lib/edge-agent-cam2")
    second.write_text(text.replace("/etc/edge-agent/config.yaml", str(cfg._source_path)), encoding="utf-8")
    assert check_sandbox(cfg, first).status == "fail"  # what the doctor judged it by
    assert unit_for(cfg, first.parent) == second
    assert check_sandbox(cfg, unit_for(cfg, first.parent)).status == "pass"


def test_a_config_no_unit_runs_is_judged_by_the_shipped_unit(tmp_path):
    first = installed_unit(tmp_path)
    cfg = config(tmp_path)
    assert unit_for(cfg, first.parent) == first
    first.with_name("edge-agent-cam2.service").write_text(
        "[Service]\nExecStart=/opt/edge-agent/venv/bin/edge-agent run -c '/etc/edge-agent/cam 2.yaml'\n"
        "ExecStart=-/bin/true '\n", encoding="utf-8")  # another config, and an unclosed quote: neither is this one
    assert unit_for(cfg, first.parent) == first


def test_a_data_dir_on_a_disk_of_its_own_needs_the_unit_to_wait_for_that_disk(tmp_path, tiny_disk):  # noqa: F811
    """A data dir (or outbox) on a USB disk the unit may write but does not wait for: started with the disk not
    mounted, the agent ran on the empty folder beneath its mount point as on a new device — a lock in maintenance
    came up automatic, the outbox's waiting events were never sent, and nothing said so (probe chaos40, real
    processes). ``RequiresMountsFor=`` makes systemd start it only with the disk there, and stop it when it goes."""
    disk = tiny_disk(1)
    data = disk / "edge-agent"
    unit = installed_unit(tmp_path)
    dropin = unit.parent / "edge-agent.service.d" / "override.conf"
    dropin.parent.mkdir()
    dropin.write_text(f"[Service]\nReadWritePaths={data}\n")
    cfg = config(tmp_path, data_dir=str(data))
    row = check_sandbox(cfg, unit)
    assert row.status == "fail" and f"on a disk of its own ({disk})" in row.detail, row.detail
    assert f"RequiresMountsFor={data}" in row.detail
    dropin.write_text(f"[Unit]\nRequiresMountsFor={data}\n[Service]\nReadWritePaths={data}\n")
    assert check_sandbox(cfg, unit).status == "pass", check_sandbox(cfg, unit).detail


def test_a_data_dir_systemd_already_waits_for_passes_on_a_disk_of_its_own(tmp_path, tiny_disk):  # noqa: F811
    """``WorkingDirectory=`` and ``StateDirectory=`` make systemd require the mounts of their paths as
    ``RequiresMountsFor=`` does (systemd.exec(5), implicit dependencies). A unit whose ``WorkingDirectory=`` is the
    data dir on its own disk waits for that disk, and the row failed it, asking for what systemd already does."""
    disk = tiny_disk(1)
    data = disk / "edge-agent"
    unit = installed_unit(tmp_path)
    dropin = unit.parent / "edge-agent.service.d" / "override.conf"
    dropin.parent.mkdir()
    dropin.write_text(f"[Service]\nWorkingDirectory={data}\nReadWritePaths={data}\n")
    row = check_sandbox(config(tmp_path, data_dir=str(data)), unit)
    assert row.status == "pass", row.detail


def test_the_shipped_unit_waits_for_a_var_of_its_own(tmp_path, monkeypatch):
    """A device whose ``/var`` (or ``/var/lib``) is a disk of its own (an SSD beside the SD card, in fstab): the
    shipped unit's ``StateDirectory=edge-agent`` makes systemd wait for it, and the row failed the shipped example
    under the shipped unit there ("add RequiresMountsFor=/var/lib/edge-agent"), the install's doctor step with it."""
    from edge_agent.ops import sandbox

    for mount in ("/var", "/var/lib"):
        monkeypatch.setattr(sandbox, "own_mount", lambda path, m=mount: m if str(path).startswith(m + "/") else None)
        row = check_sandbox(config(tmp_path), installed_unit(tmp_path))
        assert row.status == "pass", row.detail
        shutil.rmtree(tmp_path / "systemd")
