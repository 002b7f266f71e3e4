"""YAML 1.1's implicit types, as an installer meets them: what was written is what is refused, and why.

The probe's finds: ``pin: 012`` (a wiring table padded to two digits, GPIO12 meant) was octal, GPIO10, without a
word; ``width: 16:00`` was 960 (base 60) and ``0x3c0`` 960; ``quiet_hours.start: 22:00`` unquoted was
"Input should be a valid string" (YAML made it 1320) and ``id: on`` / ``id: NO`` / ``id: 01`` the same;
``max_mb: 1e4`` was "Input should be a valid number" (YAML 1.1 reads an exponent without a dot and a sign as text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config

BASE = """site: {{site_id: s1, device_id: d1}}
camera: {{source: 'rtsp://cam/1', width: 640, height: 480{camera}}}
bays:
  - {{id: {bay_id}, polygon: [[10, 10], [300, 10], [300, 470], [10, 470]]{bay}}}
data_dir: {data}
{extra}"""
LOCK = """locks:
  - id: L1
    bay: A
    driver: gpiozero
    motor: {{up: {{pin: {up}}}, down: {{pin: 27}}}}
    switches: {{down: {{pin: 22}}, up: {{pin: 23}}}}
    presence: {{pin: {{pin: 24}}}}
"""
SINK = """notify:
  sinks:
    - {{name: ops, kind: webhook, url: 'https://example.com/h', quiet_hours: {{start: {start}, end: '07:00'}}}}
