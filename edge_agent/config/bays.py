"""Bays, timers and plate lists (owned by the bays stage)."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class BayConfig(StrictModel):
    id: str
    polygon: list[tuple[float, float]]
    charger_id: str | None = None
    lock_id: str | None = None


class TimersConfig(StrictModel):
    arrival_confirm_s: float = Field(3.0, ge=0)
    departure_confirm_s: float = Field(10.0, ge=0)
    fuel_grace_s: float = Field(120.0, ge=0)
    unidentified_timeout_s: float = Field(300.0, ge=0)
    overstay_s: float = Field(900.0, ge=0)


class ListsConfig(StrictModel):
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
