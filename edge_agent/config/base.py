"""The one base model every config section derives from: unknown keys are errors, and every
number is finite (NaN or ±Infinity would slip past every ``ge`` / ``le`` comparison and
reach a decision: a NaN bay polygon once made a bay read "free" for ever)."""

from __future__ import annotations

import logging
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

#: An id that goes into MQTT topics, file names and log lines (site, device, bay, lock, notify sink): letters,
#: digits and ``_.-``, at most 64 of them. A 70,000-character site_id passed check-config and then killed the MQTT
#: link's thread (a topic is at most 65,535 bytes): the events stayed in the outbox for good.
#: Not dots alone: "." and ".." are "here" and "up" in a URL path, so the page's form for bay ".." posted to /snapshot.
IDENT_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=IDENT_PATTERN)]


#: Every text value has a ceiling too, as every number has (a field may set its own, e.g. a recogniser's vocab):
#: a path is at most 4096 bytes (PATH_MAX), and an MQTT username of 70,000 characters killed the link's thread
#: packing the CONNECT (a string there is at most 65,535 bytes).
MAX_TEXT = 4096


class StrictModel(BaseModel):
    """``strict``: YAML already says what a value is, so nothing is converted — ``fps: true`` was 1 fps,
    ``port: "8080"`` a number, ``loop: "yes"`` true. A number key takes a number (an integer is a fine
    float), a bool key ``true`` / ``false``, and a bool is never a number. Text stops at ``MAX_TEXT``."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True, allow_inf_nan=False,
                              strict=True, str_max_length=MAX_TEXT)


def load_warning(info: ValidationInfo | None, log: logging.Logger, msg: str) -> None:
    """The one way a config check warns (allowed, but said): kept in the load's ``warnings`` (``parse_config``
    puts them on ``AgentConfig.warnings``) and logged unless the load is ``quiet`` (an edit's validation) or the
    last load of this config said the same (``said``: a reload's). Each check logging for itself repeated every
    warning at every SIGHUP and every installer Save of a config nobody had changed."""
    ctx = (info.context if info is not None else None) or {}
    collected = ctx.get("warnings")
    if isinstance(collected, list):
        collected.append(msg)
    if not ctx.get("quiet") and msg not in (ctx.get("said") or ()):
        log.warning("%s", msg)


def problems_at(model: str, problems: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """A ``ValidationError`` naming each key, for checks that span fields of one section.

    Raised from a ``model_validator(mode="after")`` — which runs on defaults too, so a rule between
    two keys also holds when the YAML writes only one of them (``enter_p: 0.2`` against the default
    ``exit_p`` 0.3) — it still points at the key (``occupancy.exit_p``), not at the section.
    """
    return ValidationError.from_exception_data(model, [
        InitErrorDetails(type=PydanticCustomError("config", "{msg}", {"msg": msg}), loc=loc, input=None)
        for loc, msg in problems
    ])
