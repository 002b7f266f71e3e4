"""Commands over a real broker: a payload with a non-finite number (``NaN``, ``Infinity``,
``-Infinity``, or ``1e999`` that overflows) is not JSON (RFC 8259): an error reply naming
the problem, and the agent is never called."""

from __future__ import annotations

import itertools

import pytest

from edge_agent.clock import iso
from tests.events.helpers import Subscriber, online_link

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
_corr = itertools.count(1)


@pytest.fixture
def link(broker, tmp_path):  # noqa: ANN001, ANN201
    with online_link(broker, tmp_path / "data", ["backend/#", f"{PREFIX}/status"], v5=True) as (lk, backend, control, clock):
        yield backend, control, clock


def ask_raw(backend: Subscriber, name: str, raw: bytes) -> dict:
    corr = f"f-{next(_corr)}".encode()
    backend.request(f"{PREFIX}/cmd/{name}", None, "backend/replies", corr, raw=raw)
    return backend.wait_for("backend/replies", lambda m: m.props.CorrelationData == corr).json()


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
