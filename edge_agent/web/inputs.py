"""What the page accepts from a browser, checked before it reaches a query or a file.

Every value from the web is parsed here into a bounded type: a bad value is a 400 naming the
field (or a 404 for an id that cannot exist), never an overflow deep in SQLite or ``datetime``.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge_agent.clock import FIRST_DAY, LAST_DAY
from edge_agent.evidence.violations import ViolationFilter
from edge_agent.jsondepth import too_deep, unique_names

MAX_PAGE = 1_000_000
PLATE_QUERY_MAX = 16  # the list's plate search; its box says the same (a longer paste was a bare 400)
_ID = re.compile(r"[1-9][0-9]{0,17}")  # below 2**63: SQLite's INTEGER


def problems(exc: ValidationError) -> str:
    """``field: message`` per problem, as check-config words them."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}" for e in exc.errors())


class ListQuery(BaseModel):
    """The violation list's and CSV export's query string. An empty field (the filter form sends
    them) means "any"; dates are whole site days, ``to`` inclusive."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    bay: str | None = Field(None, max_length=64)
    decision: Literal["open", "confirmed", "dismissed", "expired"] | None = None
    plate: str | None = Field(None, max_length=PLATE_QUERY_MAX)
    since: date | None = Field(None, alias="from")
    until: date | None = Field(None, alias="to")
    page: int = Field(1, ge=1, le=MAX_PAGE)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_any(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data

    @field_validator("since", "until")
    @classmethod
    def _in_range(cls, v: date | None) -> date | None:
        if v is not None and not FIRST_DAY <= v <= LAST_DAY:
            raise ValueError(f"must be a day from {FIRST_DAY} to {LAST_DAY}")
        return v

    @classmethod
    def parse(cls, query: dict[str, str]) -> ListQuery:
        try:
            q = cls.model_validate(query)
        except ValidationError as exc:
            raise HTTPException(400, problems(exc)) from None
        if q.since is not None and q.until is not None and q.since > q.until:
            # a reversed range matched nothing and the page said "no violations match", as if there were none
            raise HTTPException(400, "from / to: from must be on or before to")
        return q

    @classmethod
    def carried(cls, text: str | None) -> str:
        """The list view a violation was opened from (``?list=``: its filter and page), as a query string the page
        links back to; anything it cannot read is the whole list, never an error (a stale or edited link).
        Why: "back to list" and every decision led to the whole list, page 1: a manager working through one bay's
        open violations on a phone set the filter again after each one (newuser39)."""
        if not text or len(text) > 512:
            return ""
        raw = dict(parse_qsl(text))
        try:
            q = cls.parse(raw)
        except HTTPException:
            return ""
        keep = {k: raw[k] for k in ("bay", "decision", "plate", "from", "to") if raw.get(k)}
        return urlencode({**keep, "page": q.page} if q.page > 1 else keep)

    def filter(self, tz: ZoneInfo) -> ViolationFilter:
        return ViolationFilter(
            bay_id=self.bay, decision=self.decision, plate=self.plate,
            since=datetime.combine(self.since, time(), tz) if self.since else None,
            until=datetime.combine(self.until + timedelta(days=1), time(), tz) if self.until else None,
        )


def violation_id(text: str) -> int:
    """A violation id from the path; anything that cannot be a row id is simply not found."""
    if not _ID.fullmatch(text):
        raise HTTPException(404, "no such violation")
    return int(text)


def json_body(raw: bytes) -> Any:
    """Strict JSON from a (size-capped) body; too deep a nesting or a name given twice in one object is bad input,
    not a crash nor a guess (``unique_names``)."""
    if too_deep(raw):  # refused before the parser runs the stack to its limit (jsondepth)
        raise ValueError("body: JSON nested too deeply")
    try:
        return json.loads(raw, object_pairs_hook=unique_names)
    except RecursionError:
        raise ValueError("body: JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body: not JSON ({exc})") from None
    except ValueError as exc:  # an integer over 4,300 digits: Python's own words named sys.set_int_max_str_digits()
        raise ValueError(f"body: not JSON the page sends ({'a number has too many digits' if 'digits' in str(exc) else exc})") from None
