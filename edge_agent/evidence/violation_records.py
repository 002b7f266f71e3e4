"""The violation log's records: a violation row, a query filter and one page of results."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_agent.plates import normalise_plate


@dataclass
class ViolationFilter:
    bay_id: str | None = None
    decision: str | None = None
    plate: str | None = None  # substring of the normalised plate
    since: datetime | None = None  # tz-aware, inclusive
    until: datetime | None = None  # tz-aware, exclusive

    def where(self) -> tuple[str, list[Any]]:
        sql, args = [], []
        if self.bay_id:
            sql.append("bay_id = ?")
            args.append(self.bay_id)
        if self.decision:
            sql.append("decision = ?")
            args.append(self.decision)
        if self.plate:
            sql.append("plate LIKE ? ESCAPE '\\'")
            esc = normalise_plate(self.plate).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{esc}%")
        if self.since:
            sql.append("started_epoch >= ?")
            args.append(self.since.timestamp())
        if self.until:
            sql.append("started_epoch < ?")
            args.append(self.until.timestamp())
        return (" WHERE " + " AND ".join(sql)) if sql else "", args


@dataclass
class Violation:
    id: int
    event_id: str
    bay_id: str
    visit_id: str | None
    plate: str
    colour: str | None
    nev: bool | None
    nev_reason: str | None
    reason: str | None
    type_code: str | None
    confidence: float | None
    started_at: str
    ended_at: str | None
    evidence_id: str | None
    end_evidence_id: str | None
    decision: str
    decision_reason: str | None
    decided_by: str | None
    decided_at: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Violation":
        d = dict(row)
        for k in ("started_epoch", "ended_epoch"):
            d.pop(k, None)
        d["nev"] = None if d["nev"] is None else bool(d["nev"])
        return cls(**d)


@dataclass
class Page:
    items: list[Violation]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))
