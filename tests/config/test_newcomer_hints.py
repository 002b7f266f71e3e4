"""An operator's first config, as probe newuser34 wrote one: each slip's line says what to write instead.

Before: a misspelt key was "unknown key … check the spelling" with the right name left to a 500-line table, and a
line indented one space short was PyYAML's "expected <block end>, but found '<block mapping start>'"."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config

GOOD = """site: {site_id: s1, device_id: d1, timezone: Asia/Urumqi}
camera:
  source: 'rtsp://cam/1'
  width: 960
  height: 540
bays:
  - {id: P01, polygon: [[20, 200], [170, 200], [170, 530], [20, 530]], lock_id: L1}
timers:
  fuel_grace_s: 60
locks:
  - {id: L1, driver: gpiozero, motor: {kind: relays, up: {pin: 17}, down: {pin: 27}},
     switches: {down: {pin: 22}, up: {pin: 23}}, presence: {kind: digital, pin: {pin: 24}}}
mqtt: {enabled: true, brokers: ['mqtts://127.0.0.1:8883'], tls: {ca_file: /etc/ca.pem}}
notify:
  sinks: [{name: m, kind: webhook, url: 'https://example.com/h', events: [violation_started]}]
"""


def _problems(tmp_path: Path, old: str, new: str) -> list[str]:
    assert old in GOOD
    path = tmp_path / "config.yaml"
    path.write_text(GOOD.replace(old, new, 1) + f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return exc.value.problems


def test_the_config_the_slips_are_made_in_is_valid(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    assert load_config(path).timers.fuel_grace_s == 60


@pytest.mark.parametrize(("old", "new", "line", "meant"), [
    ("fuel_grace_s: 60", "fuel_grace: 60", "timers.fuel_grace: unknown key", "fuel_grace_s"),  # unit suffix left off
    ("timers:", "timer:", "timer: unknown key", "timers"),  # a section in the singular
    ("timezone: Asia", "time_zone: Asia", "site.time_zone: unknown key", "timezone"),
    ("width: 960", "widht: 960", "camera.widht: unknown key", "width"),
    ("lock_id: L1", "lock: L1", "bays[0].lock: unknown key", "lock_id"),
    ("ca_file:", "ca:", "mqtt.tls.ca: unknown key", "ca_file"),
    ("brokers:", "broker:", "mqtt.broker: unknown key", "brokers"),
    ("down: {pin: 27}}", "down: {pin: 27}, upp: 3}", "locks[0].motor.upp: unknown key", "up"),  # a union's member
    ("presence:", "presense:", "locks[0].presense: unknown key", "presence"),
    ("events: [", "event: [", "notify.sinks[0].event: unknown key", "events"),
])
def test_a_misspelt_key_is_told_the_setting_it_was_probably_meant_to_be(tmp_path, old, new, line, meant):
    problems = _problems(tmp_path, old, new)
    assert problems == [f"{line} (not a setting of this section; check the spelling): did you mean {meant}?"]


@pytest.mark.parametrize(("old", "new", "line", "meant"), [
    ("camera:", "camra:", "camra: unknown key", "camera"),
    ("  - {id: P01, polygon:", "  - {id: P01, polygn:", "bays[0].polygn: unknown key", "polygon"),
    ("site_id: s1", "siteid: s1", "site.siteid: unknown key", "site_id"),
    ("{kind: relays, up:", "{kind: relays, upp:", "locks[0].motor.upp: unknown key", "up"),
])
def test_a_misspelt_required_key_is_one_line(tmp_path, old, new, line, meant):
    """A misspelt key that is required was two lines, the guess and pydantic's "camera: Field required" for the
    same slip (probe newuser40): one line, saying the key it was meant to be is required."""
    problems = _problems(tmp_path, old, new)
    assert problems == [f"{line} (not a setting of this section; check the spelling): did you mean {meant}? "
                        f"({meant} is required)"]


def test_a_misspelt_lock_id_is_one_line_naming_the_lock_meant(tmp_path):
    """``lock_id: L`` for ``L1`` was two lines: the bay's unknown lock and "lock 'L1' is not assigned to a bay", the
    second for the same slip (probe newuser40)."""
    problems = _problems(tmp_path, "lock_id: L1", "lock_id: L-1")
    assert problems == ["bays[0].lock_id: unknown lock 'L-1' (locks: L1): did you mean L1?"]
    problems = _problems(tmp_path, "lock_id: L1", "lock_id: X9")  # nothing like it: both lines stay
    assert problems == ["bays[0].lock_id: unknown lock 'X9' (locks: L1)",
                        "locks[0].bay: lock 'L1' is not assigned to a bay (set locks[].bay or the bay's lock_id)"]


@pytest.mark.parametrize(("old", "new", "line", "where"), [
    ("timers:\n  fuel_grace_s: 60", "fuel_grace_s: 60\ntimers:\n  overstay_s: 900", "fuel_grace_s", "timers.fuel_grace_s"),
    ("  width: 960", "  width: 960\n  overstay_s: 900", "camera.overstay_s", "timers.overstay_s"),
    ("{site_id: s1,", "{site_id: s1, ca_file: /etc/ca.pem,", "site.ca_file", "mqtt.tls.ca_file"),
])
def test_a_setting_written_in_another_section_is_told_where_it_belongs(tmp_path, old, new, line, where):
    """A right key in the wrong section (indented under the section above, or not at all) was "unknown key … check
    the spelling": spelt right, the operator read the docs' table to find its section (probe newuser40)."""
    problems = _problems(tmp_path, old, new)
    assert problems == [f"{line}: unknown key (not a setting of this section; check the spelling): a setting of "
                        f"another section: {where}"]


