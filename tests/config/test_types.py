"""Config values are taken as YAML typed them: nothing is converted, a bool is never a number.

The probe's finds: ``camera.fps: true`` ran at 1 fps, ``true`` in a polygon was pixel 1, ``web.port: "8080"`` and
``camera.loop: "yes"`` were accepted; ``data_dir: ""`` made ``run`` write into the working directory and
``data_dir: /etc/passwd`` gave an error that did not name ``data_dir``; two bays drawn with one outline passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, parse_config

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]},
             {"id": "B", "polygon": [[320, 10], [630, 10], [630, 470], [320, 470]]}],
}


def problems(section: str, key: str | None, value: object) -> list[str]:
    data = {**GOOD, section: {**GOOD.get(section, {}), key: value}} if key else {**GOOD, section: value}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return exc.value.problems


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("camera", "fps", True, "camera.fps: Input should be a valid number"),
    ("camera", "width", True, "camera.width: Input should be a valid integer"),
    ("camera", "width", 640.0, "camera.width: Input should be a valid integer"),
    ("camera", "loop", "yes", "camera.loop: Input should be a valid boolean"),
    ("camera", "loop", 1, "camera.loop: Input should be a valid boolean"),
    ("web", "port", "8080", "web.port: Input should be a valid integer"),
    ("timers", "fuel_grace_s", "120", "timers.fuel_grace_s: Input should be a valid number"),
    ("mqtt", "enabled", "true", "mqtt.enabled: Input should be a valid boolean"),
])
def test_values_are_not_converted(section, key, value, expected):
    found = problems(section, key, value)
    assert any(p.startswith(expected) for p in found), found


def test_a_bool_in_a_polygon_or_as_a_pin_is_refused():
    bays = [{"id": "A", "polygon": [[True, 1], [200, 3], [4, 500]]}]
    assert problems("bays", None, bays) == ["bays[0].polygon[0][0]: Input should be a valid number: YAML 1.1 read "
                                            "this as true (yes, no, on, off, true, false unquoted are true / false): "
                                            "write a number"]
    lock = {"id": "L1", "bay": "A", "driver": "gpiozero", "motor": {"up": {"pin": True}, "down": {"pin": 27}},
            "switches": {"down": {"pin": 22}, "up": {"pin": 23}}}
    out = problems("locks", None, [lock])
    # one line at the key as written (it was two, ``pin.int: …`` and ``pin.constrained-str: …``: pydantic's names)
    assert out == ["locks[0].motor.up.pin: Input should be a whole number or text: YAML 1.1 read this as true (yes, "
                   "no, on, off, true, false unquoted are true / false)"], out


def test_what_yaml_writes_for_numbers_and_pairs_still_passes():
    cfg = parse_config({**GOOD, "camera": {**GOOD["camera"], "fps": 5, "reconnect_max_s": 30}, "web": {"port": 0}})
    assert cfg.camera.fps == 5.0 and cfg.bays[0].polygon[0] == (10.0, 10.0) and cfg.web.port == 0


def test_data_dir_must_be_a_folder_or_not_exist_yet(tmp_path):
    assert problems("data_dir", None, "") == ["data_dir: String should have at least 1 character"]
    f = tmp_path / "file"
    f.write_text("x")
    assert problems("data_dir", None, str(f)) == [
        f"data_dir: {f} exists and is not a folder (the agent keeps its data, outbox and overrides there)"]
    assert parse_config({**GOOD, "data_dir": str(tmp_path / "new")}).data_dir == str(tmp_path / "new")


def test_data_dir_that_is_a_file_is_named_by_load_config(tmp_path):
    from edge_agent.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(f"site: {{site_id: s1, device_id: d1}}\ncamera: {{source: '0'}}\n"
                    f"bays: [{{id: A, polygon: [[0, 0], [10, 0], [10, 10]]}}]\ndata_dir: {Path('/etc/passwd')}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems == ["data_dir: /etc/passwd exists and is not a folder (the agent keeps its data, "
                                  "outbox and overrides there)"]


SAME = [{"id": "A", "polygon": [[60, 200], [460, 200], [470, 430], [30, 430]]},
        {"id": "B", "polygon": [[460, 200], [470, 430], [30, 430], [60, 200]]}]  # same corners, other start


def test_two_bays_with_one_outline_are_refused_when_a_lock_guards_either():
    """A copied bay: the second bay's lock would rise on what the first bay's view says."""
    data = {**GOOD, "bays": SAME, "locks": [{"id": "L1", "bay": "B", "driver": "simulator"}]}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert exc.value.problems == ["bays[1].polygon: the same outline as bays[0] ('A'): one bay's view would decide "
                                  "both, and a lock rises only on its own bay's view"]


def test_two_bays_with_one_outline_and_no_lock_are_a_warning(caplog):
    parse_config({**GOOD, "bays": SAME})
    assert "bays[1].polygon (B): the same outline as bays[0] ('A'); one car will be reported in both" in caplog.text


def test_quiet_hours_longer_than_a_sinks_max_age_are_a_warning_naming_both(caplog):
    """Nothing compared them: a sink quiet 22:00-07:00 with ``max_age_h: 6`` sent every alert that came in before
    01:00 to the dead letters at 07:00, unsent and unsaid until then. Said at load (check-config, run), not
    refused: the window's last hours still go out, and an upgrade must not stop on a config that ran before."""
    sink = {"name": "ops", "kind": "webhook", "url": "https://example.com/h", "max_age_h": 6,
            "quiet_hours": {"start": "22:00", "end": "07:00"}}
    parse_config({**GOOD, "notify": {"sinks": [sink]}})
    assert ("notify.sinks[0] (ops): max_age_h 6 is not above its quiet_hours 22:00-07:00 (9 h): an alert that comes "
            "in more than 6 h before 07:00 is that old when the window ends") in caplog.text
    caplog.clear()
    parse_config({**GOOD, "notify": {"sinks": [{**sink, "max_age_h": 9.5}, {**sink, "name": "all", "max_age_h": 0},
                                               {**sink, "name": "day", "quiet_hours": {"start": "01:00",
                                                                                        "end": "06:30"}},
                                               {**sink, "name": "bot", "kind": "wecom", "url": None,
                                                "secret_env": "BOT_KEY", "max_age_h": None}]}})
    assert "quiet_hours" not in caplog.text  # above it, no limit, a 5.5 h window, a robot's default 24 h


