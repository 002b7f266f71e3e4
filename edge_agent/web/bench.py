"""Benchmark: the violations list page with 10,000 stored violations (target: median < 300 ms).

Fills a throw-away violation log through the same ``record`` path the event bus uses
(identified → violation started → ended per visit), logs in, and times full requests
through the app (routing, session, SQLite query, template) for the pages a manager opens.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge_agent.clock import FakeClock
from edge_agent.config.load import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.violations import ViolationLog
from edge_agent.perception.lists import PlateLists
from edge_agent.web.auth import UsersFile

PROVINCES = "粤京沪苏浙川鲁豫"
TARGET_MS = 300.0


def fill(log: ViolationLog, clock: FakeClock, n: int, bays: int = 4) -> None:
    """``n`` violations spread over bays, plates and days, each with its visit's events."""
    events: list[Event] = []
    for i in range(n):
        bay, visit = f"A{i % bays + 1}", f"bench-{i}"
        plate = f"{PROVINCES[i % len(PROVINCES)]}B{i:05d}"
        clock.advance(97)
        events.append(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id=bay, visit_id=visit, data={
            "plate": plate, "colour": "blue", "type_code": "02", "nev": False, "reason": "format+colour",
            "confidence": 0.9}))
        clock.advance(120)
        events.append(Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit,
                                 evidence_id=f"ev-{i}", data={"reason": "fuel_vehicle", "plate": plate}))
        clock.advance(300)
        events.append(Event.make(EventType.VIOLATION_ENDED, clock, bay_id=bay, visit_id=visit,
                                 data={"reason": "departed"}))
        if len(events) >= 3000:
            log.record_many(events)
            events = []
    log.record_many(events)
    for vid in range(1, n + 1, 7):  # some decided, so the decision filter has work to do
        log.decide(vid, "confirmed", "bench")


def median_get_ms(client: Any, path: str, repeat: int) -> float:
    """Median ms of ``repeat`` GETs after one warm-up; any non-200 answer is an error, not a sample."""
    client.get(path)  # warm-up: template compile, SQLite page cache
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {r.status_code}")
    return statistics.median(samples)


def _over_http(app: Any, repeat: int) -> float:
    """The list page through uvicorn on loopback, as a browser gets it."""
    import httpx

    from edge_agent.web.server import WebServer

    with WebServer(app, "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": "bench", "password": "bench-password", "csrf": tok})
        return median_get_ms(c, "/violations", repeat)


def run(n: int = 10_000, repeat: int = 25, workdir: str | Path | None = None) -> dict[str, Any]:
    """Fill ``n`` violations and return median milliseconds per page (and whether the target holds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette suggests httpx2; httpx works
        from fastapi.testclient import TestClient

    from edge_agent.web.app import create_app

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        cfg = parse_config({
            "site": {"site_id": "bench", "device_id": "bench", "timezone": "Asia/Shanghai"},
            "camera": {"source": "0"},
            "bays": [{"id": f"A{i}", "polygon": [[0, 0], [10, 0], [10, 10]]} for i in range(1, 5)],
            "web": {"users_file": "users.txt", "session_secret_file": "secret.key"},
            "data_dir": str(root),
        }, "bench", base_dir=root)
        UsersFile(cfg.web.users_file).set("bench", "bench-password")
        clock = FakeClock(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))))
        log = ViolationLog(root / "evidence.db", clock)
        t0 = time.perf_counter()
        fill(log, clock, n)
        fill_s = time.perf_counter() - t0
        app = create_app(cfg, None, log, None, PlateLists(), EventBus(), clock, None)
        with TestClient(app) as c:
            tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": "bench", "password": "bench-password", "csrf": tok})
            pages = {
                "list": "/violations",
                "list_page_100": "/violations?page=100",
                "list_filtered": "/violations?bay=A2&decision=open&plate=B00&from=2026-01-10&to=2026-02-20",
                "detail": f"/violations/{n // 2}",
            }
            result = {name: round(median_get_ms(c, path, repeat), 2) for name, path in pages.items()}
        result["list_over_http"] = round(_over_http(app, repeat), 2)
        log.close()
    return {"violations": n, "fill_s": round(fill_s, 2), "median_ms": result, "target_ms": TARGET_MS,
            "ok": result["list"] < TARGET_MS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--violations", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=25)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res = run(args.violations, args.repeat)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"web list page, {res['violations']} violations (filled in {res['fill_s']} s):")
        for name, ms in res["median_ms"].items():
            print(f"  {name:<15} median {ms:7.2f} ms")
        print(f"  target: list < {TARGET_MS:.0f} ms → {'ok' if res['ok'] else 'MISSED'}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
