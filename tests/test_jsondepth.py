"""``too_deep``: nesting counted without recursion, so a ``[[[[…`` payload from the network never runs the
interpreter's stack to its limit inside ``json.loads`` (a CI run saw 18 "Failed to process unraisable exception"
errors when the garbage collector ran at that depth)."""

from __future__ import annotations

import json

import pytest

from edge_agent.jsondepth import MAX_DEPTH, too_deep, too_many_values

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_depth_is_counted_outside_strings_only():
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert too_deep('{"a":' * 70 + "1" + "}" * 70)  # text as well as bytes
    assert not too_deep(json.dumps({"reason": "[" * 500 + '\\"{' * 200}).encode())  # brackets inside a string
    assert not too_deep(b"[" + b"[]," * 10_000 + b"[]]")  # many, but side by side
    assert not too_deep(b'"\\\\"' + b"[" * 10 + b"]" * 10)  # an escaped backslash ends before the quote


def _no_deep_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    real = json.loads

    def loads(s, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        assert len(s) < len(DEEP), "a payload nested 100,000 deep reached json.loads"
        return real(s, *a, **k)

    monkeypatch.setattr(json, "loads", loads)


def test_the_consumer_refuses_it_before_parsing(monkeypatch):
    from edge_agent.consumer.service import read

    _no_deep_parse(monkeypatch)
    assert read("edge/s1/d1/events", DEEP) == "not standard JSON in UTF-8 (nested too deeply)"


def test_the_pages_json_bodies_refuse_it_before_parsing(monkeypatch):
    from edge_agent.web.inputs import json_body

    _no_deep_parse(monkeypatch)
    with pytest.raises(ValueError, match="nested too deeply"):
        json_body(DEEP)


def test_a_command_is_refused_before_parsing(monkeypatch):
    from edge_agent.clock import FakeClock
    from edge_agent.events.command_handler import Command, CommandHandler, Refused
    from edge_agent.events.topics import Topics

    _no_deep_parse(monkeypatch)
    handler = CommandHandler(None, Topics("edge/s1/d1"), "d1", FakeClock(), 60, None, None)  # type: ignore[arg-type]
    with pytest.raises(Refused, match="nested too deeply"):
        handler._parse(Command("lock", DEEP))


def test_brackets_inside_a_string_are_stepped_over_not_walked_byte_by_byte():
    """Any payload with over 64 brackets was walked one byte at a time in Python: a 24 MiB ``set-lists`` holding one
    string of ``[`` took that walk 2.6 s, and an ``unlock`` sent after it, with no key needed, waited 29.8 s for its
    reply in a real run (probe attacker40; 0.05 s without it). Strings are now skipped whole by the regular
    expression engine, and only the brackets outside them are walked. Counted in lines run, not seconds."""
    from edge_agent import jsondepth
    from tests.linecount import lines_run

    payload = b'{"ts": "x", "allow": ["' + b"[{" * 50_000 + b'\\"' + b"]" * 1000 + b'"]}'
    deep, lines = lines_run(jsondepth.too_deep.__code__, lambda: too_deep(payload))
    assert not deep and lines < 200, lines
    assert too_deep(b'"' + b"[" * 100 + b'"' + b"[" * 65)  # what follows a string still counts
    assert not too_deep(b'"abc\\"' + b"[" * 100)  # an unterminated string runs to the end, as the parser reads it


def test_a_string_is_one_match_of_the_pattern_whatever_its_escapes():
    """The string pattern needed its closing quote: at an unterminated string it failed after scanning to the end,
    and the engine tried again at every quote after it (each ``\\"``), each scan to the end again: quadratic, a
    160 KB payload of ``\\"`` after 65 ``[`` held the command thread 154 s, before any key is checked. And stepping
    over escapes one by one, 24 MiB of them took it 2.5 s, the byte walk's time (review101; 0.001 s and 0.2 s now).
    Told by the pattern itself (one match, escape-free), not by a timing."""
    from edge_agent import jsondepth

    for text in (b'"' + b'\\"' * 1000, b'"x' + b"\\\\" * 500 + b'\\"' * 500 + b'"', b'"\\\\\\"'):
        plain = jsondepth.without_escapes(text)
        found = jsondepth._STRING.match(plain)
        assert found is not None and found.end() == len(plain), (text[:20], plain[:20])
        assert len(plain) <= 3
    assert not too_deep(b"[" * 10 + b'"' + b'\\"' * 1000 + b"[" * 100)  # inside it to the end, as the parser reads
    assert too_deep(b"[" * 10 + b'"' + b"\\\\" * 1000 + b'"' + b"[" * 100)  # an escaped backslash, then the end
    assert not too_deep(b'"' + b"\\" * 101 + b"[" * 100 + b'"')  # an odd run: its last escapes the next byte


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32-le", "utf-32"])
def test_json_in_utf_16_or_32_is_counted_as_the_parser_reads_it(encoding):
    """``json.loads`` takes bytes in UTF-16 and UTF-32 too (the consumer's payloads, the page's bodies): counted as
    bytes, a character holding a '"' byte opened a "string" that hid every bracket after it (review101)."""
    quote_byte = "\u4e22" if encoding.endswith("le") or encoding in ("utf-16", "utf-32") else "\u2200"
    text = f'["{quote_byte}", ' + "[" * 100 + "]" * 100 + "]"
    assert json.loads(text.encode(encoding)) is not None
    assert too_deep(text.encode(encoding))
    assert not too_deep(json.dumps(["[" * 100, quote_byte]).encode(encoding))
    odd = b"\x00[" * 100 + b"\x00"  # not UTF-16 the parser could read: its own error, not a depth
    with pytest.raises(ValueError):
        json.loads(odd)
    assert not too_deep(odd)


def test_values_are_counted_outside_strings_only():
    assert not too_many_values(b"[" + b",".join([b"0"] * 10) + b"]", 10)  # 10 values: 9 commas and 1 bracket
    assert too_many_values(b"[" + b",".join([b"0"] * 11) + b"]", 10)
    assert too_many_values('{"a":[{},{},{},{},{},{}]}', 10)  # text as well as bytes; each {} counts
    assert not too_many_values(json.dumps(["," * 1000, '\\",[{' * 100]), 10)  # commas and brackets in strings
    assert too_many_values(("[" + ",".join(["0"] * 11) + "]").encode("utf-16"), 10)  # as the parser reads it


def test_a_text_of_more_strings_than_values_allow_is_told_by_its_quotes(monkeypatch):
    """Every string is a member's name, its value or an element, so a text of more than 2 × limit + 1 strings holds
    more than ``limit`` values. Stepped over one by one, 24 MiB of ``",",`` (4 million strings) held the command
    thread 3.4 s before its ``too_large``, six times the parse it guards (review106). Told by the pattern not run,
    not by a timing; a text at the limit is still read whole."""
    from edge_agent import jsondepth

    class Unrun:
        def sub(self, *_a: object) -> bytes:
            raise AssertionError("the string pattern ran over a text its quotes already refuse")

    limit = 1000
    many = b"[" + b",".join([b'","'] * (2 * limit + 2)) + b"]"
    real = jsondepth._STRING
    monkeypatch.setattr(jsondepth, "_STRING", Unrun())
    assert too_many_values(many, limit)
    monkeypatch.setattr(jsondepth, "_STRING", real)
    at_limit = {f"{i},[{{": ",[{" for i in range(limit)}  # limit members, each a name and a value: 2 × limit strings
    assert not too_many_values(json.dumps(at_limit), limit)
    assert too_many_values(json.dumps({**at_limit, "x": "y"}), limit)
