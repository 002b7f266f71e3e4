"""Reading a config file: every command and every reload says one line naming the file or the key, exit 2.

What the outside probe found: a GBK or binary config was a ``UnicodeDecodeError`` traceback in
``check-config``, ``run``, ``doctor``, ``replay`` (and the SIGHUP reload logged a traceback); a duplicate key
was silently "last wins"; ``check-config /dev/zero`` grew to 23 GB; ``check-config /etc/shadow`` echoed
every line (password hashes) as an "unknown key".
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from edge_agent import cli
from edge_agent.config import ConfigError, load_config
from edge_agent.config.yamlfile import MAX_BYTES

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
}
GBK = "site: {site_id: 站点, device_id: d1}\n".encode("gbk")


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "data_dir": str(tmp_path / "data")}), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return exc.value.problems


@pytest.mark.parametrize("argv", [
    ["check-config", "{}"], ["run", "--config", "{}"], ["doctor", "--config", "{}"], ["replay", "{}", "/nonexistent"],
    ["stats", "--config", "{}"], ["review", "--config", "{}"],
])
def test_a_config_that_is_not_utf8_is_one_line_and_exit_2_in_every_command(tmp_path, capsys, argv):
    bad = tmp_path / "gbk.yaml"
    bad.write_bytes(GBK)
    assert cli.main([a.format(bad) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "not UTF-8 text (byte 0x" in err and str(bad) in err, err


def test_overrides_in_the_data_dir_that_are_not_utf8_are_named(good):
    data = good.parent / "data"
    data.mkdir()
    (data / "overrides.yaml").write_bytes(b"\x9a\x00\xff binary")
    assert problems_of(good) == ["(file): not UTF-8 text (byte 0x9a at offset 0); save the config as UTF-8"]


@pytest.mark.parametrize(("text", "problem"), [
    ("lists: {allow: []}\x00\n", "(file): line 1, column 19: the control character U+0000 cannot be in a config (YAML "
                                  "text); remove it"),
    ("lists:\n  allow: [\x1b[31m]\n", "(file): line 2, column 11: the control character U+001B cannot be in"),
    ("lists: {deny: [\x7f]}\n", "(file): line 1, column 16: the control character U+007F cannot be in"),
    ("\x00" * 4096, "(file): all NUL bytes, no text: what a power cut while the file was being written leaves"),
])
def test_control_characters_in_the_overrides_are_one_line_and_exit_2_and_a_reload_keeps_the_running_config(
        good, capsys, caplog, clock, text, problem):
    """Valid UTF-8 that YAML refuses (a NUL — a file of zero bytes is what a power cut while an editor saved leaves —
    a terminal's ESC colour codes pasted in, DEL) raised ``yaml.reader.ReaderError`` before the parser's own error
    handling: a traceback from ``check-config`` and ``run``, and one logged by SIGHUP; MQTT answered
    ``internal_error``."""
    from edge_agent.events.bus import EventBus
    from edge_agent.ops.lifecycle import OpsRuntime
    from edge_agent.runtime.reload import ConfigReload

    cfg = load_config(good)
    over = good.parent / "data" / "overrides.yaml"
    over.parent.mkdir()
    over.write_text(text, encoding="utf-8")
    assert cli.main(["check-config", str(good)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and problem in err and str(over) in err, err
    agent = SimpleNamespace(cfg=cfg, loop_lock=threading.Lock(), lists=SimpleNamespace(editing=threading.Lock()))
    ops = OpsRuntime(cfg, EventBus(), clock, env={})
    with caplog.at_level(logging.INFO, logger="edge_agent.ops.lifecycle"):
        ops._reload(ConfigReload(agent).reload)()  # type: ignore[arg-type]  # what SIGHUP's worker calls
    lines = [r for r in caplog.records if r.name == "edge_agent.ops.lifecycle"]
    assert len(lines) == 1 and not lines[0].exc_info and problem in lines[0].getMessage()
    assert agent.cfg is cfg


def test_a_sighup_reload_of_a_broken_file_logs_one_line_and_keeps_the_running_config(good, caplog, clock):
    from edge_agent.events.bus import EventBus
    from edge_agent.ops.lifecycle import OpsRuntime
    from edge_agent.runtime.reload import ConfigReload

    cfg = load_config(good)
    good.write_bytes(GBK)
    agent = SimpleNamespace(cfg=cfg, loop_lock=threading.Lock(), lists=SimpleNamespace(editing=threading.Lock()))
    ops = OpsRuntime(cfg, EventBus(), clock, env={})
    with caplog.at_level(logging.INFO, logger="edge_agent.ops.lifecycle"):
        ops._reload(ConfigReload(agent).reload)()  # type: ignore[arg-type]  # what SIGHUP's worker calls
    lines = [r for r in caplog.records if r.name == "edge_agent.ops.lifecycle"]
    assert len(lines) == 1 and lines[0].levelname == "ERROR" and not lines[0].exc_info
    assert "config refused, the running config kept: (file): not UTF-8 text" in lines[0].getMessage()
    assert agent.cfg is cfg


def test_a_reload_refused_for_the_overrides_names_that_file(good, caplog, clock):
    """The journal's line named the key alone: "bays[1].polygon: …" for the installer's saved bays (a bay the
    operator's file has not, or has at another index), and "(file): not UTF-8 text" for a damaged
    ``overrides.yaml``, sent the operator to a config file with nothing wrong in it."""
    from edge_agent.events.bus import EventBus
    from edge_agent.ops.lifecycle import OpsRuntime
    from edge_agent.runtime.reload import ConfigReload

    cfg = load_config(good)
    over = good.parent / "data" / "overrides.yaml"
    over.parent.mkdir()
    agent = SimpleNamespace(cfg=cfg, loop_lock=threading.Lock(), lists=SimpleNamespace(editing=threading.Lock()))
    ops = OpsRuntime(cfg, EventBus(), clock, env={})
    over.write_bytes(b"\x9a\x00\xff binary")
    over_bay = yaml.safe_dump({"bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]},
                                        {"id": "Z", "polygon": [[0, 0], [1, 0], [2, 0]]}]})
    with caplog.at_level(logging.INFO, logger="edge_agent.ops.lifecycle"):
        ops._reload(ConfigReload(agent).reload)()  # type: ignore[arg-type]  # what SIGHUP's worker calls
        over.write_text(over_bay, encoding="utf-8")
        result = ConfigReload(agent).reload()  # type: ignore[arg-type]  # MQTT reload-config's reply
        ops._reload(ConfigReload(agent).reload)()  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.name == "edge_agent.ops.lifecycle"]
    assert lines[0] == ("SIGHUP: config refused, the running config kept: (file): not UTF-8 text (byte 0x9a at offset 0); "
                        f"save the config as UTF-8 (in {over})")
    assert lines[1].startswith("SIGHUP: config refused, the running config kept: bays[1].polygon: ")
    assert lines[1].endswith(f" (in {good} with the overrides in {over})")
    assert result.data["file"] == f"{good} with the overrides in {over}" and agent.cfg is cfg
    good.write_bytes(GBK)
    over.unlink()
    assert "file" not in ConfigReload(agent).reload().data  # type: ignore[arg-type]  # the operator's own file


def test_a_key_written_twice_is_refused_naming_its_path_and_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("site: {site_id: s1, device_id: d1}\n"
                    "camera:\n  source: rtsp://cam/1\n  fps: 5\n  fps: 1\n"
                    "bays: [{id: A, polygon: [[0, 0], [10, 0], [10, 10]]}]\n"
                    "site: {site_id: s2, device_id: d1}\n", encoding="utf-8")
    assert problems_of(path) == [
        "camera.fps: written twice (lines 4 and 5); YAML would silently keep the last — remove one",
        "site: written twice (lines 1 and 7); YAML would silently keep the last — remove one",
    ]


def test_merge_keys_may_still_override_what_they_merge(tmp_path):
    """``<<: *base`` then a key of its own is YAML's override, not a duplicate."""
    path = tmp_path / "c.yaml"
    path.write_text("site: {site_id: s1, device_id: d1}\n"
                    "camera: {<<: {source: rtsp://cam/1, fps: 5}, fps: 2}\n"
                    "bays: [{id: A, polygon: [[0, 0], [10, 0], [10, 10]]}]\n"
                    f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    assert load_config(path).camera.fps == 2


def test_only_a_small_regular_file_is_read(tmp_path, good):
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.write(good.read_bytes() + b"# " + b"x" * MAX_BYTES + b"\n")
    assert problems_of(big) == ["(file): larger than 1 MiB: not a config file (a config is a few KiB of YAML)"]
    assert problems_of(Path("/dev/zero")) == ["(file): not a regular file (a config is a YAML text file)"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: a blocking open would hang here
    assert problems_of(fifo) == ["(file): not a regular file (a config is a YAML text file)"]


def test_aliases_that_expand_without_end_are_refused(tmp_path):
    lines = ['site: {site_id: s1, device_id: d1}', 'perception:', '  recognizer_options:',
             '    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = problems_of(path)
    assert len(out) == 1 and out[0].startswith("perception.recognizer_options.a") and "aliases expand" in out[0]


def test_a_file_that_is_not_a_config_is_not_echoed(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$Ab3dEfGh$s3cretHashValue0123456789:19000:0:99999:7:::\n"
                      "daemon:*:19000:0:99999:7:::\n", encoding="utf-8")
    out = problems_of(shadow)
    assert out == ["(top level): none of the agent's settings (site, camera, bays, …) is in this file: "
                   "is this the agent's config file?"]
    text = tmp_path / "text.yaml"
    text.write_text("just a sentence\n", encoding="utf-8")
    assert problems_of(text)[0].startswith("(top level): the file holds a YAML text, not a mapping of settings")


def test_an_unknown_key_is_shown_only_by_a_short_prefix(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "colour": 1, "root:$6$Ab3dEfGh$s3cretHash:19000:0:99999:7::": None}),
                    encoding="utf-8")
    out = problems_of(path)
    assert "colour: unknown key (not a setting of this section; check the spelling)" in out
    assert "root…: unknown key (not a setting of this section; check the spelling)" in out
    assert not any("s3cret" in p or "$6$" in p for p in out), out


@pytest.mark.parametrize("argv", [["check-config", "{}"], ["run", "--config", "{}"], ["doctor", "--config", "{}"],
                                  ["stats", "--config", "{}"], ["review", "--config", "{}"]])
def test_a_folder_given_as_the_config_is_one_line_and_exit_2(tmp_path, capsys, argv):
    """``os.fdopen`` refused the folder with an ``IsADirectoryError`` traceback before the regular-file check."""
    assert cli.main([a.format(tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "(file): a folder (a config is a YAML text file)" in err, err


def test_overrides_yaml_that_is_a_folder_is_named(good):
    (good.parent / "data" / "overrides.yaml").mkdir(parents=True)
    assert problems_of(good) == ["(file): a folder (a config is a YAML text file)"]


@pytest.mark.parametrize(("text", "problem"), [
    ('data_dir: "/tmp/a\\0b"\n', "data_dir: holds a NUL character (\\0): no setting can; remove it"),
    ('camera: {source: "rtsp://cam/1\\0", width: 640}\n', "camera.source: holds a NUL character (\\0): no setting "
                                                          "can; remove it"),
    ("camera: {source: x, width: " + "9" * 5000 + "}\n", "camera.width: a number of over 100 digits: no setting "
                                                         "takes one"),
    ("? " + "9" * 5000 + "\n: 1\n", "999999999999…: unknown key (not a setting of this section; check the spelling)"),
    ("camera: {source: x, fps: " + "[" * 5000 + "]" * 5000 + "}\n",
     "(yaml): nested deeper than a parser can follow: not a config file"),
])
def test_what_no_parser_or_path_can_hold_is_named_not_a_traceback(tmp_path, text, problem):
    """A NUL in ``data_dir`` was ``ValueError: embedded null byte`` (from the overrides lookup), 5000 digits
    Python's int-parsing ``ValueError``, 5000 ``[`` PyYAML's ``RecursionError``: exit 1 with a traceback."""
    path = tmp_path / "c.yaml"
    path.write_text("site: {site_id: s1, device_id: d1}\n" + text, encoding="utf-8")
    assert problem in problems_of(path)


@pytest.mark.parametrize(("text", "problem"), [
    ("camera: {source: '${CAMERA_URL}'}\n", "camera.source: ${CAMERA_URL} looks like an environment variable"),
    ("camera: {source: 'rtsp://${CAM_HOST:-10.0.0.5}/1'}\n", "camera.source: ${CAM_HOST:-10.0.0.5} looks like"),
    ("camera: {source: x}\ndata_dir: $HOME/edge\n", "data_dir: $HOME looks like an environment variable"),
    ("camera: {source: x}\ndata_dir: ~/edge\n", "data_dir: ~ looks like a home folder"),
    ("camera: {source: x}\ndata_dir: ~edge-agent\n", "data_dir: ~edge-agent looks like a home folder"),
    ("camera: {source: x}\nmqtt: {password_file: ~/mqtt-password}\n", "mqtt.password_file: ~ looks like a home"),
    ("camera: {source: x}\nweb: {users_file: ~/users.txt}\n", "web.users_file: ~ looks like a home folder"),
])
def test_an_environment_variable_in_a_value_is_named_not_taken_as_text(tmp_path, text, problem):
    """Nothing expands them: ``${CAMERA_URL}`` was opened as a file name, ``data_dir: $HOME/edge`` made a folder
    named ``$HOME`` in the working directory, ``data_dir: ~/edge`` one named ``~`` (which ``rm -rf ~`` would
    not remove but the user's home); ``~`` in a ``*_file`` key was root's home under ``sudo``."""
    path = tmp_path / "c.yaml"
    path.write_text("site: {site_id: s1, device_id: d1}\n" + text, encoding="utf-8")
    assert any(p.startswith(problem) for p in problems_of(path)), problems_of(path)


def test_a_tilde_not_at_the_start_of_a_value_is_still_text(tmp_path):
    """``~`` is a home folder only at a path's start: an RTSP password or a file name may hold one."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "camera": {**GOOD["camera"], "source": "rtsp://admin:a~b@cam/1"},
                                    "data_dir": str(tmp_path / "data~1")}), encoding="utf-8")
    cfg = load_config(path)
    assert (cfg.camera.source, cfg.data_dir) == ("rtsp://admin:a~b@cam/1", str(tmp_path / "data~1"))


def test_a_dollar_inside_a_value_is_still_text(tmp_path):
    """A camera password with a ``$`` in it (``rtsp://cam:pa$$w0rd@…``) is not a variable."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "camera": {**GOOD["camera"], "source": "rtsp://admin:pa$$w0rd@cam/1"},
                                    "data_dir": str(tmp_path / "data")}), encoding="utf-8")
    assert load_config(path).camera.source == "rtsp://admin:pa$$w0rd@cam/1"


def test_a_config_named_by_a_relative_path_resolves_its_files_in_its_own_folder(tmp_path, monkeypatch, capsys):
    """``--config site/config.yaml`` from the folder above: the users file was looked up under ``site/`` twice
    (``site/site/users.txt``: `users list` showed nobody, the page refused every login), and each reload of an
    agent started that way said "web changes need a restart" (the reload reads the file by its absolute path)."""
    from edge_agent.runtime.reload import restart_needed
    from edge_agent.web.auth import UsersFile

    site = tmp_path / "site"
    site.mkdir()
    path = site / "config.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "data_dir": str(tmp_path / "data"), "web": {"enabled": True},
                                    "mqtt": {"username": "d1", "password_file": "mqtt-password"}}),
                    encoding="utf-8")
    UsersFile(site / "users.txt").set("li.wei", "a-long-password-15")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("site/config.yaml"))
    assert cfg.web.file(cfg.web.users_file, cfg.source_path) == site / "users.txt"
    assert cfg.mqtt.password_file == str(site / "mqtt-password")
    assert restart_needed(cfg, load_config(path)) == []
    assert cli.main(["users", "list", "--config", "site/config.yaml"]) == 0
    assert "li.wei" in capsys.readouterr().out


