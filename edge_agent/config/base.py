"""The one base model every config section derives from: unknown keys are errors, and every
number is finite (NaN or ±Infinity would slip past every ``ge`` / ``le`` comparison and
reach a decision: a NaN bay polygon once made a bay read "free" for ever)."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True, allow_inf_nan=False)
