"""Review web page settings (owned by the web stage)."""

from __future__ import annotations

from edge_agent.config.base import StrictModel


class WebConfig(StrictModel):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
