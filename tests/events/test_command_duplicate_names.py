"""Commands over a real broker: an object that names a field twice (``{"bay": "B1", …, "bay": "B2"}``) is refused
as ``malformed_json`` naming the field, and the agent is never called. RFC 8259 leaves which of the two counts to
each parser: the agent's took the last and acted on B2 while a broker rule, a proxy or the sender's log, reading the
first, saw B1."""

from __future__ import annotations

import pytest

from edge_agent.clock import iso
from tests.events.helpers import ask_raw, command_link

pytestmark = pytest.mark.broker

@pytest.fixture
def link(broker, tmp_path):  # noqa: ANN001, ANN201
    with command_link(broker, tmp_path / "data") as got:
        yield got


@pytest.mark.parametrize("twice", ["bay", "operator", "ts"])
def test_a_field_named_twice_is_refused_and_nothing_runs(link, twice: str) -> None:  # noqa: ANN001
    backend, control, clock = link
    ts = iso(clock.now())
    fields = {"ts": f'"{ts}"', "bay": '"B1"', "reason": '"probe"', "operator": '"alice"'}
    again = {"ts": f'"{ts}"', "bay": '"B2"', "operator": '"mallory"'}[twice]
    raw = ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + f', "{twice}": {again}' + "}").encode()
    r = ask_raw(backend, "lock", raw)
    assert (r["ok"], r["code"]) == (False, "malformed_json"), r
    assert f"'{twice}' appears twice" in r["message"], r
    assert control.calls == []
    # the same command with each field once runs
    once = ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()
    assert ask_raw(backend, "lock", once)["ok"] is True
    assert control.calls == [("lock", "B1", "probe", "alice")]


def test_a_name_twice_inside_a_nested_object_is_refused_too(link) -> None:  # noqa: ANN001
    backend, control, clock = link
    raw = ('{"ts": "' + iso(clock.now()) + '", "allow": [{"a": 1, "a": 2}]}').encode()
    r = ask_raw(backend, "set-lists", raw)
    assert (r["ok"], r["code"]) == (False, "malformed_json"), r
    assert control.calls == []
