"""Load and validate the YAML config once, with errors a person can act on."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Collection
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_agent.config.base import IDENT_PATTERN
from edge_agent.config.errors import ConfigError, key_path, shown_key
from edge_agent.config.models import AgentConfig
from edge_agent.config.suggest import elsewhere, quoted_choices, suggest_key, suggest_value
from edge_agent.config.yamlfile import lookalikes, read_yaml

__all__ = ["ConfigError", "key_path", "load_config", "parse_config"]


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None,
                 said: Collection[str] = (), quiet: bool = False) -> AgentConfig:
    """``said``: the warnings the last load of this config gave (a reload's), not logged again. ``quiet``: none logged
    (an edit's validation, ``ConfigFile.update``: the reload that follows it says what differs)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): the file holds a YAML {_kind(data)}, not a mapping of settings "
                                   "(site:, camera:, bays: …): is this the agent's config file?"])
    if data and not set(map(str, data)) & set(AgentConfig.model_fields):
        raise ConfigError(source, ["(top level): none of the agent's settings (site, camera, bays, …) is in this "
                                   "file: is this the agent's config file?"])
    warnings: list[str] = []  # the load's warnings, each check's (``base.load_warning``)
    try:
        cfg = AgentConfig.model_validate(data, context={"base_dir": base_dir, "said": said, "quiet": quiet,
                                                        "warnings": warnings})
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}  # key path → its lines (more than one: a union's members, merged)
        guessed: dict[str, str] = {}  # a required key's path → the misspelt key's path whose guess it is
        errors = exc.errors()
        for err in errors:
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            loc = _as_written(loc, data, err["type"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):  # a script entry's action: at its key
                loc, msg = _tag_problem(loc, err)
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not a setting of this section; check the spelling)"
                meant = suggest_key(AgentConfig, loc)
                msg += f": did you mean {meant}?" if meant else ""
                there = None if meant else elsewhere(AgentConfig, loc)
                msg += f": a setting of another section: {there}" if there else ""
                if meant:
                    guessed[key_path((*loc[:-1], meant))] = key_path(loc)
            msg = _as_yaml_read_it(err["type"], err.get("input"), msg)
            if err["type"] in ("literal_error", "enum", "union_tag_invalid"):  # `driver: gpiozer`: the choice meant
                ctx = err.get("ctx") or {}
                choice = suggest_value(err.get("input") if err["type"] != "union_tag_invalid" else ctx.get("tag"),
                                       quoted_choices(ctx.get("expected") or ctx.get("expected_tags")))
                msg += f": did you mean {choice!r}?" if choice else ""
            if err["type"] == "tuple_type" and loc and isinstance(loc[-1], int) and not isinstance(
                    err.get("input"), (list, dict)):
                # `polygon: [140, 420, 930, 420, …]` was one "Input should be a valid tuple" per number: eight lines
                # of a word the file never shows (probe newuser36); one line at the list's key says how to write it
                loc, msg = loc[:-1], ("each point is [x, y], two numbers in brackets: write "
                                      "[[x, y], [x, y], …], not bare numbers")
            hint = lookalikes(err["input"]) if isinstance(err.get("input"), str) else ""
            msg += f": {hint}" if hint and hint not in msg else ""
            if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == IDENT_PATTERN:
                msg = _not_an_ident(str(err.get("input")))
            problems.setdefault(key_path(loc), []).append(msg)
        _one_slip_one_line(problems, guessed)
        raise ConfigError(source, [f"{key}: {_one_of(msgs, errors, key, data)}" for key, msgs in problems.items()]) from None
    cfg._warnings = tuple(dict.fromkeys(warnings))
    return cfg


def _one_slip_one_line(problems: dict[str, list[str]], guessed: dict[str, str]) -> None:
    """A misspelt required key (``camra:``) is one line, the guess's, not also pydantic's "camera: Field required"
    for the same slip (probe newuser40: two lines, one naming a key the file does not hold)."""
    for required, typo in guessed.items():
        if problems.get(required) == ["Field required"] and typo in problems:
            del problems[required]
            name = required.rsplit(".", 1)[-1]
            problems[typo] = [f"{m} ({name} is required)" if "did you mean" in m else m for m in problems[typo]]


