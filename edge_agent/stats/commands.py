"""``edge-agent stats --from DAY --to DAY [--csv]``: the per bay, per day figures on the command line."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from edge_agent.clock import FIRST_DAY, LAST_DAY
from edge_agent.csvcell import safe_row

COLUMNS = ("day", "bay", "occupied_share", "occupied_s", "unknown_s", "charging_s", "parked_not_charging_s", "visits_nev",
           "visits_fuel", "visits_unidentified", "violations", "violation_s", "fuel_on_bay_s", "median_dwell_s")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="per bay and day: occupancy, charging, visits, violations (site time)")
    p.add_argument("--config", "-c", required=True, help="agent YAML config (data dir, bays, time zone)")
    p.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default: 6 days before --to: a week)")
    p.add_argument("--to", dest="end", help="last day, YYYY-MM-DD, inclusive (default: today)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout instead of a table")
    p.set_defaults(func=_stats)


def parse_day(value: str | None, flag: str, default: date) -> date:
    if value is None:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag} {value!r}: expected a day as YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # 9999-12-31 and 0001-01-01 overflowed in the day bounds (a traceback)
        raise ValueError(f"{flag} {value}: a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def write_csv(rows: list[dict], out: TextIO) -> None:
    w = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(safe_row(r) for r in rows)  # a bay's id is text an installer typed: "-A1" ran as =-A1


def _hours(v: float | None) -> str:
    return "-" if v is None else f"{v / 3600:.1f}"


def _stats(args: argparse.Namespace) -> int:
    from edge_agent.config.load import load_config
    from edge_agent.stats.source import query

    cfg = load_config(args.config)  # a ConfigError is reported by the cli like every command's: exit 2
    tz = ZoneInfo(cfg.site.timezone)
    today = datetime.now(tz).date()
    try:
        end = parse_day(args.end, "--to", today)
        start = parse_day(args.start, "--from", end - timedelta(days=6))
        if start > end and args.end is None:  # named as typed: the error said "--to <today>", never given
            raise ValueError(f"--from {start} is after today ({end}, the default --to)")
        if (end - start).days > 3660:
            raise ValueError("at most ten years at a time")
        db = Path(cfg.data_dir) / "evidence" / "evidence.db"
        if not db.is_file():  # a week of 0.0 % read as a week of free bays watched (a config from another machine)
            raise ValueError(f"no {db}: the agent has not run with data_dir {cfg.data_dir} here (another machine's "
                             "config, or data_dir names another folder)")
        stats = query(db, [b.id for b in cfg.bays], start, end, tz, time.time())
    except ValueError as exc:
        print(f"edge-agent stats: {exc}", file=sys.stderr)
        return 2
    rows = [r.to_dict() for r in stats.rows]
    if args.csv:
        write_csv(rows, sys.stdout)
        return 0
    print(f"{'day':<10}  {'bay':<8} {'occ%':>5} {'chg h':>6} {'park h':>6} {'off h':>5} {'NEV':>4} {'fuel':>4} {'unid':>4} "
          f"{'viol':>4} {'viol min':>8} {'fuel min':>8} {'dwell min':>9}")
    for r in stats.rows:
        dwell = "-" if r.median_dwell_s is None else f"{r.median_dwell_s / 60:.0f}"
        print(f"{r.day:<10}  {r.bay:<8} {100 * r.occupied_share:>5.1f} {_hours(r.charging_s):>6} "
              f"{_hours(r.parked_not_charging_s):>6} {_hours(r.unknown_s):>5} {r.visits_nev:>4} {r.visits_fuel:>4} {r.visits_unidentified:>4} "
              f"{r.violations:>4} {r.violation_s / 60:>8.0f} {r.fuel_on_bay_s / 60:>8.0f} {dwell:>9}")
    return 0
