"""Every key of the config, found by walking its models, refused on its own with one line naming it.

A table, not examples: each leaf setting (``locks[1].motor.up.pin``, ``notify.sinks[0].quiet_hours.start``, …) of a
config that sets every section gets each value no key of its kind can take — NaN, ±infinity, a number as text, a
true/false for a number, a list or a mapping for a scalar, null where a value is needed, text past any limit — and
``parse_config`` must refuse it with exactly one problem line that starts with that key's path, and says it in a line
a person reads (no value echoed whole). What it found: a ``pin`` (a number or a name) was two lines named after
pydantic's members (``pin.int: …``, ``pin.constrained-str: …``); a simulator script entry's key was named
``script[0].presence.at_s`` (its ``action``, not a key) and a wrong ``action`` echoed the value whole, 10 kB of it;
``mqtt.protocol: [5]`` was a ``TypeError`` traceback. A new key is in the table by being in the models."""

from __future__ import annotations

import copy
import math
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edge_agent.config import ConfigError, parse_config
from edge_agent.config.errors import key_path
from edge_agent.config.models import AgentConfig
from tests.config.walk import models_in

PINS = {"up": {"pin": 17, "active_high": False}, "down": {"pin": 27, "active_high": False}}
# Every section and list entry set, so every leaf has a place: three locks (a simulator with one script entry of each
# action, an ultrasonic sensor, a gpiozero H-bridge with all its pins), a notify sink, TLS to the broker.
FULL: dict[str, Any] = {
    "site": {"site_id": "s1", "device_id": "d1", "timezone": "Asia/Shanghai"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480, "masks": [[[0, 0], [10, 0], [10, 10]]]},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 300], [10, 300]], "lock_id": "L1", "charger_id": "C1"},
             {"id": "B", "polygon": [[320, 10], [600, 10], [600, 470], [320, 470]], "lock_id": "L2"},
             {"id": "C", "polygon": [[10, 400], [100, 400], [100, 470], [10, 470]]}],
    "lists": {"allow": ["粤B12345"], "deny": ["粤B54321"]},
    "perception": {"priority_provinces": ["粤"], "providers": ["CPUExecutionProvider"], "recognizer_options": {}},
    "locks": [
        {"id": "L1", "driver": "simulator",
         "simulator": {"travel_time_s": 1, "start": "down", "presence": False,
                       "script": [{"at_s": 1, "action": "presence", "state": "vehicle"},
                                  {"at_s": 2, "action": "stall", "on": True},
                                  {"at_s": 3, "action": "switch", "switch": "up", "stuck": "active"},
                                  {"at_s": 4, "action": "tamper", "to": "middle"},
                                  {"at_s": 5, "action": "power-loss", "on": True}]},
         "policy": {"lower_for_nev": True, "auto_raise": True, "warn_fuel": True, "warn_unidentified": True}},
        {"id": "L3", "driver": "gpiozero", "bay": "C", "motor": {"kind": "relays", "up": {"pin": 6}, "down": {"pin": 13}},
         "switches": {"down": {"pin": 19}, "up": {"pin": 26}},
         "presence": {"kind": "ultrasonic", "trigger": 20, "echo": 21}},
        {"id": "L2", "driver": "gpiozero",
         "motor": {"kind": "hbridge", **PINS, "enable": {"pin": 12, "active_high": True}},
         "switches": {"down": {"pin": 22, "pull_up": None, "active_high": False},
                      "up": {"pin": 23, "pull_up": None, "active_high": False}},
         "presence": {"kind": "digital", "pin": {"pin": 24, "pull_up": None, "active_high": False},
                      "pin_active": "clear", "health_pin": {"pin": 5, "pull_up": None, "active_high": False}},
         "warning": {"pin": 25, "active_high": True}},
    ],
    "mqtt": {"enabled": True, "brokers": ["mqtts://127.0.0.1:8883"], "client_id": "c1", "username": "u",
             "password_env": "PW", "hmac_secret_env": "HM", "tls": {"check_hostname": True},
             "home_assistant": {"enabled": True, "discovery_prefix": "homeassistant"},
             "outbox": {"protected_types": ["lock_moved"]}},
    "web": {"enabled": True, "host": "127.0.0.1", "port": 8080, "hostnames": ["edge.local"],
            "trusted_proxies": ["127.0.0.1"], "public_url": "https://edge.local/"},
    "notify": {"sinks": [{"name": "n1", "kind": "webhook", "url": "https://hook.example/x", "secret_env": "SE",
                          "quiet_hours": {"start": "22:00", "end": "07:00"}, "max_per_minute": 10, "max_age_h": 10}]},
    "timers": {}, "occupancy": {}, "evidence": {}, "charger_health": {},
    "ops": {"logging": {}, "metrics": {}, "watchdog": {}, "doctor": {}},
}
NOT_HERE = {("web", "tls")}  # its files must exist: test_tls.py