def _as_written(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[Any, ...]:
    """``loc`` with pydantic's own member tags left out: only the keys and indexes the YAML holds.

    A value of a union type is tried against each member, and pydantic names the member in the key path: a wrong
    ``pin: 1.5`` (``int | str``) was two lines, ``locks[0].motor.up.pin.int: …`` and ``….pin.constrained-str: …``,
    and a wrong ``at_s`` in a simulator script ``locks[0].simulator.script[0].presence.at_s`` (``presence``, the
    entry's ``action``) — neither a key of the file. A tag is a step below a value that holds no keys, or the value
    of the mapping's own discriminating key; a key the file lacks (a missing one, a default a cross-check names)
    stays (``kind``: the error's type; ``missing`` and a cross-check's ``config`` name a key)."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if node is _MISSING:
            out.append(part)
        elif isinstance(node, dict) and part in node and not (
                i < len(loc) - 1 and not isinstance(node[part], (dict, list)) and part in map(_hashable, node.values())):
            out.append(part)  # (not a tag that is a key too, with the error below it: ``action: switch, switch: up``)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif node is _GONE or not isinstance(node, (dict, list)) or isinstance(node, list):
            if not out:  # the document itself is not a mapping: said before validation
                out.append(part)
            node = _GONE  # below a scalar or a list, or below a tag: a member's name, not a key
        elif isinstance(part, str) and part in map(_hashable, node.values()):
            continue  # a tagged union's tag (the entry's ``action: presence``)
        elif i == len(loc) - 1 and kind not in ("missing", "config"):
            node = _GONE  # a union member's name below a mapping given where a number or text belongs
        else:
            out.append(part)
            node = _MISSING
    return tuple(out)


def _tag_problem(loc: tuple[Any, ...], err: Any) -> tuple[tuple[Any, ...], str]:
    """A tagged union's refusal at its key (``script[0].action``), without the value: pydantic's own line named the
    entry and quoted the tag whole ("Input tag 'xxxx…' found using 'action'"), 10 kB of it for a 10 kB value."""
    ctx = err.get("ctx") or {}
    key = str(ctx.get("discriminator", "")).strip("'")
    expected = ctx.get("expected_tags")
    if not key:
        return loc, err["msg"]
    if err["type"] == "union_tag_not_found":
        return (*loc, key), "missing: the key that says which kind of entry this is"
    return (*loc, key), f"Input should be {expected}" if expected else "not a kind this list takes"


_GONE = object()  # below a scalar: the rest of a key path are pydantic's tags
_MISSING = object()  # a key the file does not hold (missing, or defaulted): the rest is its own path


def _hashable(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool)) or value is None else None


_WANTED = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
           "string_type": "text", "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
           "dict_type": "a mapping", "model_type": "a mapping", "list_type": "a list"}


def _one_of(msgs: list[str], errors: list[Any], key: str, data: Any) -> str:
    """The one line of a key: its message, or for a union's members that each refused the value, what it may be.

    Where one member took the value's kind and refused the value (a name too long, a number out of range), that
    member's message is the one that applies; where every member refused the kind, the line says what kinds the key
    takes (``pin``: a whole number or text) — not one member's hint ("put the text in quotes") for ``pin: 1.5``."""
    if len(msgs) == 1:
        return msgs[0]
    mine = [e for e in errors if key_path(_as_written(tuple(
        p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))), data, e["type"])) == key]
    if len(mine) != len(msgs):  # not one key's union members: each line as it is
        return "; ".join(dict.fromkeys(msgs))
    kinds = [_WANTED.get(e["type"]) for e in mine]
    if any(k is None for k in kinds):  # a member took the kind: its own message
        return "; ".join(dict.fromkeys(m for m, k in zip(msgs, kinds, strict=True) if k is None))
    value = mine[0].get("input")
    line = f"Input should be {' or '.join(dict.fromkeys(k for k in kinds if k))}"
    if value is None:
        return f"empty (nothing after the colon, or null): {line[0].lower()}{line[1:]}"
    if isinstance(value, bool):
        return (f"{line}: YAML 1.1 read this as {str(value).lower()} (yes, no, on, off, true, false unquoted are "
                "true / false)")
    shown = {dict: "a mapping", list: "a list"}.get(type(value)) or repr(value)[:40]
    return f"{line}, not {shown}"


