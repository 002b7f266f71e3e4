"""``edge-agent stats`` on a config and its data dir: table, CSV, bad input named."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from edge_agent.cli import main
from edge_agent.clock import FakeClock
from edge_agent.evidence.violations import ViolationLog
from edge_agent.sim.scenario import scene_config
from tests.stats.helpers import Story

SH = ZoneInfo("Asia/Shanghai")


def test_stats_command_table_csv_and_bad_dates(tmp_path, capsys):
    cfg = scene_config(str(tmp_path / "data")).model_dump(mode="json", exclude_none=True)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    log = ViolationLog(tmp_path / "data" / "evidence" / "evidence.db", FakeClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    story = Story(log, log._clock)
    story.visit("A", datetime(2026, 3, 2, 23, tzinfo=SH), datetime(2026, 3, 3, 0, 30, tzinfo=SH), nev=True)
    log.close()

    assert main(["stats", "--config", str(path), "--from", "2026-03-02", "--to", "2026-03-03", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["day"], r["bay"], r["occupied_s"]) for r in rows] == [
        ("2026-03-02", "A", "3600.0"), ("2026-03-02", "B", "0.0"), ("2026-03-03", "A", "1800.0"), ("2026-03-03", "B", "0.0")]
    assert main(["stats", "--config", str(path), "--from", "2026-03-02", "--to", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "2026-03-02  A" in out and "4.2" in out  # 1 h of 24 occupied
    assert main(["stats", "--config", str(path), "--to", "2026-03-03", "--csv"]) == 0  # --from: a week up to --to
    days = sorted({r["day"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))})
    assert (days[0], days[-1], len(days)) == ("2026-02-25", "2026-03-03", 7)
    assert main(["stats", "--config", str(path), "--from", "2026-3-2"]) == 2
    assert "--from '2026-3-2': expected a day as YYYY-MM-DD" in capsys.readouterr().err
    assert main(["stats", "--config", str(path), "--from", "2026-03-04", "--to", "2026-03-02"]) == 2
    assert "before --from" in capsys.readouterr().err
    assert main(["stats", "--config", str(path), "--from", "2999-01-01"]) == 2  # no --to: today
    assert "--from 2999-01-01 is after today (" in capsys.readouterr().err


def test_an_invalid_config_is_reported_as_every_command_reports_it(tmp_path, capsys):
    """docs/configuration.md: every command that reads a config lists each problem on its own line, exit 2."""
    path = tmp_path / "bad.yaml"
    path.write_text("site: {site_id: s1, device_id: d1}\ncamera: {source: x}\nbays: []\ntimers: {fuel_grace_s: -1}\n")
    assert main(["stats", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "invalid config (1 problem)" in err and "\n  timers.fuel_grace_s: " in err, err


@pytest.mark.parametrize(("args", "flag"), [(["--from", "9999-12-25", "--to", "9999-12-31"], "--to 9999-12-31"),
                                            (["--from", "0001-01-01", "--to", "0001-01-03"], "--to 0001-01-03"),
                                            (["--from", "1969-12-31", "--to", "1970-01-02"], "--from 1969-12-31")])
def test_days_the_stores_cannot_hold_are_one_line_like_the_page(tmp_path, capsys, args, flag):
    """The page takes days from 1970-01-01 to 2999-12-31; the command took any and overflowed in the day
    bounds (9999-12-31 has no day after it; year 1 before UTC's): a traceback, exit 1."""
    cfg = scene_config(str(tmp_path / "data")).model_dump(mode="json", exclude_none=True)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    assert main(["stats", "--config", str(path), *args]) == 2
    assert capsys.readouterr().err == f"edge-agent stats: {flag}: a day from 1970-01-01 to 2999-12-31\n"


@pytest.mark.parametrize("name", ["site#2", "lot?a", "100%25", "站点 1"])
def test_a_data_dir_named_with_uri_characters_gives_its_figures(tmp_path, capsys, name):
    """The read-only open names the file as a URI: raw, ``#`` / ``?`` cut the name short (empty figures from
    another file, created beside the data dir) and ``%`` crashed."""
    from edge_agent.stats.source import first_event_day

    data = tmp_path / name
    cfg = scene_config(str(data)).model_dump(mode="json", exclude_none=True)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    db = data / "evidence" / "evidence.db"
    log = ViolationLog(db, FakeClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    Story(log, log._clock).visit("A", datetime(2026, 3, 2, 10, tzinfo=SH), datetime(2026, 3, 2, 11, tzinfo=SH), nev=True)
    log.close()

    assert main(["stats", "--config", str(path), "--from", "2026-03-02", "--to", "2026-03-02", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["bay"], r["occupied_s"], r["visits_nev"]) for r in rows] == [("A", "3600.0", "1"), ("B", "0.0", "0")]
    assert first_event_day(db, ["A"], SH, 0.0) == date(2026, 3, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["agent.yaml", name])  # no stray file beside it


def test_a_data_dir_the_agent_never_ran_in_is_named_not_a_week_of_free_bays(tmp_path, capsys):
    """``stats --config`` with a data dir holding no store (the Pi's config read on a laptop, a data_dir naming
    another folder) printed a week of 0.0 % occupancy, exit 0: figures of bays watched and free (newuser37). It is
    one line naming the file, exit 2, as a missing file is for every command."""
    cfg = scene_config(str(tmp_path / "nowhere")).model_dump(mode="json", exclude_none=True)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    assert main(["stats", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and f"no {tmp_path / 'nowhere' / 'evidence' / 'evidence.db'}: the agent has not run" in out.err