def leaves(model: type[BaseModel], here: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], FieldInfo]]:
    """(path in FULL, field) of every leaf setting, each once: in a list, in the first entry that holds it (a script's
    in each kind of entry: ``action: switch`` has a ``switch`` key too)."""
    out: dict[tuple[Any, ...], tuple[tuple[Any, ...], FieldInfo]] = {}

    def walk(model: type[BaseModel], here: tuple[Any, ...]) -> None:
        for name, field in model.model_fields.items():
            nested = models_in(field.annotation)
            if not nested:
                out.setdefault((model, *(k for k in here if not isinstance(k, int)), name), ((*here, name), field))
                continue
            value = _at(FULL, (*here, name))
            if (*here, name) in NOT_HERE or value is None:
                continue
            for sub in nested:
                for place in ([(*here, name, i) for i, item in enumerate(value) if _is_a(sub, item)]
                              if isinstance(value, list) else [(*here, name)]):
                    walk(sub, place)

    walk(model, here)
    return list(out.values())


def _is_a(model: type[BaseModel], item: Any) -> bool:
    tag = model.model_fields.get("action")
    return tag is None or item.get("action") in typing.get_args(tag.annotation)


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        if not isinstance(doc, (dict, list)) or (isinstance(doc, dict) and k not in doc):
            return None
        doc = doc[k]
    return doc


def _kind(field: FieldInfo) -> tuple[set[type], bool]:
    ann = field.annotation
    args = set(typing.get_args(ann)) if typing.get_origin(ann) in (typing.Union, types.UnionType) else {ann}
    return args, type(None) in args


def wrong_values(field: FieldInfo) -> list[Any]:
    """Values no key of this field's kind takes."""
    args, optional = _kind(field)
    origin = {typing.get_origin(a) for a in args}
    values: list[Any] = [{"a": 1}, "x" * 5000]
    if list not in origin:
        values.append([1])
    if not optional:
        values.append(None)
    if args & {int, float}:
        values += [math.nan, math.inf, -math.inf, True, 1.5 if str in args else "12"]
        values += [] if str in args else [1e308]
    elif bool in args:
        values += [1, "yes", math.nan]
    elif str in args or typing.Literal in origin:
        values += [math.nan, 12] + ([] if field.description and "true / false" in field.description else [True])
    return values


CASES = [(path, v) for path, field in leaves(AgentConfig) if path[0] not in ("data_dir",)
         for v in wrong_values(field)]


def test_the_table_reaches_every_section() -> None:
    reached = {p[0] for p, _ in CASES}
    assert reached == set(AgentConfig.model_fields) - {"data_dir"}, reached
    assert len(CASES) > 1500 and parse_config(copy.deepcopy(FULL)).locks[1].motor is not None


@pytest.mark.parametrize("path", sorted({p for p, _ in CASES}, key=str), ids=key_path)
def test_a_wrong_value_of_any_key_is_one_line_naming_it(path: tuple[Any, ...], tmp_path: Path) -> None:
    key = key_path(path)
    for value in [v for p, v in CASES if p == path]:
        data = copy.deepcopy(FULL)
        data["data_dir"] = str(tmp_path)
        _at(data, path[:-1])[path[-1]] = value
        with pytest.raises(ConfigError) as exc:
            parse_config(data, quiet=True)
        problems = exc.value.problems
        assert len(problems) == 1 and problems[0].startswith((f"{key}: ", f"{key}.")), (repr(value)[:40], problems)
        assert len(problems[0]) < 400, problems  # said, not echoed: a 5,000-character value is not in it
