"""Evidence retention (owned by the evidence stage)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge_agent.config.base import StrictModel, problems_at


class EvidenceConfig(StrictModel):
    max_age_days: float = Field(
        30.0, gt=0, le=3650,
        description="older evidence is deleted; a visit with no violation loses its plate in the bay events this "
                    "long after it departed (a car still parked keeps it), and neither events.jsonl nor the notify dead letters keep one "
                    "longer")
    max_mb: float = Field(2048.0, gt=0, le=10_000_000, description="total size cap; snapshots (at most 5 % of it, "
                          "200 at most) go first, then plain identifications, then violations (with their visits' "
                          "identifications)")
    history_days: float = Field(
        400.0, gt=0, le=3650, allow_inf_nan=False,
        description="bay events (statistics, the review page's timelines) kept this long; a violation's own "
                    "events stay as long as the violation")
    review_days: float = Field(
        730.0, gt=0, le=3650, allow_inf_nan=False,
        description="decided violations (with their decisions) and the review page's audit log are kept this long "
                    "after the decision / entry; an undecided violation until someone decides it or open_days "
                    "expires it")
    open_days: float = Field(
        180.0, ge=0, le=3650, allow_inf_nan=False,
        description="a violation nobody decided within this many days of its end (or of a reviewer reopening it) is "
                    "closed as expired: a decision row and an audit row by retention, its photos then go "
                    "max_age_days later, its row review_days later; a reviewer may still decide it. 0: undecided "
                    "violations are kept until someone decides them")
    jpeg_quality: int = Field(85, ge=30, le=100)
    photo: Literal["bay", "frame"] = Field(
        "bay", description="what a visit's photo shows: the bay with a tenth of its size around it, and the read plate (neighbouring "
                           "cars' plates and people farther off are personal data the case does not need), or the "
                           "whole camera frame; a bay's snapshot follows it")
    min_free_mb: float = Field(
        64.0, ge=0, le=1_000_000, allow_inf_nan=False,
        description="free space kept for the event outbox: below it the oldest evidence is pruned, "
                    "then new evidence skipped (events outrank photos)")

    @model_validator(mode="after")
    def _review_outlasts_history(self) -> "EvidenceConfig":
        """A decided violation is kept at least as long as the bay events around it: its row is what says the
        visit's events are a violation's story, and a dismissal is what keeps the statistics from counting a
        violation a reviewer said was none. Forgotten before its events, both would be wrong for the rest
        of ``history_days``."""
        if self.review_days < self.history_days:
            raise problems_at(type(self).__name__, [(("review_days",), (
                f"{self.review_days:g} is shorter than evidence.history_days ({self.history_days:g}): a decided "
                "violation must be kept at least as long as the bay events around it; lower history_days too"))])
        return self
