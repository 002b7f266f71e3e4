"""Secret files (``mqtt.password_file`` / ``hmac_secret_file``, ``notify.sinks[].secret_file`` /
``sign_secret_file``): what an operator puts there is read as the secret, or refused in one line naming the key.

The probe's finds: a binary key (``head -c 32 /dev/urandom > key``) as ``password_file`` or a sink's
``secret_file`` was a ``UnicodeDecodeError`` traceback at every start (exit 1, where a config problem is exit 2);
a FIFO hung the start; ``/dev/zero`` grew without end; a file saved by Windows Notepad (a UTF-8 byte-order mark)
sent the mark as part of the password (the broker's "not authorized") and of the signing key (every command
``bad_signature``).
"""

from __future__ import annotations

import os

import pytest

from edge_agent.config import ConfigError, parse_config
from edge_agent.config.mqtt import MAX_SECRET_FILE_BYTES, SecretError, read_secrets

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
}


def _mqtt(**keys: object):
    return parse_config({**GOOD, "mqtt": {"enabled": True, "username": "u", **keys}}).mqtt


def _sink(**keys: object):
    sink = {"name": "hook", "kind": "webhook", "url": "https://example.com/h", **keys}
    return parse_config({**GOOD, "notify": {"sinks": [sink]}}).notify.sinks[0]


def _fifo(tmp_path):
    path = tmp_path / "fifo.key"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(("make", "why"), [
    (lambda tmp: (tmp / "bin.key").write_bytes(b"\x00\x84\xfe\x10" * 8) and tmp / "bin.key", "is not UTF-8 text"),
    (lambda tmp: tmp, "is not a regular file"),
    (_fifo, "is not a regular file"),
    (lambda tmp: "/dev/zero", "is not a regular file"),
    (lambda tmp: (tmp / "big.key").write_text("k" * (MAX_SECRET_FILE_BYTES + 1)) and tmp / "big.key",
     "is larger than 64 KiB"),
])
@pytest.mark.parametrize("key", ["mqtt.password_file", "mqtt.hmac_secret_file",
                                 "notify.sinks[0].secret_file", "notify.sinks[0].sign_secret_file"])
def test_a_secret_file_that_cannot_hold_a_secret_is_refused_naming_its_key(tmp_path, make, why, key):
    path = str(make(tmp_path))
    with pytest.raises(SecretError) as exc:
        if key.startswith("mqtt."):
            read_secrets(_mqtt(**{key.removeprefix("mqtt."): path}))
        else:
            name = key.rsplit(".", 1)[1]
            robot = {"kind": "dingtalk", "url": None, "secret_env": "HOME"} if name == "sign_secret_file" else {}
            _sink(**robot, **{name: path}).secrets(0)
    assert exc.value.key == key
    assert str(exc.value).startswith(f"{key}: {path} {why}")


def test_a_byte_order_mark_and_windows_line_ends_are_not_part_of_the_secret(tmp_path):
    pw = tmp_path / "pw.txt"
    pw.write_bytes("\ufeffs3cret\r\n".encode())
    keys = tmp_path / "hmac.key"
    keys.write_bytes("\ufeffnew-key\r\nold-key\r\n".encode())
    hook = tmp_path / "hook.key"
    hook.write_bytes("\ufeffhook-key\r\n".encode())
    secrets = read_secrets(_mqtt(password_file=str(pw), hmac_secret_file=str(keys)))
    assert secrets.password == "s3cret"
    assert (secrets.hmac_key, secrets.hmac_previous) == (b"new-key", b"old-key")
    assert _sink(secret_file=str(hook)).secrets(0)[0] == "hook-key"


@pytest.mark.parametrize(("keys", "problem"), [
    ({"mqtt": {"enabled": True, "hmac_secret_env": ""}}, "mqtt.hmac_secret_env: '' is not an environment variable name"),
    ({"mqtt": {"enabled": True, "username": "u", "password_env": ""}}, "mqtt.password_env: '' is not an environment"),
    ({"mqtt": {"enabled": True, "username": "u", "password_env": "MQTT PW"}}, "mqtt.password_env: 'MQTT PW' is not"),
    ({"notify": {"sinks": [{"name": "r", "kind": "wecom", "secret_env": ""}]}}, "notify.sinks[0].secret_env: '' is not"),
    ({"mqtt": {"enabled": True, "username": "u", "password_file": ""}}, "mqtt.password_file: empty: name a file"),
    ({"mqtt": {"enabled": True, "hmac_secret_file": " "}}, "mqtt.hmac_secret_file: empty: name a file"),
    ({"mqtt": {"brokers": ["mqtts://h:8883"], "tls": {"ca_file": ""}}}, "mqtt.tls.ca_file: empty: name a file"),
])
def test_an_empty_secret_name_is_refused_not_read_as_no_secret(keys, problem):
    """``hmac_secret_env: ""`` (a template that rendered nothing) turned command signing off: every command was taken
    unsigned, without a word; ``password_env: ""`` logged in without the password; ``password_file: ""`` was the
    config's own folder."""
    with pytest.raises(ConfigError) as exc:
        parse_config({**GOOD, **keys})
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems


@pytest.mark.parametrize(("keys", "problem"), [
    ({"web": {"users_file": ""}}, "web.users_file: empty: name a file"),
    ({"web": {"session_secret_file": ""}}, "web.session_secret_file: empty: name a file"),
    ({"perception": {"models_dir": ""}}, "perception.models_dir: String should have at least 1 character"),
])
def test_an_empty_file_or_folder_key_is_refused(keys, problem):
    """``web.users_file: ""`` was the config's own folder: ``users list`` and ``review`` ended in an
    ``IsADirectoryError`` traceback, every login of the page in a 500."""
    with pytest.raises(ConfigError) as exc:
        parse_config({**GOOD, **keys})
    assert exc.value.problems[0].startswith(problem), exc.value.problems
