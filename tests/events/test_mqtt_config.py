"""The `mqtt` config section, secrets, health probes and the benchmark's shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_agent.config import ConfigError, load_config
from edge_agent.config.mqtt import MqttConfig, SecretError, read_secrets
from edge_agent.events.broker import mosquitto_path
from edge_agent.events.health import cpu_temp_c, disk_use
from tests.events.helpers import config_dict


def problems(tmp_path: Path, **mqtt) -> list[str]:
    path = tmp_path / "c.yaml"
    data = config_dict("mqtt://127.0.0.1:1883", tmp_path)
    data["mqtt"].update(mqtt)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(
    ("mqtt", "expected"),
    [
        ({"brokers": ["http://x"]}, ("mqtt.brokers", "'http://x': scheme must be mqtt:// or mqtts://")),
        ({"brokers": ["mqtt://a", "mqtts://b"]}, ("mqtt.brokers", "mix of mqtt:// and mqtts://")),
        ({"brokers": ["mqtt://u:pw@a"]}, ("mqtt.brokers", "put credentials in mqtt.username")),
        ({"brokers": []}, ("mqtt.brokers", "at least 1 item")),
        ({"protocol": "4"}, ("mqtt.protocol", "Input should be '5' or '3.1.1'")),
        ({"topic_prefix": "edge/#"}, ("mqtt.topic_prefix", "must be a topic")),
        ({"topic_prefix": "edge/{building}"}, ("mqtt.topic_prefix", "only {site} and {device}")),
        # a broker calls these malformed: the agent never connected, its log blaming TLS
        ({"topic_prefix": "edge/{site}/\x07{device}"}, ("mqtt.topic_prefix", "no control characters")),
        ({"topic_prefix": "edge/\x9b/{device}"}, ("mqtt.topic_prefix", "no control characters")),
        ({"home_assistant": {"discovery_prefix": "home\x01"}}, ("mqtt.home_assistant.discovery_prefix", "a topic")),
        ({"home_assistant": {"discovery_prefix": "home/#"}}, ("mqtt.home_assistant.discovery_prefix", "a topic")),
        ({"home_assistant": {"discovery_prefix": "$1"}}, ("mqtt.home_assistant.discovery_prefix", "a topic")),
        ({"client_id": "pole\x01-7"}, ("mqtt.client_id", "without control characters")),
        ({"client_id": "\ufffe"}, ("mqtt.client_id", "without control characters")),
        ({"password_env": "X"}, ("mqtt", "a password needs mqtt.username")),
        ({"tls": {"ca_file": "ca.pem"}}, ("mqtt", "mqtt.tls is set but the brokers use mqtt://")),
        ({"brokers": ["mqtts://a"], "tls": {"cert_file": "c.pem"}}, ("mqtt.tls", "cert_file and key_file go together")),
        ({"outbox": {"overflow": "drop_violations"}}, ("mqtt.outbox.overflow", "drop_oldest")),
        ({"heartbeat_s": 0}, ("mqtt.heartbeat_s", "greater than 0")),
        ({"keepalive": 30}, ("mqtt.keepalive", "unknown key")),
        # each passed and then killed the link's thread at run: paho refuses a wildcard in a topic it
        # publishes, and a topic or client id over 65,535 bytes cannot be packed (struct.error)
        ({"home_assistant": {"discovery_prefix": "home/#"}},
         ("mqtt.home_assistant.discovery_prefix", "must be a topic like homeassistant (no wildcards")),
        ({"topic_prefix": "e" * 70_000}, ("mqtt.topic_prefix", "at most 256 characters")),
        ({"client_id": "c" * 70_000}, ("mqtt.client_id", "at most 128 characters")),
    ],
)
def test_bad_mqtt_config_names_the_key(tmp_path, mqtt, expected):
    key, text = expected
    found = problems(tmp_path, **mqtt)
    assert any(p.startswith(f"{key}: ") and text in p for p in found), found


def test_defaults_and_relative_paths(tmp_path):
    assert problems(tmp_path) == []
    m = MqttConfig.model_validate(
        {"brokers": ["mqtts://b"], "protocol": 5, "username": "u", "password_file": "pw",
         "tls": {"ca_file": "certs/ca.pem"}, "outbox": {"path": "o.sqlite"}},
        context={"base_dir": tmp_path},
    )  # fmt: skip
    assert m.protocol == "5" and m.heartbeat_s == 60 and m.command_max_age_s == 60
    assert m.tls.ca_file == str(tmp_path / "certs/ca.pem") and m.password_file == str(tmp_path / "pw")
    assert m.outbox.path == str(tmp_path / "o.sqlite") and m.outbox.overflow == "drop_oldest"
    assert "violation_started" in m.outbox.protected_types
    assert [str(b) for b in m.broker_addresses()] == ["mqtts://b:8883"]
    assert m.prefix("s1", "pole-7") == "edge/s1/pole-7"


def test_secrets_come_from_env_or_file_and_never_print(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("from-file\nignored\n")
    (tmp_path / "key").write_text("hmac-key\n")
    monkeypatch.setenv("EDGE_PW", "from-env")
    m = MqttConfig(username="u", password_file=str(tmp_path / "pw"), hmac_secret_file=str(tmp_path / "key"))
    s = read_secrets(m)
    assert (s.password, s.hmac_key) == ("from-file", b"hmac-key")
    assert "from-file" not in repr(s) and "hmac-key" not in repr(s)
    assert read_secrets(MqttConfig(username="u", password_env="EDGE_PW")).password == "from-env"
    assert m.signing and not MqttConfig().signing


def test_a_key_file_may_hold_the_previous_key_for_a_rollout_and_no_more(tmp_path):
    (tmp_path / "key").write_text("n3w-key\n\nold-key\n")
    s = read_secrets(MqttConfig(hmac_secret_file=str(tmp_path / "key")))
    assert (s.hmac_key, s.hmac_previous) == (b"n3w-key", b"old-key")
    assert "old-key" in s.values() and "old-key" not in repr(s)
    (tmp_path / "key").write_text("a\nb\nc\n")
    with pytest.raises(SecretError, match="mqtt.hmac_secret_file: .* 3 keys"):
        read_secrets(MqttConfig(hmac_secret_file=str(tmp_path / "key")))


def test_cpu_temperature_prefers_the_cpu_zone(tmp_path):
    for i, (kind, milli) in enumerate([("acpitz", "27800"), ("cpu-thermal", "51234")]):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    assert cpu_temp_c(tmp_path) == 51.2
    assert cpu_temp_c(tmp_path / "nothing-here") is None  # a container / PC without zones


def test_disk_use_of_a_path_not_created_yet(tmp_path):
    used, free = disk_use(tmp_path / "not" / "yet")
    assert 0 <= used <= 100 and free > 0


@pytest.mark.broker
def test_bench_reports_latency_and_throughput():
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    from edge_agent.events.bench import run_outbox_bench

    r = run_outbox_bench(events=60)
    assert r["undelivered"] == 0
    assert r["outbox_write_median_ms"] > 0 and r["publish_events_per_s"] > 0


def test_unusable_outbox_path_is_a_config_error(tmp_path):
    from edge_agent.clock import FakeClock
    from edge_agent.events.bus import EventBus
    from edge_agent.events.health import no_health
    from edge_agent.events.mqtt_link import build_mqtt
    from tests.events.helpers import RecordingControl, make_config

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = make_config("mqtt://127.0.0.1:1", tmp_path, outbox={"path": str(blocker / "outbox.sqlite")})
    with pytest.raises(ConfigError, match=r"mqtt.outbox.path: cannot open .*a-file/outbox.sqlite"):
        build_mqtt(cfg, EventBus(), RecordingControl(), FakeClock(), no_health)


def test_a_client_key_every_user_can_read_is_refused_as_the_pages_is(tmp_path):
    """``web.tls.key_file`` readable by every user is refused (anyone on the device could pose as the page);
    ``mqtt.tls.key_file`` — the device's own identity at the broker, with which one publishes its events and
    receives its lock commands — was taken at mode 644 without a word. One rule for both keys."""
    key = tmp_path / "device.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    tls = {"ca_file": "ca.pem", "cert_file": "device.crt", "key_file": str(key)}
    key.chmod(0o644)
    found = problems(tmp_path, brokers=["mqtts://b"], tls=tls)
    assert any(p.startswith("mqtt.tls.key_file: ") and "readable by every user on this device (mode 0644)" in p
               for p in found), found
    key.chmod(0o640)
    assert problems(tmp_path, brokers=["mqtts://b"], tls=tls) == []
    assert problems(tmp_path, brokers=["mqtts://b"], tls={**tls, "key_file": "missing.key"}) == []  # said at connect
