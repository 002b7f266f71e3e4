"""The statistics page: charts (vendored ECharts, no CDN) over the same figures as ``edge-agent stats``.

The figures go into the page as a JSON data block (not a script: the Content-Security-Policy
allows no inline script) that /static/stats.js draws; every chart has its table and CSV export.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from edge_agent.csvcell import safe_row
from edge_agent.stats.commands import COLUMNS, write_csv
from edge_agent.stats.compute import Stats
from edge_agent.stats.source import query
from edge_agent.web.context import WebContext, ctx_of, render, require_user
from edge_agent.web.inputs import FIRST_DAY, LAST_DAY

router = APIRouter(dependencies=[Depends(require_user)])
DEFAULT_DAYS = 30
MAX_DAYS = 366
TABLES = {"bay_days": COLUMNS,
          "days": ("day", "violations", "violation_s", "occupied_s", "fuel_on_bay_s", "visits"),
          "bays": ("bay", "window_s", "occupied_s", "charging_s", "parked_not_charging_s", "free_s", "unknown_s", "violations",
                   "violation_s", "fuel_on_bay_s"),
          "heat": ("weekday", *(f"h{h:02d}" for h in range(24)))}


def _window(ctx: WebContext, request: Request) -> tuple[date, date]:
    today = ctx.clock.now().astimezone(ctx.tz).date()
    q = request.query_params
    try:
        end = date.fromisoformat(q["to"]) if q.get("to") else today
        start = date.fromisoformat(q["from"]) if q.get("from") else end - timedelta(days=DEFAULT_DAYS - 1)
    except (ValueError, OverflowError):  # OverflowError: the default window before 0001-01-01
        raise HTTPException(400, "from / to: expected YYYY-MM-DD") from None
    if not (FIRST_DAY <= start and end <= LAST_DAY):  # the stats' timestamps hold in this range (as the list's)
        raise HTTPException(400, f"from / to: days from {FIRST_DAY} to {LAST_DAY}")
    if end < start or (end - start).days >= MAX_DAYS:
        raise HTTPException(400, f"from must be on or before to, at most {MAX_DAYS} days")
    return start, end


def _stats(request: Request) -> Stats:
    ctx = ctx_of(request)
    start, end = _window(ctx, request)
    return query(ctx.log.db_path, [b.id for b in ctx.cfg.bays], start, end, ctx.tz, ctx.clock.now().timestamp())


def tables(s: Stats) -> dict[str, list[dict]]:
    heat = [{"weekday": d, **{f"h{h:02d}": v for h, v in enumerate(row)}} for d, row in enumerate(s.heat)]
    rnd = [{k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()} for r in s.per_bay()]
    days = [{k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()} for r in s.per_day()]
    return {"bay_days": [r.to_dict() for r in s.rows], "days": days, "bays": rnd, "heat": heat}


@router.get("/stats")
def stats_page(request: Request):
    s = _stats(request)
    t = tables(s)
    return render(request, "stats.html", start=s.start.isoformat(), end=s.end.isoformat(), tables=t,
                  data={"days": t["days"], "bays": t["bays"], "heat": s.heat},
                  keep=f"from={s.start.isoformat()}&to={s.end.isoformat()}")


@router.get("/stats.csv")
def stats_csv(request: Request, table: str = "bay_days"):
    if table not in TABLES:
        raise HTTPException(400, f"table must be one of {', '.join(TABLES)}")
    s = _stats(request)
    buf = io.StringIO()
    buf.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese text correctly only with a BOM
    if table == "bay_days":
        write_csv(tables(s)[table], buf)
    else:
        import csv

        w = csv.DictWriter(buf, fieldnames=TABLES[table], extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(safe_row(r) for r in tables(s)[table])  # a bay's id is text an installer typed
    name = f"stats-{table}-{s.start.isoformat()}_{s.end.isoformat()}.csv"
    return StreamingResponse(iter([buf.getvalue()]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["router"]