def test_a_relative_camera_file_that_worked_from_the_working_folder_is_named(tmp_path, monkeypatch, capsys):
    """0.14.0 read ``camera.source: frames`` in the working folder; 0.15.0 reads it beside the config. On the upgrade
    probe's site (the frames in the folder ``run`` started in, simulated locks) ``check-config`` said ok, exit 0,
    and ``run`` saw no frame: the path it reads and why are said, still exit 0 (a recording to come is allowed)."""
    (tmp_path / "frames").mkdir()
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "config.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "camera": {**GOOD["camera"], "source": "frames"},
                                    "data_dir": str(tmp_path / "data")}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"note: camera.source: no file or folder {tmp_path / 'etc' / 'frames'}" in out, out
    assert "config file's folder's" in out
    (tmp_path / "etc" / "frames").mkdir()
    assert cli.main(["check-config", str(path)]) == 0
    assert "note:" not in capsys.readouterr().out


@pytest.mark.parametrize("text", ["site:\n\tsite_id: s1\n", "site:\n  site_id: s1\n  device_id:\td1\n"])
def test_a_tab_in_the_yaml_is_named_as_a_tab(tmp_path, text):
    """PyYAML says "found character '\\t' that cannot start any token": an installer does not see a tab."""
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith("(yaml): line ") and "a tab character" in problem and "spaces" in problem, problem


