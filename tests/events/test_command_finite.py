"""Commands over a real broker: a payload with a non-finite number (``NaN``, ``Infinity``,
``-Infinity``, or ``1e999`` that overflows) is not JSON (RFC 8259): an error reply naming
the problem, and the agent is never called."""

from __future__ import annotations

import pytest

from edge_agent.clock import iso
from tests.events.helpers import ask_raw, command_link

pytestmark = pytest.mark.broker

@pytest.fixture
def link(broker, tmp_path):  # noqa: ANN001, ANN201
    with command_link(broker, tmp_path / "data") as got:
        yield got


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
def test_non_finite_numbers_are_refused_before_anything_else(link, literal: bytes) -> None:  # noqa: ANN001
    backend, control, clock = link
    ts = iso(clock.now()).encode()
    raw = b'{"ts": "' + ts + b'", "bay": "B1", "reason": "x", "operator": "o", "id": ' + literal + b"}"
    r = ask_raw(backend, "lock", raw)
    assert (r["ok"], r["code"]) == (False, "malformed_json"), r
    assert "finite" in r["message"], r
    # a string that only looks like one is fine
    ok = b'{"ts": "' + ts + b'", "bay": "B1", "reason": "NaN Infinity 1e999", "operator": "o"}'
    assert ask_raw(backend, "lock", ok)["ok"] is True
    assert control.calls == [("lock", "B1", "NaN Infinity 1e999", "o")]