def test_a_key_of_several_sections_is_not_placed(tmp_path):
    problems = _problems(tmp_path, "  width: 960", "  width: 960\n  enabled: true")  # mqtt's? the web's? …
    assert problems == ["camera.enabled: unknown key (not a setting of this section; check the spelling)"]


def test_a_key_like_no_setting_is_not_given_a_guess(tmp_path):
    problems = _problems(tmp_path, "timers:", "colour: 1\ntimers:")
    assert problems == ["colour: unknown key (not a setting of this section; check the spelling)"]


@pytest.mark.parametrize(("old", "new", "start", "hint"), [
    ("  width: 960", " width: 960", "(yaml): line 4, column 2: expected <block end>",
     "this line does not line up with the lines above it"),
    ("  width: 960", "  width: 960: 1", "(yaml): line 4, column 13: mapping values are not allowed here",
     "a ': ' where no key can start"),
    ("  width: 960", "  width:960", "(yaml): line 5, column 3: could not find expected ':'",
     "on this line or the one above, a key without ': ' after it"),
    ("[violation_started]", "[violation_started", "(yaml): line 15, column 92: expected ',' or ']'",
     "a [ … ] list not closed on its line"),
    ("tls: {ca_file: /etc/ca.pem}", "tls: {ca_file: /etc/ca.pem", "(yaml): line 14, column 1: expected ',' or '}'",
     "a { … } mapping not closed on its line"),
])
def test_a_line_out_of_place_is_said_in_words(tmp_path, old, new, start, hint):
    (problem,) = _problems(tmp_path, old, new)
    assert problem.startswith(start) and f"; {hint}" in problem, problem


@pytest.mark.parametrize(("old", "new", "line"), [
    ("width: 960", "width: nine-sixty", "camera.width: Input should be a valid integer: 'nine-sixty' is text; write a "
                                        "number"),
    ("timers:\n  fuel_grace_s: 60", "timers: fuel_grace_s 60",
     "timers: Input should be a section of settings (`key: value` lines indented under it), not 'fuel_grace_s 60'"),
    ("timers:\n  fuel_grace_s: 60", "timers: [60]",
     "timers: Input should be a section of settings (`key: value` lines indented under it), not a list"),
])
def test_a_value_of_the_wrong_kind_says_what_was_written(tmp_path, old, new, line):
    """`fps: five` was "Input should be a valid number" alone; a section written as one line was "Input should be a
    valid dictionary or instance of TimersConfig", a class name no config file shows."""
    assert _problems(tmp_path, old, new) == [line]


@pytest.mark.parametrize("polygon", ["[20, 200, 170, 200, 170, 530, 20, 530]", "[[20, 200], 170, [170, 530], [20, 530]]"])
def test_a_polygon_written_as_bare_numbers_is_one_line_saying_how_to_write_it(tmp_path, polygon):
    """``polygon: [20, 200, 170, 200, …]`` (the points' brackets left out) was eight lines of "Input should be a
    valid tuple", one per number, a word the file never shows (probe newuser36). One line at the polygon's key."""
    problems = _problems(tmp_path, "[[20, 200], [170, 200], [170, 530], [20, 530]]", polygon)
    assert problems == ["bays[0].polygon: each point is [x, y], two numbers in brackets: write [[x, y], [x, y], …], "
                        "not bare numbers"], problems


def test_a_mask_written_as_bare_numbers_is_one_line_too(tmp_path):
    problems = _problems(tmp_path, "  height: 540\n", "  height: 540\n  masks: [[900, 10, 950, 10, 950, 40]]\n")
    assert problems == ["camera.masks[0]: each point is [x, y], two numbers in brackets: write [[x, y], [x, y], …], "
                        "not bare numbers"], problems


