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
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not a setting of this section; check the spelling)"
            msg = _as_yaml_read_it(err["type"], err.get("input"), msg)
            hint = lookalikes(err["input"]) if isinstance(err.get("input"), str) else ""
            msg += f": {hint}" if hint and hint not in msg else ""
            if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == IDENT_PATTERN:
                msg = _not_an_ident(str(err.get("input")))
            problems.append(f"{key_path(loc)}: {msg}")
        raise ConfigError(source, problems) from None
    cfg._warnings = tuple(dict.fromkeys(warnings))
    return cfg


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
        except ValueError:
            return msg
        if not math.isfinite(number):
            return msg
        return (f"{msg}: {value!r} is text, not a number (a number goes without quotes, and YAML 1.1 reads an "
                f"exponent only with a dot and a sign: 1.0e+3): write {_yaml_number(number)}")
    if kind == "bool_type" and isinstance(value, str):
        return f"{msg}: this is text; write true or false without quotes"
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
