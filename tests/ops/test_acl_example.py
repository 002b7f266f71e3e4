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
