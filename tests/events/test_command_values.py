"""A command's cost is per value, not per byte: the parser and the schema check held the command thread 53 s on a
22 MiB object of 1.8 million names, over 300 s on 7 million ``{}`` in a list (attacker41, load 14–18), and an
``unlock`` sent after them waited as long. A payload of more values than any command holds is refused ``too_large``
unparsed; the largest command (a ``set-lists`` of 2 × 100,000 plates) is still taken."""

from __future__ import annotations

import json

import pytest

from edge_agent.events.command_handler import COMMAND_MAX_VALUES
from edge_agent.events.schemas import _registry
from edge_agent.jsondepth import too_many_values
from tests.events.test_command_hardening import (  # noqa: F401 - setup: the fixture
    now,
    reply_with,
    send,
    setup,
)


def test_the_largest_command_is_within_the_cap():
    lists = _registry().contents("cmd-set-lists.json")["properties"]
    most = [lists[k]["maxItems"] for k in ("allow", "deny")]
    assert most == [100_000, 100_000]  # the cap is this schema's largest command: change both together
    body = {
        "ts": "2026-12-08T00:00:00+08:00",
        "id": "i",
        "reply_to": "r",
        "correlation_id": "c",
        "sig": "0" * 64,
        "device": "dev1",
        "site": "s1",
        "allow": ["京AD00001"] * most[0],
        "deny": ["粤B00001"] * most[1],
    }
    assert not too_many_values(json.dumps(body), COMMAND_MAX_VALUES)
    assert too_many_values(json.dumps({**body, "deny": body["deny"] + ["粤B00002"] * 100}), COMMAND_MAX_VALUES)


@pytest.mark.broker
@pytest.mark.parametrize("values", [b"{}", b'"k":0'])
def test_more_values_than_any_command_is_refused_too_large_unparsed(setup, values):  # noqa: F811
    make, backend, control, clock = setup
    make()
    many = b",".join([values] * (COMMAND_MAX_VALUES + 1))
    raw = (b'{"ts":"%s","allow":[%s]}' if values == b"{}" else b'{"ts":"%s","deny":["x"],%s}') % (
        now(clock).encode(),
        many,
    )
    r = reply_with(backend, send(backend, "set-lists", None, "backend/v", raw=raw)).json()
    assert (r["ok"], r["code"], r["command"]) == (False, "too_large", "set-lists")
    assert f"more than {COMMAND_MAX_VALUES} values" in r["message"]
    ok = send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B12345"]}, "backend/v")
    assert reply_with(backend, ok).json()["ok"]
    assert [c[0] for c in control.calls] == ["set_lists"]


def test_a_long_list_quoted_in_a_refusal_is_counted_in_items():
    """The 1.5-million-plate refusal read "… (1500000 characters) is too long": a list's length is its items."""
    from edge_agent.events.schemas import first_error

    said = first_error("cmd-set-lists.json", {"ts": "2026-12-08T00:00:00Z", "allow": ["A"] * 100_001})
    assert said is not None and "(100001 items) is too long" in said


def test_a_payload_of_too_many_values_is_refused_before_its_brackets_are_walked():
    """The depth check ran first and walked every bracket outside strings in Python: 24 MiB of ``{},`` (16 million
    brackets) held the command thread 1.2 s before the value count refused it (review106). Counted first, the walk
    never sees more brackets than the value cap. Counted in lines run, not seconds."""
    from edge_agent import jsondepth
    from edge_agent.clock import FakeClock
    from edge_agent.events.command_handler import Command, CommandHandler, Refused
    from edge_agent.events.topics import Topics
    from tests.linecount import lines_run

    handler = CommandHandler(None, Topics("edge/s1/d1"), "d1", FakeClock(), 60, None, None)  # type: ignore[arg-type]
    payload = b"[" + b"{}," * (COMMAND_MAX_VALUES + 1) + b"{}]"

    def parse() -> str:
        with pytest.raises(Refused) as refused:
            handler._parse(Command("set-lists", payload))
        return refused.value.code

    code, lines = lines_run(jsondepth.too_deep.__code__, parse)
    assert code == "too_large" and lines < 200, (code, lines)


def test_a_refusal_reads_a_few_of_its_errors_not_one_per_value(monkeypatch):
    """Within the value cap, a 0.4 MiB ``set-lists`` of 2 × 100,000 zeros held the command thread 11–16 s (the
    largest valid one 2.5 s): the schema check made one error per item (about 60 µs each), all sorted to say the
    first (review106). Only the first few are read; the one said is still the first of them by its path. Counted in
    errors made, not seconds."""
    from edge_agent.events import schemas

    made = 0
    real = schemas.validator

    class Counted:
        def __init__(self, inner):  # noqa: ANN001
            self.inner = inner

        def iter_errors(self, instance):  # noqa: ANN001, ANN202
            nonlocal made
            for e in self.inner.iter_errors(instance):
                made += 1
                yield e

    monkeypatch.setattr(schemas, "validator", lambda name: Counted(real(name)))
    body = {"ts": "2026-12-08T00:00:00Z", "allow": [0] * 100_000, "deny": [0] * 100_000}
    said = schemas.first_error("cmd-set-lists.json", body)
    assert said == "allow/0: 0 is not of type 'string'" and made <= 100, (said, made)
