"""Load and validate the YAML config once, with errors a person can act on."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_agent.config.errors import ConfigError, key_path, shown_key
from edge_agent.config.models import AgentConfig
from edge_agent.config.yamlfile import read_yaml

__all__ = ["ConfigError", "key_path", "load_config", "parse_config"]


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): the file holds a YAML {_kind(data)}, not a mapping of settings "
                                   "(site:, camera:, bays: …): is this the agent's config file?"])
    if data and not set(map(str, data)) & set(AgentConfig.model_fields):
        raise ConfigError(source, ["(top level): none of the agent's settings (site, camera, bays, …) is in this "
                                   "file: is this the agent's config file?"])
    try:
        cfg = AgentConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not a setting of this section; check the spelling)"
            problems.append(f"{key_path(loc)}: {msg}")
        raise ConfigError(source, problems) from None
    return cfg


def _kind(data: object) -> str:
    return {str: "text", list: "list", int: "number", float: "number", bool: "true/false"}.get(
        type(data), shown_key(type(data).__name__))


def load_config(path: str | Path) -> AgentConfig:
    """Read ``path`` and the run-time overrides in its data dir (``config/overrides.py``) →
    validated config. Raises ``ConfigError`` (never a traceback)."""
    from edge_agent.config.overrides import merge, overrides_path, read_overrides  # it raises our ConfigError

    p = Path(path)
    data, text = read_yaml(p)
    over = read_overrides(overrides_path(data)) if isinstance(data, dict) else None
    if over is None:
        cfg = parse_config(data, str(p), base_dir=p.parent)
    else:
        over_path = overrides_path(data)
        cfg = parse_config(merge(data, over[0]), f"{p} with the overrides in {over_path}", base_dir=p.parent)
        cfg._overrides_path = over_path
        text += "\n" + over[1]
    # absolute, but a symlink kept as one: a reload reads the file the link names *now* (a deploy that
    # repoints config.yaml → config-v4.yaml and reloads was re-reading config-v3.yaml)
    cfg._source_path = Path(os.path.abspath(p))
    cfg._hash = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cfg