def _as_yaml_read_it(kind: str, value: Any, msg: str) -> str:
    """``msg`` with what YAML 1.1 made of the value, where that is why it is refused.

    An installer writes ``id: on``, ``province: NO`` or ``id: 01`` and reads "Input should be a valid string"; writes
    ``max_mb: 1e4`` and reads "Input should be a valid number" — both true of what YAML built, neither of what
    was written: unquoted ``on`` / ``off`` / ``yes`` / ``no`` are true / false, unquoted digits a number, and
    ``1e4`` (an exponent without a dot and a sign) text."""
    if value is None and kind.endswith("_type"):
        return f"empty (nothing after the colon, or null): {msg[0].lower()}{msg[1:]}"
    if kind in ("string_type", "literal_error") and isinstance(value, bool):
        return (f"{msg}: YAML 1.1 read this as {str(value).lower()} (yes, no, on, off, true, false unquoted are "
                "true / false): put the text in quotes")
    if kind == "string_type" and isinstance(value, (date, datetime)):
        return f"{msg}: YAML 1.1 read this as the date {value.isoformat()}: put the text in quotes"
    if kind == "string_type" and isinstance(value, (int, float)):
        return f"{msg}: YAML read this as the number {value!r}: put the text in quotes ('{value!r}')"
    if kind in ("float_type", "int_type") and isinstance(value, bool):  # `fps: yes`: said only "a valid number"
        return (f"{msg}: YAML 1.1 read this as {str(value).lower()} (yes, no, on, off, true, false unquoted are "
                "true / false): write a number")
    if kind in ("float_type", "int_type") and isinstance(value, str):
        try:
            number = float(value.replace("_", ""))
        except ValueError:  # `fps: five`: said only "a valid number" (a full-width comma: its own hint)
            return msg if lookalikes(value) else f"{msg}: {value[:40]!r} is text; write a number"
        if not math.isfinite(number):
            return msg
        return (f"{msg}: {value!r} is text, not a number (a number goes without quotes, and YAML 1.1 reads an "
                f"exponent only with a dot and a sign: 1.0e+3): write {_yaml_number(number)}")
    if kind == "list_type" and isinstance(value, str) and value.strip().startswith("["):
        # `polygon: '[[20, 200], …]'`: the brackets are there, the quotes make it one text (review78)
        return f"{msg}: this is text in quotes; write the list without the quotes"
    if kind == "list_type" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        # `allow: 粤B12345`: "Input should be a valid list" said nothing of the brackets (probe newuser36)
        return f"{msg}, not one value: a list goes in brackets, [a, b], or one `- ` line per entry"
    if kind == "bool_type" and isinstance(value, str):
        return f"{msg}: this is text; write true or false without quotes"
    if kind == "model_type":  # pydantic's "… or instance of TimersConfig": a class name the file never shows
        shown = {list: "a list", bool: "true / false"}.get(type(value)) or repr(value)[:40]
        return f"Input should be a section of settings (`key: value` lines indented under it), not {shown}"
    return msg


def _not_an_ident(value: str) -> str:
    """An id (site, device, bay, lock, sink) with a character a topic or a file name cannot take, named: the
    pattern alone ("String should match pattern '^[A-Za-z0-9_.-]+$'") told a Chinese installer nothing."""
    bad = "".join(dict.fromkeys(c for c in value if not re.fullmatch(IDENT_PATTERN, c) and c != "."))
    if not bad:  # only dots, each one allowed
        return (f"{value!r} is no id: dots alone mean \"this\" and \"up\" in the page's links and in paths; "
                "use a letter or digit too")
    shown = " ".join("a space" if c == " " else repr(c) for c in bad[:8])
    return (f"{shown} cannot be in an id: it goes into MQTT topics and file names, so only letters A–Z a–z, digits "
            "and _ . - (a Chinese name belongs in a comment)")


def _yaml_number(number: float) -> str:
    """``number`` as YAML 1.1 reads it back as one: ``1000``, ``0.5``, ``1.0e+300`` (``1e+300`` is text)."""
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    text = repr(number)
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}{e}{exponent}" if e else text


def _kind(data: object) -> str:
    return {str: "text", list: "list", int: "number", float: "number", bool: "true/false"}.get(
        type(data), shown_key(type(data).__name__))


def load_config(path: str | Path, said: Collection[str] = ()) -> AgentConfig:
    """Read ``path`` and the run-time overrides in its data dir (``config/overrides.py``) →
    validated config. Raises ``ConfigError`` (never a traceback). ``said``: as ``parse_config``."""
    from edge_agent.config.overrides import merge, overrides_path, read_overrides  # it raises our ConfigError

    p = Path(path)
    # relative paths in the file resolve against its folder taken whole: against ``op15`` of ``--config
    # op15/config.yaml`` they stayed relative to the working folder, and the page's users file was then looked up
    # under that folder again (``op15/op15/users.txt``: `users list` showed nobody, every login failed), and every
    # reload of an agent started that way said "web changes need a restart" (the reload reads the absolute path)
    base = Path(os.path.abspath(p)).parent
    data, text = read_yaml(p)
    over = read_overrides(overrides_path(data)) if isinstance(data, dict) else None
    if over is None:
        cfg = parse_config(data, str(p), base_dir=base, said=said)
    else:
        over_path = overrides_path(data)
        cfg = parse_config(merge(data, over[0]), f"{p} with the overrides in {over_path}", base_dir=base,
                           said=said)
        cfg._overrides_path = over_path
        text += "\n" + over[1]
    # absolute, but a symlink kept as one: a reload reads the file the link names *now* (a deploy that
    # repoints config.yaml → config-v4.yaml and reloads was re-reading config-v3.yaml)
    cfg._source_path = Path(os.path.abspath(p))
    cfg._hash = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cfg