def test_a_lock_without_a_presence_sensor_is_a_warning(caplog):
    """Allowed (the interlock still asks the camera for positive evidence), but its only witness is a classifier
    that misreads some parked cars on a lot it never saw: said at load, with the way out."""
    lock = {"id": "L1", "bay": "A", "driver": "gpiozero", "motor": {"up": {"pin": 17}, "down": {"pin": 27}},
            "switches": {"down": {"pin": 22}, "up": {"pin": 23}}}
    parse_config({**GOOD, "locks": [lock]})
    assert "locks[0].presence (L1): none fitted, so the arm rises on the camera's word alone" in caplog.text
    caplog.clear()
    parse_config({**GOOD, "locks": [{**lock, "presence": {"kind": "digital", "pin": {"pin": 24}, "pin_active": "clear"}}]})
    parse_config({**GOOD, "locks": [{**lock, "policy": {"auto_raise": False}}]})
    assert "presence" not in caplog.text


def test_a_digital_presence_sensor_whose_dead_state_reads_clear_is_a_warning(caplog):
    """A digital sensor whose active output means "vehicle", with no health line, reads "clear" cut, unpowered or
    dead: after a restart its record cannot vouch for an empty bay (docs/locks.md, ``bay_redrawn``), so a bay whose
    car left during the stop keeps its arm down until the next car has come and gone. Allowed, but said at load with
    the key and the fix; a sensor that must actively report "clear" is not named."""
    lock = {"id": "L1", "bay": "A", "driver": "gpiozero", "motor": {"up": {"pin": 17}, "down": {"pin": 27}},
            "switches": {"down": {"pin": 22}, "up": {"pin": 23}}}
    digital = {"kind": "digital", "pin": {"pin": 24}}
    cfg = parse_config({**GOOD, "locks": [{**lock, "presence": digital}]})
    (said,) = [w for w in cfg.warnings if "pin_active" in w]
    assert said.startswith("locks[0].presence.pin_active (L1): vehicle with no health_pin: a cut wire or a dead "
                           "sensor reads as an empty bay"), said
    assert "restart" in said and "pin_active: clear" in said and "health_pin" in said
    assert said in caplog.text
    caplog.clear()
    cfg = parse_config({**GOOD, "locks": [{**lock, "presence": {**digital, "pin_active": "clear"}}]})
    assert not cfg.warnings, cfg.warnings
    # a health line watches the module, not the output's own wire, which alone coming loose reads "clear" with the
    # health line OK: named too, with only the fail-safe wiring as its fix (probe locks45)
    (said,) = parse_config({**GOOD, "locks": [{**lock, "presence": {**digital, "health_pin": {"pin": 5}}}]}).warnings
    assert said.startswith("locks[0].presence.pin_active (L1): vehicle, with a health_pin: its output wire alone "
                           "coming loose reads as an empty bay"), said
    assert "restart" in said and "pin_active: clear" in said
    # an ultrasonic module that hears no echo answers "clear" (probe review103): named too, by its kind
    (said,) = parse_config({**GOOD, "locks": [{**lock, "presence": {"kind": "ultrasonic", "trigger": 5, "echo": 6}}]}
                           ).warnings
    assert said.startswith("locks[0].presence.kind (L1): ultrasonic: a module that hears no echo"), said
    assert "restart" in said and "pin_active: clear" in said
    caplog.clear()
    simulated = {"id": "L1", "bay": "A", "driver": "simulator", "presence": digital}
    assert not parse_config({**GOOD, "locks": [simulated]}).warnings
    assert "pin_active" not in caplog.text