@pytest.mark.parametrize("flag", ["--config", "-c"])
def test_check_config_takes_the_config_as_every_other_command_does(capsys, flag):
    """``run``, ``doctor``, ``review``, ``stats`` take ``--config FILE``; ``check-config --config FILE`` was refused
    with the top level's usage and "unrecognized arguments: --config", no word of check-config's (probe newuser36).
    Both forms check the file; none, or two, is one usage line, exit 2."""
    demo = str(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")
    assert cli.main(["check-config", flag, demo]) == 0
    assert f"{demo}: ok" in capsys.readouterr().out
    for argv in (["check-config"], ["check-config", demo, flag, demo]):
        with pytest.raises(SystemExit) as stop:
            cli.main(argv)
        assert stop.value.code == 2
        assert "check-config: error: name the config file once" in capsys.readouterr().err


def test_check_config_and_doctor_warn_of_a_required_device_or_site_without_signing(tmp_path, capsys, monkeypatch):
    """``mqtt.command_site: required`` (or ``command_device``) without a signing key binds nothing: whoever may publish
    names any site and device, and check-config said ok with no word of it. A warning line (exit 0: it runs), and
    doctor's ``commands`` row warns; with a key both are quiet, and a warning names which requirement it is."""
    from edge_agent.ops.broker_check import check_commands

    def config(name: str, **mqtt: object) -> Path:
        path = tmp_path / name
        body = {**GOOD, "data_dir": str(tmp_path / "data"), "mqtt": {"enabled": True, **mqtt}}
        path.write_text(yaml.safe_dump(body), encoding="utf-8")
        return path

    unsigned = config("unsigned.yaml", command_site="required", command_device="required")
    assert cli.main(["check-config", str(unsigned)]) == 0
    out = capsys.readouterr().out
    assert "warning: mqtt.command_device and mqtt.command_site: required without a signing key" in out, out
    (row,) = check_commands(load_config(unsigned))
    assert row.status == "warn" and "bind nothing" in row.detail and "hmac_secret_file" in row.detail, row
    monkeypatch.setenv("EDGE_TEST_CMD_KEY", "k" * 32)
    signed = config("signed.yaml", command_site="required", hmac_secret_env="EDGE_TEST_CMD_KEY")
    assert cli.main(["check-config", str(signed)]) == 0
    assert "warning" not in capsys.readouterr().out
    (row,) = check_commands(load_config(signed))
    assert row.status == "pass" and "site required" in row.detail, row
    (row,) = check_commands(load_config(config("plain.yaml")))
    assert row.status == "pass" and "unsigned" in row.detail, row


def test_check_config_and_doctor_name_a_presence_sensor_whose_dead_state_reads_clear(tmp_path, caplog):
    """A digital sensor, ``pin_active: vehicle``, no health line: its "clear" is also what it says dead, so the restart's
    wait cannot take its word for an empty bay (docs/locks.md, ``bay_redrawn``). Both commands say so, naming the key,
    before the wait costs the operator an arm left down; a warning only: the exit code is unchanged."""
    lock = {"id": "L1", "bay": GOOD["bays"][0]["id"], "driver": "gpiozero",
            "motor": {"up": {"pin": 17}, "down": {"pin": 27}}, "switches": {"down": {"pin": 22}, "up": {"pin": 23}},
            "presence": {"kind": "digital", "pin": {"pin": 24}}}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "data_dir": str(tmp_path / "data"), "locks": [lock]}), encoding="utf-8")
    mark = "locks[0].presence.pin_active (L1): vehicle with no health_pin"
    assert cli.main(["check-config", str(path)]) == 0
    assert sum(mark in r.getMessage() for r in caplog.records) == 1, caplog.text
    caplog.clear()
    skip = [a for name in ("camera", "models", "onnx providers", "broker", "web", "gpio", "disk", "service sandbox",
                           "clock") for a in ("--skip", name)]
    assert cli.main(["doctor", "--config", str(path), *skip]) == 0
    assert sum(mark in r.getMessage() for r in caplog.records) == 1, caplog.text
