"""docs/configuration.md lists every config key: a key added to the models without its row fails here."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from edge_agent.config.models import AgentConfig
from tests.config.walk import models_in

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _is_list(annotation: object) -> bool:
    """The docs write a list of sections as ``key[]`` (``sinks[].name``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    if origin is list:
        return True
    return origin in (typing.Union, types.UnionType) and any(_is_list(a) for a in typing.get_args(annotation))


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        nested = models_in(field.annotation)
        if nested and _is_list(field.annotation):
            path += "[]"
        if nested:
            for sub in nested:
                out += _keys(sub, path + ".")
        else:
            out.append(path)
    return out


def _documented() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^### `([a-z_]+)`", line):
            current = m.group(1)
            sections.setdefault(current, set())
        elif current and (m := re.match(r"^\| `([^`]+)` \|", line)):
            sections[current].add(m.group(1))
    return sections


def test_every_config_key_has_a_row_in_the_configuration_doc():
    documented = _documented()
    missing = []
    for section, field in AgentConfig.model_fields.items():
        nested = models_in(field.annotation)
        rows = documented.get(section, set())
        if not nested:
            if section not in documented:
                missing.append(section)
            continue
        for model in nested:
            missing += [f"{section}.{k}" for k in _keys(model) if k not in rows]
    assert not missing, f"docs/configuration.md lacks rows for: {missing}"
