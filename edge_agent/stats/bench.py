"""Benchmark: the statistics page with a year of events for 8 bays (target: median < 300 ms).

Fills a throw-away violation log through the bus's ``record`` path with a year of visits
(arrival, identification, departure; charger status on half the bays; a fuel car with a
violation now and then), logs in, and times full requests for the default page (last 30 days),
a whole quarter, the CSV export, and ``query`` over the whole year.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge_agent.clock import FakeClock
from edge_agent.config.load import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event
from edge_agent.evidence.violations import ViolationLog
from edge_agent.perception.lists import PlateLists
from edge_agent.stats.source import query
from edge_agent.web.auth import UsersFile
from edge_agent.web.bench import median_get_ms

TARGET_MS = 300.0
START = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=8)))


def fill(log: ViolationLog, clock: FakeClock, days: int, bays: int, visits_per_day: int) -> int:
    """``visits_per_day`` visits per bay per day, round the clock; returns the number of events."""
    events: list[Event] = []
    n = 0
    step = 86400 / visits_per_day
    for day in range(days):
        for v in range(visits_per_day):
            clock.advance(step - (clock.now() - START).total_seconds() % step if v or day else 0)
            for b in range(bays):
                bay, visit, fuel = f"A{b + 1}", f"y-{day}-{v}-{b}", (day + v + b) % 11 == 0
                t0 = clock.now()

                def at(offset_s: float, type_: str, t0: datetime = t0, bay: str = bay, visit: str = visit, out=events,
                       **data: Any) -> None:
                    out.append(Event(type=type_, ts=(t0 + timedelta(seconds=offset_s)).isoformat(), bay_id=bay,
                                        visit_id=visit if type_.startswith(("vehicle", "violation")) else None,
                                        data=data))

                at(60 * b, "vehicle_arrived")
                at(60 * b + 20, "vehicle_identified", plate="京A12345" if fuel else "粤BD12345", nev=not fuel)
                if fuel:
                    at(60 * b + 140, "violation_started", reason="fuel_vehicle")
                    at(60 * b + 1800, "violation_ended", reason="departed", duration_s=1660)
                elif b % 2 == 0:
                    at(60 * b + 90, "charger_status", status="charging", previous="idle")
                    at(60 * b + 2700, "charger_status", status="idle", previous="charging")
                at(60 * b + 1800 + 300 * (v % 5), "vehicle_departed", stayed_s=1800.0)
        if len(events) > 20_000:
            n += len(events)
            log.record_many(events)
            events = []
    n += len(events)
    log.record_many(events)
    return n


def run(days: int = 365, bays: int = 8, visits_per_day: int = 12, repeat: int = 9) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from edge_agent.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = parse_config({
            "site": {"site_id": "bench", "device_id": "bench", "timezone": "Asia/Shanghai"},
            "camera": {"source": "0"},
            "bays": [{"id": f"A{i}", "polygon": [[0, 0], [10, 0], [10, 10]]} for i in range(1, bays + 1)],
            "web": {"users_file": "users.txt", "session_secret_file": "secret.key"},
            "data_dir": str(root),
        }, "bench", base_dir=root)
        UsersFile(cfg.web.users_file).set("bench", "bench-password")
        clock = FakeClock(START)
        log = ViolationLog(root / "evidence.db", clock)
        t0 = time.perf_counter()
        n = fill(log, clock, days, bays, visits_per_day)
        fill_s = time.perf_counter() - t0
        clock.advance(3600)
        app = create_app(cfg, None, log, None, PlateLists(), EventBus(), clock, None)
        end = clock.now().date()
        with TestClient(app) as c:
            tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": "bench", "password": "bench-password", "csrf": tok})
            q90 = f"from={end - timedelta(days=89)}&to={end}"
            pages = {"page_30_days": "/stats", "page_90_days": f"/stats?{q90}",
                     "csv_30_days": "/stats.csv?table=bay_days"}
            result = {name: round(median_get_ms(c, path, repeat), 1) for name, path in pages.items()}
        ids = [b.id for b in cfg.bays]
        t0 = time.perf_counter()
        query(log.db_path, ids, end - timedelta(days=days - 1), end, ZoneInfo("Asia/Shanghai"), clock.now().timestamp())
        result["query_whole_year"] = round((time.perf_counter() - t0) * 1000, 1)
        log.close()
    return {"days": days, "bays": bays, "events": n, "fill_s": round(fill_s, 1), "median_ms": result,
            "target_ms": TARGET_MS, "ok": result["page_30_days"] < TARGET_MS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--bays", type=int, default=8)
    p.add_argument("--visits-per-day", type=int, default=12)
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    res = run(a.days, a.bays, a.visits_per_day, a.repeat)
    if a.json:
        print(json.dumps(res))
    else:
        print(f"statistics page, {res['days']} days × {res['bays']} bays = {res['events']} events "
              f"(filled in {res['fill_s']} s):")
        for name, ms in res["median_ms"].items():
            print(f"  {name:<17} {ms:8.1f} ms")
        print(f"  target: default page < {TARGET_MS:.0f} ms → {'ok' if res['ok'] else 'MISSED'}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["date", "main", "run"]