def test_one_plate_where_a_list_goes_says_to_put_it_in_brackets(tmp_path):
    """``allow: 粤B12345`` (one plate, no brackets) said only "Input should be a valid list" (probe newuser36)."""
    problems = _problems(tmp_path, "timers:\n", "lists:\n  allow: 粤B12345\ntimers:\n")
    assert problems == ["lists.allow: Input should be a valid list, not one value: a list goes in brackets, [a, b], "
                        "or one `- ` line per entry"], problems


@pytest.mark.parametrize(("old", "new", "key"), [
    ("polygon: [[20, 200], [170, 200], [170, 530], [20, 530]]", "polygon: '[[20, 200], [170, 200], [170, 530], [20, 530]]'",
     "bays[0].polygon"),
    ("events: [violation_started]", "events: \"[violation_started]\"", "notify.sinks[0].events"),
])
def test_a_list_written_in_quotes_says_to_take_the_quotes_off(tmp_path, old, new, key):
    """``polygon: '[[20, 200], …]'`` (a list in quotes: text to YAML) was told "not one value: a list goes in
    brackets, [a, b]" — the brackets were there; the quotes made it one text (probe review78)."""
    (problem,) = _problems(tmp_path, old, new)
    assert problem.startswith(f"{key}: ") and "quotes" in problem and "goes in brackets" not in problem, problem


@pytest.mark.parametrize(("old", "new", "key", "meant"), [
    ("driver: gpiozero", "driver: gpiozer", "locks[0].driver", "gpiozero"),
    ("driver: gpiozero", "driver: GPIOZero", "locks[0].driver", "gpiozero"),  # only the case differs
    ("kind: relays", "kind: relay", "locks[0].motor.kind", "relays"),
    ("kind: digital", "kind: digitl", "locks[0].presence.kind", "digital"),
    ("kind: webhook", "kind: webhok", "notify.sinks[0].kind", "webhook"),  # a tagged union's tag
    ("[violation_started]", "[violaton_started]", "notify.sinks[0].events", "violation_started"),
    ("source: 'rtsp:", "source: 'rtps:", "camera.source", "rtsp"),  # a scheme
    ("['mqtts:", "['mqqts:", "mqtt.brokers", "mqtts"),
    ("timezone: Asia/Urumqi", "timezone: Asia/Urumchi", "site.timezone", "Asia/Urumqi"),  # a time zone
])
def test_a_misspelt_choice_is_told_the_value_it_was_probably_meant_to_be(tmp_path, old, new, key, meant):
    """``driver: gpiozer`` was pydantic's "Input should be 'gpiozero', 'jetson' or 'simulator'" alone (probe
    newuser41): one line at the key, the choices, and the one a slip of the keyboard is nearest."""
    (problem,) = _problems(tmp_path, old, new)
    assert problem.startswith(f"{key}: ") and problem.endswith(f"did you mean '{meant}'?"), problem


def test_a_choice_like_none_of_the_values_is_not_given_a_guess(tmp_path):
    (problem,) = _problems(tmp_path, "driver: gpiozero", "driver: arduino")
    assert problem == "locks[0].driver: Input should be 'gpiozero', 'jetson' or 'simulator'", problem


@pytest.mark.parametrize("zone", ["UTC+8", "GMT+8", "UTC8", "Etc/UTC+8", "CST", "Asia/Beijing"])
def test_a_time_zone_is_never_guessed_into_another_clock(tmp_path, zone):
    """``UTC+8`` was told "did you mean 'UTC'?", ``GMT+8`` 'GMT+0', ``CST`` (China Standard Time) 'UCT' and
    ``Asia/Beijing`` 'Asia/Harbin' (probe review108): a hint followed is a valid config whose quiet hours and daily
    statistics run 8 hours off. An offset written is no slip of the keyboard, nor is another place's name."""
    (problem,) = _problems(tmp_path, "timezone: Asia/Urumqi", f"timezone: '{zone}'")
    assert problem.startswith("site.timezone: ") and "did you mean" not in problem, problem


def test_a_city_under_the_wrong_region_is_told_its_zone(tmp_path):
    """``Europe/Shanghai`` was told 'Europe/San_Marino' (the nearest whole text): the place is matched by its name."""
    (problem,) = _problems(tmp_path, "timezone: Asia/Urumqi", "timezone: Europe/Shanghai")
    assert problem.endswith("did you mean 'Asia/Shanghai'?"), problem


def test_an_event_type_with_control_characters_is_shown_escaped(tmp_path):
    """The unknown event type was printed as written: an escape sequence in the YAML (``\\e[2J``) cleared the
    operator's terminal under check-config's line (probe review108). Keys were shown safely already; the name is now
    shown as Python writes it, the guess after it."""
    (problem,) = _problems(tmp_path, "events: [violation_started]", 'events: ["violation_st\\e[2Jarted"]')
    assert "\x1b" not in problem and "'violation_st\\x1b[2Jarted': no such event type" in problem, problem
    assert problem.endswith("did you mean 'violation_started'?"), problem
