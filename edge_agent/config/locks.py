"""Parking-lock settings (owned by the locks stage)."""

from __future__ import annotations

from edge_agent.config.base import StrictModel


class LockConfig(StrictModel):
    id: str
    driver: str = "simulator"
