"""Charger health warnings: when what the camera sees and what the charger reports disagree."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class ChargerHealthConfig(StrictModel):
    """Thresholds of the three warnings (see docs/notify-and-stats.md). Bays without ``charger_id`` are skipped."""

    enabled: bool = True
    suspect_park_min: float = Field(10.0, gt=0, le=24 * 60, allow_inf_nan=False,
                                    description="N: an NEV parked this long without `charging` counts")
    suspect_visits: int = Field(3, ge=1, le=100, description="K: that many such visits in a row → charger_suspect")
    mismatch_empty_min: float = Field(15.0, gt=0, le=24 * 60, allow_inf_nan=False,
                                      description="M: `charging` while the bay is empty this long → charger_mismatch")
    silent_after_h: float = Field(6.0, gt=0, le=24 * 14, allow_inf_nan=False,
                                  description="H: no status this long while visits happen → charger_silent")
