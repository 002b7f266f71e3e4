"""Text cells for CSV files people open in a spreadsheet (the page's exports, ``edge-agent stats --csv``).

OWASP's CSV-injection rule: a text cell a spreadsheet would run as a formula gets a leading quote. Unicode's
bidirectional controls are dropped first, so none can reorder a cell or stand in front of its ``=``. Numbers
are left as they are: a spreadsheet reads ``-3`` as minus three, and only text can carry a formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r",
                 # their full-width forms (U+FF1D, FF0B, FF0D, FF20), which a Chinese or Japanese input method types:
                 # LibreOffice 7.4's CSV import keeps them text (measured, en-US / zh-CN / ja-JP); Excel converts
                 # full-width formula input in East Asian locales and was not at hand to check, so they are quoted
                 # too (probe leftovers30): a quote on a text starting so costs little, a formula run costs much
                 "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Unicode's bidirectional controls (UAX #9: embeddings, overrides, isolates, marks): inside a cell they reorder
# what a spreadsheet shows ("\u202e" turns "京A12345" into "54321A京"), and one in front hides a formula's "=".
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def text_cell(value: object) -> str:
    """``value`` as a cell that no spreadsheet runs (None: empty)."""
    text = "" if value is None else str(value).translate(BIDI_CONTROLS)
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_row(row: dict) -> dict:
    """A ``csv.DictWriter`` row with every text value made a :func:`text_cell` (numbers kept)."""
    return {k: text_cell(v) if isinstance(v, str) else v for k, v in row.items()}



def kept_cell(text: str) -> str:
    """``text`` as a cell no spreadsheet runs that :func:`read_cell` gives back exactly (nothing dropped): for files
    the agent reads again (``labels.csv``: a bay id ``-A1``, a frame named ``=1+2.jpg``). Every text whose quotes
    at the start stand before such a character gets one more, so the reading is never in doubt."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_START) else text


def read_cell(text: str) -> str:
    """A cell :func:`kept_cell` wrote, as it was; a cell written without it (by hand, by an older agent) unchanged
    unless its quotes at the start stand before ``=``, ``+``, ``-``, ``@`` (one of them is then taken off)."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START) else text


def repeated_column(header: Sequence[str] | None, columns: Iterable[str]) -> str:
    """Why a labels or truth file's header cannot be read as meant — one of ``columns`` named twice (two exports
    pasted side by side, a spreadsheet's helper column) — or "". ``csv.DictReader`` keeps the last of the two
    without a word: every row was scored against a column its author never looked at."""
    names = list(header or [])
    for c in columns:
        at = [i + 1 for i, h in enumerate(names) if h == c]
        if len(at) > 1:
            return f"column {c!r} is in the header twice (columns {' and '.join(map(str, at))}): keep the one meant"
    return ""
