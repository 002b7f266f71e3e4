"""Config documents for fuzzing: the shipped examples with values replaced, keys dropped or repeated, and YAML's
own traps (tags, aliases, nesting, numbers no setting holds) written in where a value was."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config").glob("*.yaml"))
_RAW = "RAWTOKEN{:04d}"
_PROBLEM = re.compile(r"^  (\(yaml\)|\(file\)|\(top level\)|[\w?…\[.-][^ ]*( / [\w\[][^ ]*)*): \S")

# What YAML can say that a dumped Python value cannot: written in place of a value, as text.
RAW_VALUES = [
    ".nan", ".NaN", ".inf", "-.inf", "+.inf", "1e309", "1.0e+309", "-1.0e+309", "-0", "-0.0", "-.0", "0.0e-400",
    "!!float .nan", "!!float 1e309", "!!int 12", "!!str 12", "!!float '-0'", "!!bool yes",
    "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!python/tuple [1, 2]",
    "!!binary aGVsbG8=", "!!set {a: null}", "!!omap [{a: 1}]", "!!pairs [[a, 1]]", "!!timestamp 2001-12-14",
    "!!null ''", "!<tag:example.com,2000:x> 1", "!local 1", "!!map {}", "!!seq []",
    "*undefined_alias", "&a [*a]", "&b {k: *b}", "2001-12-14", "22:00", "012", "0x1F", "0b101", "0o17", "1_000",
    "~", "null", "yes", "No", "on", "'${HOME}'", "~/x", "'\\0'", '"\\0"', '"\\u0000"', '"\\x85"', '"\\ud800"',
    "'\u202eevil'", "'\ufeff'", "9" * 99, "9" * 101, "-" + "9" * 5000, "1" + "0" * 400 + ".0",
    "[" * 60 + "]" * 60, "[" * 3000 + "]" * 3000, "{a: " * 500 + "1" + "}" * 500, "? [a, b]\n", "{? [a]: 1}",
    # YAML calls these a number, a true/false or a date, and its constructor cannot build them
    "!!float abc", "!!int abc", "!!int ''", "!!bool maybe", "!!timestamp x", "0x_", "0b_", "2026-02-30",
    "2001-13-45", "2026-01-01 25:00:00", "2026-01-01T00:00:00+99:00",
    "'" + "x" * 100_000 + "'", "[" + ", ".join(["1"] * 5000) + "]", "|\n  block\n", ">-\n  folded\n",
]
BILLION_LAUGHS = "".join(f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n" for i in range(9))

_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e309", "-0", "0x10", "１２", "٣", "粤B12345", "\u3000",
                     "../../etc/passwd", "/dev/zero", "/proc/self/mem", "a" * 5000, "rtsp://u:p@h/1", "\t", "\n",
                     "A" * 41, "bay-01", "lock-01", "Asia/Shanghai", "../", "CON", "\x85", "\u2028"]),
)
_NUMBERS = st.one_of(
    st.integers(), st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), 10**50, 10**99]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-0.0, 5e-324, 1e308, 1.7976931348623157e308]),
)
_LEAF = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)
JUNK = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(_TEXT, inner, max_size=4)), max_leaves=12)


def paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``doc`` (the document itself excluded): mapping keys and list indices, containers too."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out.append((*here, k))
        out.extend(paths(v, (*here, k)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path[:-1]:
        doc = doc[k]
    return doc


@st.composite
def documents(draw: st.DrawFn, data_dir: Path) -> bytes:
    """A YAML text: one shipped example (``data_dir`` in the fuzz's folder) with one to four mutations."""
    source = draw(st.sampled_from(EXAMPLES))
    doc: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    doc["data_dir"] = str(data_dir)
    raws: list[str] = []
    head = ""
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(doc)))
        parent = _parent(doc, where)
        kind = draw(st.sampled_from(["junk", "junk", "raw", "raw", "drop", "unknown", "laughs", "typed"]))
        if kind == "drop":
            del parent[where[-1]]
        elif kind == "unknown" and isinstance(parent, dict):
            parent[draw(_TEXT)] = draw(JUNK)
        elif kind == "laughs":
            head = BILLION_LAUGHS
            raws.append("*l8")
            parent[where[-1]] = _RAW.format(len(raws) - 1)
        elif kind == "raw":
            raws.append(draw(st.sampled_from(RAW_VALUES)))
            parent[where[-1]] = _RAW.format(len(raws) - 1)
        elif kind == "typed":  # the value's own kind, at its edges
            old = parent[where[-1]]
            if isinstance(old, bool):
                parent[where[-1]] = draw(st.sampled_from(["true", "True", 1, 0, None]))
            elif isinstance(old, (int, float)):
                parent[where[-1]] = draw(st.sampled_from([-old, old * 1e6, old + 0.5, -1, 0, math.nan, math.inf,
                                                          str(old), 2**64, -0.0]))
            elif isinstance(old, str):
                parent[where[-1]] = draw(st.sampled_from([old * 200, old.upper(), f" {old} ", old + "\x07", "",
                                                          old[: len(old) // 2], old + "/.."]))
            else:
                parent[where[-1]] = draw(JUNK)
        else:
            parent[where[-1]] = draw(JUNK)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=False, width=10_000)
    for i, raw in enumerate(raws):
        text = text.replace(_RAW.format(i), raw.rstrip("\n") if "\n" not in raw.rstrip("\n") else raw.replace(
            "\n", "\n" + " " * 8), 1)
    text = head + text
    edit = draw(st.sampled_from(["none", "none", "none", "dup", "bytes", "tab", "crlf", "bom", "cut"]))
    lines = text.split("\n")
    if edit == "dup" and len(lines) > 1:
        i = draw(st.integers(0, len(lines) - 2))
        lines.insert(i, lines[i])
    elif edit == "tab":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = "\t" + lines[i]
    elif edit == "cut":
        lines = lines[: draw(st.integers(0, len(lines)))]
    text = "\n".join(lines)
    if edit == "crlf":
        text = text.replace("\n", "\r\n")
    elif edit == "bom":
        text = "\ufeff" + text
    elif edit == "bytes":  # a byte or three changed anywhere: control characters, invalid UTF-8
        raw = bytearray(text.encode("utf-8", "surrogatepass"))
        for _ in range(draw(st.integers(1, 3))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(raw)
    return text.encode("utf-8", "surrogatepass")


def problem_lines(report: str) -> list[str]:
    """The problem lines of a ``ConfigError`` report (after its first line; not the count of those past
    ``errors.MAX_PROBLEMS``)."""
    return [line for line in report.splitlines()[1:] if not re.fullmatch(r"  … and \d+ more problems \(.*\)", line)]


def names_a_key(line: str) -> bool:
    return bool(_PROBLEM.match(line))


def non_finite(value: Any, seen: set[int] | None = None, where: str = "") -> str | None:
    """The path of a NaN or infinite float anywhere in a validated config (None: none)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(value)]
    elif hasattr(value, "__pydantic_fields__"):
        items = [(k, getattr(value, k, None)) for k in type(value).model_fields]
    else:
        return None
    for k, v in items:
        found = non_finite(v, seen, f"{where}.{k}")
        if found:
            return found
    return None


__all__ = ["EXAMPLES", "documents", "names_a_key", "non_finite", "problem_lines"]


OVERRIDES = {  # what the installer page and set-lists write to {data_dir}/overrides.yaml (config/overrides.py)
    "bays": [{"id": "bay-01", "polygon": [[140, 420], [930, 420], [950, 1060], [60, 1060]]},
             {"id": "new", "polygon": [[1000, 100], [1100, 100], [1100, 200]]}],
    "removed_bays": ["bay-02"], "added_bays": ["new"], "lists": {"allow": ["粤B12345D"], "deny": []},
    "camera": {"width": 1920, "height": 1080}, "occupancy": {"model": "m.onnx", "calibration": "c.json"},
}


@st.composite
def overrides_documents(draw: st.DrawFn) -> bytes:
    """An overrides file: some of its sections, then up to three values replaced, dropped or added."""
    doc: dict[str, Any] = {k: v for k, v in yaml.safe_load(yaml.safe_dump(OVERRIDES)).items() if draw(st.booleans())}
    raw = None
    for _ in range(draw(st.integers(0, 3))):
        where_all = paths(doc)
        if not where_all:
            break
        where = draw(st.sampled_from(where_all))
        parent = _parent(doc, where)
        kind = draw(st.sampled_from(["junk", "drop", "raw", "unknown"]))
        if kind == "drop":
            del parent[where[-1]]
        elif kind == "unknown" and isinstance(parent, dict):
            parent[draw(_TEXT)] = draw(JUNK)
        elif kind == "raw" and raw is None:
            raw = draw(st.sampled_from(RAW_VALUES))
            parent[where[-1]] = _RAW.format(0)
        else:
            parent[where[-1]] = draw(JUNK)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=10_000)
    if raw is not None:
        text = text.replace(_RAW.format(0), raw.replace("\n", " "), 1)
    return text.encode("utf-8", "surrogatepass")