"""


def _load(tmp_path: Path, camera: str = "", bay_id: str = "A", bay: str = "", extra: str = ""):
    path = tmp_path / "config.yaml"
    path.write_text(BASE.format(camera=camera, bay_id=bay_id, bay=bay, extra=extra, data=tmp_path / "data"),
                    encoding="utf-8")
    return load_config(path)


def _problems(tmp_path: Path, **parts: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, **parts)
    return exc.value.problems


@pytest.mark.parametrize(("parts", "expected"), [
    ({"extra": LOCK.format(up="012")}, "locks[0].motor.up.pin: 012 is read by YAML 1.1 as an octal number (10, not 12): "
                                       "write numbers without a leading 0, and a text (an id, a time) in quotes ('012')"),
    ({"camera": ", fps: 010"}, "camera.fps: 010 is read by YAML 1.1 as an octal number (8, not 10)"),
    ({"camera": ", fps: 05"}, "camera.fps: 05 is read by YAML 1.1 as an octal number (the same 5 here, but 010 would "
                              "be 8): write numbers without a leading 0"),
    ({"bay_id": "010"}, "bays[0].id: 010 is read by YAML 1.1 as an octal number (8, not 10): write numbers without a "
                        "leading 0, and a text (an id, a time) in quotes ('010')"),
    ({"extra": "timers: {overstay_s: 1:30}"}, "timers.overstay_s: 1:30 is read by YAML 1.1 as the base 60 number 90: "
                                             "write numbers in decimal"),
    ({"extra": "timers: {fuel_grace_s: 2:00.5}"}, "timers.fuel_grace_s: 2:00.5 is read by YAML 1.1 as the base 60 "
                                                  "number 120.5"),
    ({"extra": "timers: {fuel_grace_s: 0x78}"}, "timers.fuel_grace_s: 0x78 is read by YAML 1.1 as the hexadecimal "
                                                "number 120: write numbers in decimal"),
    ({"extra": SINK.format(start="22:00")}, "notify.sinks[0].quiet_hours.start: 22:00 is read by YAML 1.1 as the base "
                                            "60 number 1320: write numbers in decimal, and a text (an id, a time) in "
                                            "quotes ('22:00')"),
])
def test_a_number_yaml_reads_in_another_base_is_refused_saying_what_it_became(tmp_path, parts, expected):
    assert any(p.startswith(expected) for p in _problems(tmp_path, **parts)), _problems(tmp_path, **parts)


def test_decimal_numbers_and_quoted_texts_still_pass(tmp_path):
    cfg = _load(tmp_path, camera=", fps: .5, reconnect_max_s: 1_0", bay_id="'010'",
                extra="evidence: {max_mb: 1.0e+3, min_free_mb: 0}\n" + SINK.format(start="'22:00'"))
    assert (cfg.camera.fps, cfg.camera.reconnect_max_s, cfg.bays[0].id) == (0.5, 10, "010")
    assert (cfg.evidence.max_mb, cfg.evidence.min_free_mb) == (1000.0, 0)
    assert cfg.notify.sinks[0].quiet_hours.start == "22:00"
    quiet = _load(tmp_path, extra=SINK.format(start="'7:30'")).notify.sinks[0].quiet_hours  # as the trap's advice says
    assert (quiet.start, quiet.end) == ("07:30", "07:00")
    assert _load(tmp_path, extra=LOCK.format(up="12")).locks[0].motor.up.pin == 12


@pytest.mark.parametrize(("parts", "expected"), [
    ({"bay_id": "on"}, "bays[0].id: Input should be a valid string: YAML 1.1 read this as true (yes, no, on, off, "
                       "true, false unquoted are true / false): put the text in quotes"),
    ({"bay_id": "NO"}, "bays[0].id: Input should be a valid string: YAML 1.1 read this as false"),
    ({"camera": ", flip: off"}, "camera.flip: Input should be 'none', 'horizontal' or 'vertical': YAML 1.1 read this "
                                "as false"),
    ({"bay_id": "1"}, "bays[0].id: Input should be a valid string: YAML read this as the number 1: put the text in "
                      "quotes ('1')"),
    ({"bay": ", charger_id: 2.5"}, "bays[0].charger_id: Input should be a valid string: YAML read this as the number "
                                   "2.5"),
    ({"bay_id": "2024-06-01"}, "bays[0].id: Input should be a valid string: YAML 1.1 read this as the date "
                               "2024-06-01: put the text in quotes"),
    ({"extra": "evidence: {max_mb: 1e4}"}, "evidence.max_mb: Input should be a valid number: '1e4' is text, not a "
                                           "number (a number goes without quotes, and YAML 1.1 reads an exponent only "
                                           "with a dot and a sign: 1.0e+3): write 10000"),
    ({"extra": "evidence: {max_mb: 2.5e1}"}, "evidence.max_mb: Input should be a valid number: '2.5e1' is text"),
    ({"extra": "evidence: {max_mb: 1e300}"}, "write 1.0e+300"),
    ({"extra": "occupancy: {confirm_frames: '3'}"}, "occupancy.confirm_frames: Input should be a valid integer: '3' is "
                                                    "text, not a number"),
    ({"camera": ", fps:"}, "camera.fps: empty (nothing after the colon, or null): input should be a valid number"),
    ({"camera": ", loop: 'yes'"}, "camera.loop: Input should be a valid boolean: this is text; write true or false "
                                  "without quotes"),
    # a number key given yes / on / true: it said only "Input should be a valid number", not what YAML made of it
    ({"camera": ", fps: yes"}, "camera.fps: Input should be a valid number: YAML 1.1 read this as true (yes, no, on, "
                               "off, true, false unquoted are true / false): write a number"),
    ({"extra": "occupancy: {confirm_frames: off}"}, "occupancy.confirm_frames: Input should be a valid integer: YAML "
                                                    "1.1 read this as false"),
])
def test_a_value_yaml_typed_otherwise_says_what_yaml_made_of_it(tmp_path, parts, expected):
    found = _problems(tmp_path, **parts)
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_a_key_is_the_text_written(tmp_path):
    """The documented ``simulator.script[].on`` written as YAML writes keys (unquoted) was the bool true: refused as
    ``locks[0].simulator.script[0].stall[1]: Keys should be strings``; a stray ``yes:`` was named ``[1]``."""
    script = ("locks:\n  - {id: L1, bay: A, driver: simulator, simulator: {script: [{at_s: 5, action: stall, on: false},"
              " {at_s: 9, action: power-loss, on: true}]}}\n")
    steps = _load(tmp_path, extra=script).locks[0].simulator.script
    assert [(s.action, s.on) for s in steps] == [("stall", False), ("power-loss", True)]
    assert _problems(tmp_path, camera=", yes: 1") == ["camera.yes: unknown key (not a setting of this section; check "
                                                      "the spelling)"]
    assert _problems(tmp_path, extra="1: x") == ["1: unknown key (not a setting of this section; check the spelling)"]
    assert _problems(tmp_path, camera=", on: 1, On: 2") == [
        "camera.on: unknown key (not a setting of this section; check the spelling)",
        "camera.On: unknown key (not a setting of this section; check the spelling)"]


@pytest.mark.parametrize(("bay_id", "expected"), [
    ("'A/1'", "bays[0].id: '/' cannot be in an id: it goes into MQTT topics and file names, so only letters A–Z a–z, "
              "digits and _ . - (a Chinese name belongs in a comment)"),
    ("'A 1#'", "bays[0].id: a space '#' cannot be in an id"),
    ("充电位1", "bays[0].id: '充' '电' '位' cannot be in an id"),
    ("'..'", "bays[0].id: '..' is no id: dots alone"),  # the page's snapshot form for it posted to /snapshot
    ("'.'", "bays[0].id: '.' is no id: dots alone"),
])
def test_an_id_names_the_characters_it_cannot_hold(tmp_path, bay_id, expected):
    """Was "String should match pattern '^[A-Za-z0-9_.-]+$'": a regular expression, to a Chinese installer."""
    assert _problems(tmp_path, bay_id=bay_id)[0].startswith(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("site:\n  site_id: s1\n  device_id：d1\n  timezone: UTC\n",
     "(yaml): line 4, column 3: could not find expected ':'; it holds '：' (U+FF1A) for ':': a full-width or typographic "
     "character (a Chinese input method's, a word processor's) is not YAML syntax; type the ASCII one"),
    ("site:\n  site_id： s1\n", "site: Input should be a section of settings (`key: value` lines indented under "
     "it), not 'site_id： s1': it holds '：'"),
    ("site:\n\u3000\u3000site_id: s1\n  device_id: d1\n", "it holds '\\u3000' (U+3000) for a space"),
    ("site: {site_id: s1, device_id: d1}\ncamera: {source: “rtsp://cam/1”}\n", "'“' (U+201C) for '\"', '”' (U+201D) for '\"'"),
    ("site: {site_id: s1, device_id: d1}\ncamera: {source: x}\nbays: [{id: A, polygon: [[60，200], [9, 9], [9, 1]]}]\n",
     "bays[0].polygon[0][0]: Input should be a valid number: it holds '，' (U+FF0C) for ','"),
])
def test_a_full_width_character_where_yaml_wants_its_own_is_named(tmp_path, text, expected):
    """A Chinese input method types ：，［ and the ideographic space for : , [ and a space: the error was "could not
    find expected ':'" or "Input should be a valid number", on a line that looked right."""
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(p.startswith(expected) or (expected in p and "U+" in p) for p in exc.value.problems), exc.value.problems


def test_a_full_width_colon_in_a_comment_is_no_hint(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("site:\n  # 站点：一号楼\n  site_id s1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "U+FF1A" not in exc.value.problems[0], exc.value.problems
