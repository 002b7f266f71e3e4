"""How deep a JSON text nests, told without recursing: a payload from the network is refused before the parser
sees it when it nests deeper than any document of ours.

Why not let ``json.loads`` raise ``RecursionError``: it gets there by running the interpreter's stack to its
limit, and whatever runs at that depth (the garbage collector finalising other objects, their warnings formatted
by the unraisable hook) then fails as well — a test run saw 18 "Failed to process unraisable exception" errors
from one ``[[[[…`` command. A linear scan of the bytes has no stack to exhaust.
Also here: ``unique_names``, the parser's hook that refuses an object naming a field twice.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # our deepest document (an event's data, a command) nests under 10

_OPEN = frozenset(b"[{")
# a JSON string once its escaped backslashes and quotes are gone: quote to quote, or to the end (unterminated). It
# never fails once at a quote: a pattern that needed the closing quote failed at an unterminated one and was tried
# again at every quote after it, each scan to the end (a payload of '\\"' repeated: 160 KB took 154 s, review101)
_STRING = re.compile(rb'"[^"]*"?')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def without_escapes(data: bytes) -> bytes:
    """``data`` without the escapes that could hide a quote (an escaped backslash, an escaped quote), taken out by
    ``bytes.replace`` in C. Why: stepped over one by one by the string pattern, a string of 12 Mi ``\\"`` held it
    2.5 s, as long as the byte walk it replaced (review101). Paired from the left, as a string pairs them; a
    backslash outside strings is where the parser stops, so how the rest is paired does not matter."""
    return data.replace(b"\\\\", b"").replace(b'\\"', b"")


def _utf8(raw: bytes | str) -> bytes | None:
    """``raw`` as UTF-8 bytes, as the parser will read it; None when the parser refuses it before reading a bracket.
    Why: ``json.loads`` reads bytes in UTF-16 / UTF-32 too: counted as bytes, a character with a '"' byte (U+4E22,
    b'"N' in UTF-16-LE) opened a "string" that hid every bracket after it, and 100,000 deep reached the parser."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if isinstance(raw, bytes) and not (encoding := json.detect_encoding(raw)).startswith("utf-8"):
        try:
            data = raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
        except UnicodeError:
            return None
    return data


def too_many_values(raw: bytes | str, limit: int) -> bool:
    """True when ``raw`` may hold more than ``limit`` values (array elements and object members: a comma, ``[`` or
    ``{`` outside strings each counts one, an upper bound; more strings than twice ``limit`` are more values too:
    each is a member's name, its value or an element). Why: the parser and the schema check cost per value, not
    per byte: a 22 MiB object of 1.8 million names held the command thread 53 s before its refusal, 7 million ``{}``
    in a list over 300 s, and a ``unlock`` sent after them waited as long (attacker41). Texts with fewer such bytes in
    all are passed at once."""
    data = _utf8(raw)
    if data is None or data.count(b",") + data.count(b"[") + data.count(b"{") <= limit:
        return False
    plain = without_escapes(data)
    # each string is a member's name, its value or an element: more than 2 × limit + 1 strings (and one left open)
    # are more than ``limit`` values, told by a count. Stepped over one by one, 24 MiB of '",",' (4 million strings)
    # held the command thread 3.4 s before its refusal, six times the parse it guards (review106)
    if plain.count(b'"') > 2 * (2 * limit + 1) + 1:
        return True
    outside = _STRING.sub(b"", plain)
    return outside.count(b",") + outside.count(b"[") + outside.count(b"{") > limit


def too_deep(raw: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """True when ``raw`` opens more than ``limit`` arrays / objects inside each other (brackets in strings do
    not count). Texts with fewer brackets than ``limit`` in all are passed at once."""
    data = _utf8(raw)
    if data is None or data.count(b"[") + data.count(b"{") <= limit:
        return False
    # strings stepped over whole, and only the brackets outside them walked: walked byte by byte, a 24 MiB command
    # holding one string of "[" took 2.6 s, and an unlock sent after it waited 30 s (attacker40). An unterminated
    # string runs to the end, as the byte walk read it.
    outside = _STRING.sub(b"", without_escapes(data))
    brackets = outside.translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depth = 0
    for c in brackets:
        if c in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook`` for JSON from the network: an object that names a field twice is a
    ``ValueError``. RFC 8259 leaves which one counts to each parser, and Python's took the last, so a command's
    ``{"bay": "B", …, "bay": "A"}`` raised lock A while a broker rule, a proxy or the sender's own log, reading the
    first, saw bay B; the page's Save took the second of two ``bays``. What depends on the parser is refused."""
    body: dict[str, Any] = {}
    for name, value in pairs:
        if name in body:
            shown = repr(name) if len(name) <= 58 else f"{name[:56]!r}… ({len(name)} characters)"
            raise ValueError(f"the name {shown} appears twice in one object")
        body[name] = value
    return body
