"""A person's words from outside (a command's ``operator`` / ``reason``, a dismissal's reason): the characters that
are no text there, refused naming the field.

Why: such words go into the lock's events, the outbox, ``events.jsonl``, the violation log, the page and the CSV
export. A NUL there was stored as ``\\u0000``, which PostgreSQL's jsonb refuses. A bidirectional override or isolate
(U+202E, U+2066–2069) makes a viewer show the text after it reordered ("Trojan Source", CVE-2021-42574): an
``operator`` of ``"ops\\u202e nimda"`` read ``ops admin`` in a log viewer, a page row or a spreadsheet, so a row
could lie about who did what; a zero-width space (U+200B) makes two names look the same. Plates never take them
(``plates.py``)."""

from __future__ import annotations

import unicodedata

# the two format characters words need: Persian and Indic scripts join or part letters with them, emoji with ZWJ
JOINERS = frozenset("\u200c\u200d")


def hidden(text: str) -> str | None:
    """The first character of ``text`` that is no visible text, or None: a control character other than whitespace
    (NUL, ESC, DEL, C1; a line break or tab is whitespace) or a format character other than the joiners (bidi
    embeddings, overrides, isolates and marks, zero-width spaces, the soft hyphen, a byte-order mark)."""
    for c in text:
        kind = unicodedata.category(c)
        if (kind == "Cc" and not c.isspace()) or (kind == "Cf" and c not in JOINERS):
            return c
    return None


def said(c: str) -> str:
    """How a refusal names ``c``: ``control character U+001B`` or ``invisible character U+202E
    (RIGHT-TO-LEFT OVERRIDE)``."""
    if unicodedata.category(c) == "Cc":
        return f"control character U+{ord(c):04X}"
    return f"invisible character U+{ord(c):04X} ({unicodedata.name(c, 'format character')})"
