"""Config: pydantic models only (validated once at start, then passed down)."""

from edge_agent.config.load import ConfigError, load_config, parse_config
from edge_agent.config.models import AgentConfig

__all__ = ["AgentConfig", "ConfigError", "load_config", "parse_config"]
