"""Event type names in the config (``notify.sinks[].events``, ``mqtt.outbox.protected_types``) are checked where
every other key is: ``check-config``, a reload and ``run`` refuse the same misspelt one, naming the key.

The probe's finds: a sink's ``events: [violation_start]`` passed ``check-config`` (so ``install.sh`` restarted the
agent) and then stopped ``run`` (exit 2 at every start, systemd restarting it in a loop); a reload took it
("restart needed") and the next restart failed the same way. ``protected_types: [violation_start]`` was taken by
all three: ``violation_started`` became an event the outbox drops when full.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import yaml

from edge_agent import cli
from edge_agent.bays import charger_health
from edge_agent.config import ConfigError, load_config, parse_config
from edge_agent.config.eventtypes import BUS_EVENT_TYPES, LINK_EVENT_TYPES
from edge_agent.config.mqtt import DEFAULT_PROTECTED
from edge_agent.config.notify import DEFAULT_EVENTS
from edge_agent.events import mqtt_link
from edge_agent.events.types import EventType

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
}
SINK = {"name": "ops", "kind": "webhook", "url": "https://example.com/h"}


def test_the_config_knows_the_event_types_the_agent_has():
    constants = {v for k, v in vars(EventType).items() if k.isupper() and isinstance(v, str)}
    assert BUS_EVENT_TYPES == constants | {f"{kind}_cleared" for kind in charger_health.KINDS}
    assert LINK_EVENT_TYPES == {mqtt_link.OVERFLOW_EVENT, mqtt_link.LOST_EVENT}
    assert set(DEFAULT_EVENTS) <= BUS_EVENT_TYPES and set(DEFAULT_PROTECTED) <= BUS_EVENT_TYPES | LINK_EVENT_TYPES


@pytest.mark.parametrize(("section", "key"), [
    ({"notify": {"sinks": [{**SINK, "events": ["violation_started", "violation_start"]}]}}, "notify.sinks[0].events"),
    ({"mqtt": {"outbox": {"protected_types": ["lock_fault", "violation_start"]}}}, "mqtt.outbox.protected_types"),
])
def test_a_misspelt_event_type_fails_check_config_naming_the_key(tmp_path, capsys, section, key):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **section, "data_dir": str(tmp_path / "data")}), encoding="utf-8")
    assert cli.main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"  {key}: violation_start: no such event type (known: " in err and "violation_started" in err, err


def test_a_sink_may_send_when_a_charger_warning_clears():
    """``charger_suspect_cleared`` is on the bus: ``run`` refused it in a sink's list."""
    cfg = parse_config({**GOOD, "notify": {"sinks": [{**SINK, "events": ["charger_suspect", "charger_suspect_cleared"]}]}})
    assert cfg.notify.sinks[0].events == ["charger_suspect", "charger_suspect_cleared"]


def test_the_outbox_may_protect_its_own_events():
    cfg = parse_config({**GOOD, "mqtt": {"outbox": {"protected_types": ["outbox_lost", "violation_started"]}}})
    assert cfg.mqtt.outbox.protected_types == ["outbox_lost", "violation_started"]


def test_a_reload_to_a_misspelt_sink_event_is_refused_and_the_running_config_kept(tmp_path):
    from edge_agent.runtime.reload import ConfigReload

    path = tmp_path / "config.yaml"
    doc = {**GOOD, "notify": {"sinks": [SINK]}, "data_dir": str(tmp_path / "data")}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cfg = load_config(path)
    doc["notify"]["sinks"][0]["events"] = ["violation_start"]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    # a reload takes the lists' own lock first (the order a list edit takes them: attacker37)
    agent = SimpleNamespace(cfg=cfg, loop_lock=threading.Lock(), lists=SimpleNamespace(editing=threading.Lock()))
    result = ConfigReload(agent).reload()  # type: ignore[arg-type]
    assert not result.ok and agent.cfg is cfg
    assert result.data["problems"][0].startswith("notify.sinks[0].events: violation_start: no such event type")
    with pytest.raises(ConfigError):
        load_config(path)
