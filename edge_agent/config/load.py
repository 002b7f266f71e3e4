"""Load and validate the YAML config once, with errors a person can act on."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge_agent.config.models import AgentConfig


class ConfigError(Exception):
    """Invalid config; ``problems`` holds one ``key.path: message`` line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def report(self) -> str:
        lines = [f"{self.source}: invalid config ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''})"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): must be a mapping of keys to values"])
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


def load_config(path: str | Path) -> AgentConfig:
    """Read ``path`` and the run-time overrides in its data dir (``config/overrides.py``) →
    validated config. Raises ``ConfigError`` (never a traceback)."""
    from edge_agent.config.overrides import merge, overrides_path, read_overrides  # it raises our ConfigError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"(file): cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(p), [f"(yaml): {where}{problem}"]) from None
    over = read_overrides(overrides_path(data)) if isinstance(data, dict) else None
    if over is None:
        cfg = parse_config(data, str(p), base_dir=p.parent)
    else:
        over_path = overrides_path(data)
        cfg = parse_config(merge(data, over[0]), f"{p} with the overrides in {over_path}", base_dir=p.parent)
        cfg._overrides_path = over_path
        text += "\n" + over[1]
    cfg._source_path = p.resolve()
    cfg._hash = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cfg
