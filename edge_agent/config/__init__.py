"""Config: pydantic models only (validated once at start, then passed down).

The names below are loaded on first use, not with the package: every ``edge_agent.config.*`` import runs this
file first, and the command parsers import cheap parts of it (``limits``, ``errors``, ``hosts``) that must not
bring pydantic, NumPy and the models into every ``edge-agent --help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.config.load import ConfigError, load_config, parse_config
    from edge_agent.config.models import AgentConfig

__all__ = ["AgentConfig", "ConfigError", "load_config", "parse_config"]

_HOME = {"AgentConfig": "edge_agent.config.models", "ConfigError": "edge_agent.config.errors",
         "load_config": "edge_agent.config.load", "parse_config": "edge_agent.config.load"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
