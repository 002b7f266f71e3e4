"""The shipped broker ACL lets a device write every topic the agent publishes and read every one it subscribes.

The probe found `stats/daily` missing: the broker refused every daily-statistics message ("Not authorized").
Checked against the AsyncAPI channel list (built from ``Topics``), so a new topic without its ACL line fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.events.asyncapi import channels

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl.example"


def _matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching, level by level (``+`` one level, ``#`` the rest)."""
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(p) == len(t)


def _device_rules(access: str) -> list[str]:
    rules = []
    for line in ACL.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[:2] == ["pattern", access] or parts[:2] == ["pattern", "readwrite"]:
            rules.append(parts[2].replace("%u", "dev1"))
    return rules


@pytest.mark.parametrize("ch", [c for c in channels() if not c.key.startswith("sim")], ids=lambda c: c.key)
def test_a_device_may_use_every_channel_of_the_api(ch) -> None:  # noqa: ANN001
    topic = (ch.address.replace("{site}", "s1").replace("{device}", "dev1").replace("{bay}", "B1")
             .replace("{path}", "backend-7").replace("{component}", "binary_sensor").replace("{object}", "B1_occupied"))
    rules = _device_rules("write" if ch.action == "send" else "read")
    assert any(_matches(r, topic) for r in rules), f"{ch.key}: no ACL line lets dev1 {ch.action} {topic}"


SHARED = ACL.parent / "acl-shared.example"


def _user_rules(path: Path, user: str, access: str) -> list[str]:
    """The ``topic`` lines of ``user``'s block (no pattern lines apply: the file has none)."""
    rules, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[:1] == ["pattern"]:
            raise AssertionError(f"{path.name}: a pattern line applies to every device: {line}")
        if parts[:1] == ["user"]:
            current = parts[1]
        elif parts[:1] == ["topic"] and current == user and parts[1] in (access, "readwrite"):
            rules.append(parts[2])
    return rules


@pytest.mark.parametrize("ch", [c for c in channels() if not c.key.startswith("sim")], ids=lambda c: c.key)
def test_on_a_broker_sites_share_a_device_may_use_every_channel_of_its_own_site_only(ch) -> None:  # noqa: ANN001
    def topic(site: str) -> str:
        return (ch.address.replace("{site}", site).replace("{device}", "mall3-pole-7").replace("{bay}", "B1")
                .replace("{path}", "backend-7").replace("{component}", "binary_sensor")
                .replace("{object}", "B1_occupied"))

    rules = _user_rules(SHARED, "mall3-pole-7", "write" if ch.action == "send" else "read")
    assert any(_matches(r, topic("mall3")) for r in rules), f"{ch.key}: no line lets it {ch.action} {topic('mall3')}"
    if "{site}" in ch.address:
        assert not any(_matches(r, topic("mall5")) for r in rules), f"{ch.key}: it may {ch.action} another site's"


@pytest.mark.parametrize(("acl", "crosses"), [("acl.example", True), ("acl-shared.example", False)])
def test_a_device_writing_under_another_sites_tree_on_a_real_broker(tmp_path, acl, crosses) -> None:
    """acl.example leaves the site level open (``edge/+/%u/…``): on a broker several sites' devices log into, device
    mall3-pole-7 wrote ``edge/mall5/mall3-pole-7/events``, which ``edge-agent consume`` stores as site mall5's
    (it takes the site from the topic). Harmless on a site's own broker (its bridge forwards its site only);
    acl-shared.example, for the shared broker, spells each device's site out."""
    import shutil
    import subprocess

    from edge_agent.events.broker import LocalBroker, mosquitto_path
    from tests.ops.test_bridge_example import Client

    if mosquitto_path() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    pwfile = tmp_path / "passwd"
    for i, user in enumerate(("mall3-pole-7", "backend")):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pwfile), user, f"pw-{user}"],
                       check=True, capture_output=True)
    broker = LocalBroker(tmp_path / "broker", password_file=pwfile, acl_file=ACL.parent / acl).start()
    backend = Client(broker.port, "backend", "backend", "pw-backend")
    device = Client(broker.port, "device", "mall3-pole-7", "pw-mall3-pole-7")
    try:
        backend.subscribe("edge/#")
        device.publish("edge/mall5/mall3-pole-7/events", "forged")  # one client's messages arrive in order:
        device.publish("edge/mall3/mall3-pole-7/events", "own")  # the forged one, if let through, comes first
        first = backend.get()
        if crosses:
            assert first.topic == "edge/mall5/mall3-pole-7/events"
            first = backend.get()
        assert first.topic == "edge/mall3/mall3-pole-7/events"
    finally:
        device.close()
        backend.close()
        broker.stop()