@pytest.mark.parametrize(("section", "value", "expected"), [
    ("mqtt", {"brokers": ["mqtt://h ost:1883"]}, "mqtt.brokers: 'mqtt://h ost:1883': 'h ost' is not a host name or IP address"),
    ("mqtt", {"brokers": ["mqtt://999.1.1.1:1883"]}, "mqtt.brokers: 'mqtt://999.1.1.1:1883': '999.1.1.1' is not a host "
                                                     "name or IP address"),
    ("mqtt", {"brokers": ["mqtt://[::1:1883"]}, "mqtt.brokers: 'mqtt://[::1:1883': Invalid IPv6 URL"),
    ("web", {"host": "not a host"}, "web.host: 'not a host' is not a host name or IP address (a bind address such as "
                                    "127.0.0.1, 0.0.0.0 or ::)"),
    ("ops", {"metrics": {"host": "0.0.0.0.0"}}, "ops.metrics.host: '0.0.0.0.0' is not a host name or IP address (a "
                                                "bind address such as 127.0.0.1, 0.0.0.0 or ::)"),
])
def test_a_host_that_is_no_name_or_address_is_refused_by_check_config(section, value, expected):
    """``mqtt://h ost:1883`` passed and then failed to resolve on every reconnect; ``web.host: not a host``
    passed and stopped ``run`` (a ``gaierror`` traceback then)."""
    assert problems(section, None, value) == [expected]


@pytest.mark.parametrize(("section", "value"), [
    ("mqtt", {"brokers": ["mqtt://broker_1.lan:1883", "mqtt://[::1]", "mqtt://主机.中国"]}),
    ("web", {"host": ""}), ("web", {"host": "::"}), ("web", {"host": "localhost"}),
    ("ops", {"metrics": {"host": "0.0.0.0"}}),
])
def test_names_addresses_and_every_interface_still_pass(section, value):
    parse_config({**GOOD, section: value})


@pytest.mark.parametrize(("section", "value", "expected"), [
    ("site", {"site_id": "s" * 70_000, "device_id": "d1"}, "site.site_id: String should have at most 64 characters"),
    ("site", {"site_id": "s1", "device_id": "d" * 65}, "site.device_id: String should have at most 64 characters"),
    ("bays", [{"id": "B" * 65, "polygon": [[0, 0], [10, 0], [10, 10]]}], "bays[0].id: String should have at most 64 "
                                                                       "characters"),
    ("locks", [{"id": "L" * 65, "bay": "A"}], "locks[0].id: String should have at most 64 characters"),
])
def test_ids_that_go_into_topics_and_file_names_have_a_ceiling(section, value, expected):
    """A 70,000-character site_id passed check-config, then the MQTT link's thread died packing a topic over
    65,535 bytes (``struct.error``): nothing was ever published."""
    assert expected in problems(section, None, value)


@pytest.mark.parametrize(("section", "value", "expected"), [
    ("mqtt", {"username": "u" * 70_000}, "mqtt.username: String should have at most 4096 characters"),
    ("camera", {"source": "rtsp://cam/" + "x" * 5000}, "camera.source: String should have at most 4096 characters"),
    ("lists", {"allow": ["粤B12345" * 1000]}, "lists.allow[0]: String should have at most 4096 characters"),
])
def test_every_text_value_has_a_ceiling(section, value, expected):
    """A 70,000-character mqtt.username passed check-config and then killed the MQTT link's thread packing the
    CONNECT (``struct.error``): nothing was published."""
    assert expected in problems(section, None, value)


@pytest.mark.parametrize(("zone", "said"), [("Etc/GMT+8", "Etc/GMT+8 is UTC-08:00"), ("Etc/GMT-8", "Etc/GMT-8 is UTC+08:00")])
def test_an_etc_gmt_zone_is_said_with_its_real_offset(caplog, zone, said):
    """``Etc/GMT+8``, written for China, is eight hours behind UTC (POSIX sign): quiet hours and each day's
    statistics ran 16 hours off, the page showed -08:00, and nothing said why."""
    parse_config({**GOOD, "site": {**GOOD["site"], "timezone": zone}})
    assert f"site.timezone: {said} (the tz database's Etc/GMT zones carry the POSIX sign" in caplog.text
    caplog.clear()
    for quiet in ("Asia/Shanghai", "Etc/GMT", "Etc/GMT+0", "UTC"):
        parse_config({**GOOD, "site": {**GOOD["site"], "timezone": quiet}})
    assert "site.timezone" not in caplog.text
