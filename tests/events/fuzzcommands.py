"""Command payloads for fuzzing the command handler: a valid command of each kind built from its schema, then
fields replaced, dropped or added, numbers and texts at their edges, and raw bytes no JSON parser should trust."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from edge_agent.clock import iso
from edge_agent.events.command_handler import sign_command
from edge_agent.events.topics import COMMANDS, SIM_COMMANDS

BAY = "B1"
VALID: dict[str, dict[str, Any]] = {  # the fields past the envelope of a command that passes every check
    "lock": {"bay": BAY, "reason": "fuzz", "operator": "op"},
    "unlock": {"bay": BAY, "reason": "fuzz", "operator": "op"},
    "lock-reset": {"bay": BAY, "operator": "op"},
    "maintenance": {"bay": BAY, "on": True, "operator": "op"},
    "snapshot": {"bay": BAY},
    "reload-config": {},
    "set-lists": {"allow": ["粤B12345D"], "deny": []},
    "charger-status": {"bay": BAY, "status": "charging"},
    "sim/stall": {"bay": BAY, "on": True},
    "sim/presence": {"bay": BAY, "state": "vehicle"},
    "sim/switch": {"bay": BAY, "switch": "up", "stuck": "active"},
    "sim/tamper": {"bay": BAY, "to": "middle"},
    "sim/power-loss": {"bay": BAY},
}
assert set(VALID) >= set(COMMANDS) | {f"sim/{n}" for n in SIM_COMMANDS}, "a command the fuzz does not know"
FIELDS = sorted({k for body in VALID.values() for k in body} | {"ts", "id", "reply_to", "correlation_id", "sig"})

_TEXT = st.one_of(st.text(max_size=20), st.sampled_from([
    "", " ", BAY, "b1", "B1 ", "B1\x00", "B2", "粤B12345", "NaN", "1e999", "true", "null", "\u202eB1", "B\u0301",
    "a" * 65, "a" * 501, "x" * 5000, "edge/s1/d1/reply", "edge/#", "edge/+/x", "$SYS/x", "edge/s1/d1/cmd/lock",
]))
_NUMBER = st.one_of(st.integers(), st.sampled_from([0, -0.0, 1, 2**53 + 1, 10**30, -(10**30), 1e308, 5e-324]),
                    st.floats(allow_nan=False, allow_infinity=False))
_LEAF = st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT)
JUNK = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=8)

RAW = st.sampled_from([
    b"", b" ", b"null", b"[]", b"{}", b"[1]", b'"x"', b"1", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80",
    b"{" * 100_000, b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"\x00" * 100,
    b'{"ts": NaN}', b'{"ts": Infinity}', b'{"ts": -Infinity}', b'{"ts": 1e999}', b'{"ts": ' + b"9" * 5000 + b"}",
    b'{"ts": "x", "ts": "y"}', b'{"\\ud800": 1}', b'{"ts": "\\udfff"}', b"\xef\xbb\xbf{}", b'{"a": 1,}',
    b"{'ts': 1}", b'{"a": 01}', b'{"a": .5}', b'{"a": 0x10}', b'{"a": +1}', b'{"a": "\\u0000"}',
])


def ts_values(now: datetime) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(iso(now)),
        st.sampled_from([iso(now - timedelta(seconds=61)), iso(now + timedelta(seconds=61)),
                         iso(now).replace("+00:00", "Z"), iso(now)[:19], iso(now)[:10], "now", "0000-00-00T00:00:00Z",
                         "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-23:59", "2026-02-30T00:00:00Z",
                         iso(now) + "\x00", iso(now).replace("T", " "), iso(now).replace("+00:00", "+99:00"),
                         "2026-01-01T00:00:00.000000000000001Z", "１" * 20, iso(now) + " " * 20]),
        JUNK,
    )


@st.composite
def commands(draw: st.DrawFn, now: datetime, key: bytes | None) -> tuple[str, str, bytes, bool]:
    """(namespace, name, payload, retained): mostly a structured mutation of a valid command, sometimes raw bytes."""
    full = draw(st.sampled_from([*VALID, "lock", "unlock", "lock", "bogus", "", "sim/bogus", "LOCK", "lock/x"]))
    namespace, name = ("sim", full[4:]) if full.startswith("sim/") else ("cmd", full)
    retained = draw(st.sampled_from([False] * 9 + [True]))
    if draw(st.integers(0, 9)) == 0:
        return namespace, name, draw(st.one_of(RAW, st.binary(max_size=64))), retained
    body: dict[str, Any] = {"ts": iso(now), **VALID.get(full, {"bay": BAY})}
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*FIELDS, "unknown"]))
        how = draw(st.sampled_from(["junk", "drop", "text", "ts", "type", "plates"]))
        if how == "drop":
            body.pop(field, None)
        elif how == "ts":
            body["ts"] = draw(ts_values(now))
        elif how == "plates":  # a list of texts: what set-lists takes, each plate judged by the agent
            body[draw(st.sampled_from(["allow", "deny", field]))] = draw(st.lists(st.one_of(_TEXT, st.sampled_from(
                ["粤B12345D", "粤b12345d", "粤B 12345", "粤B1234", "京A8888８", "粤B12345DD", "ＡＢＣ"])), max_size=4))
        elif how == "text":
            body[field] = draw(_TEXT)
        elif how == "type" and field in body:  # a number as text, text as a list, true as "true"
            old = body[field]
            body[field] = draw(st.sampled_from([json.dumps(old), [old], {"v": old}, None, 1, 1.5, False]))
        else:
            body[field] = draw(JUNK)
    if key is not None and draw(st.booleans()):
        signed_name = full if namespace == "cmd" else f"sim/{name}"
        body = sign_command(signed_name, {k: v for k, v in body.items() if k != "sig"}, key)
    form = draw(st.sampled_from(["plain", "plain", "ascii", "dup", "spaces", "nan"]))
    if form == "ascii":
        payload = json.dumps(body, ensure_ascii=True).encode()
    elif form == "dup":  # the first field written again with another value
        text = json.dumps(body, ensure_ascii=False)
        payload = text.replace("{", '{"bay": "B2", ', 1).encode("utf-8", "surrogatepass")
    elif form == "spaces":
        payload = b"\n\t " + json.dumps(body, indent=4, ensure_ascii=False).encode("utf-8", "surrogatepass") + b" \n"
    elif form == "nan":
        payload = json.dumps({**body, "id": float("nan")}).encode()
    else:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return namespace, name, payload, retained
