"""What anyone who reaches the page without signing in can make it write: bounded (real sqlite, the site's fake clock).

Before: each wrong password at a name that is no user wrote its own audit row (kept ``evidence.review_days``, two
years): the per-address limit (5 in 5 minutes) from 254 IPv4 aliases on a LAN was ~4 rows a second, ~35 MB a day
on the SD card, and an IPv6 host's /64s are limitless. Refused logins (``login_blocked``) were coalesced per address
only (one row every 10 s each), and the rate limit's WARNING line was one a minute per client: both grew with the
number of addresses. Now such rows are coalesced over every address and capped per hour, with counts."""

from __future__ import annotations

import logging
import warnings

from edge_agent.web.auth import UsersFile
from edge_agent.web.ratelimit import RATES, SAY_PER_HOUR
from edge_agent.web.routes_auth import REFUSAL_ROWS_PER_HOUR
from tests.web.conftest import PASSWORD
from tests.web.test_api import token
from tests.web.test_view_audit import unwritable  # noqa: F401 (a fixture)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _login(app, addr: str, user: str, password: str) -> int:
    c = TestClient(app, client=(addr, 50000))
    return c.post("/login", data={"username": user, "password": password, "csrf": token(c)},
                  follow_redirects=False).status_code


def _rows(site, action: str) -> list[dict]:
    return [r for r in site.log.audit_entries(limit=100_000) if r["action"] == action]


def test_wrong_passwords_at_names_that_are_no_user_are_one_row_for_every_address_each_period(site):
    """40 addresses, two made-up names each (under their limit of 3): 80 rows before, one now with the count;
    each wrong password at a real user's name keeps its own row (a security team wants every guess at an account)."""
    app = site.app()
    codes = [_login(app, f"10.0.0.{i + 2}", f"guess{i}-{k}", "Summer2026!") for i in range(40) for k in range(2)]
    assert set(codes) == {401}
    assert len(_rows(site, "login_failed")) == 1
    assert [_login(app, f"10.0.1.{i + 2}", "admin", "wrong") for i in range(2)] == [401, 401]
    site.clock.advance(10)
    assert _login(app, "10.0.2.2", "nobody", "x") == 401
    rows = _rows(site, "login_failed")  # newest first
    assert [r["user"] for r in rows] == ["-", "admin", "admin", "-"]
    assert rows[0]["detail"] == "no such user; 79 more failed since the last entry"
    assert rows[-1]["detail"] == "no such user" and rows[-1]["ip"] == "10.0.0.2"
    assert _login(app, "10.0.3.2", "admin", PASSWORD) == 303  # the real user is not kept out by any of it


def test_refused_logins_from_many_addresses_stop_at_the_hourly_cap_and_the_next_row_counts_them(site):
    """A blocked name refused from 200 addresses: one row per address before (200), the cap now."""
    app = site.app()
    for _ in range(3):  # "admin" is blocked by name (login_max_failures 3 here) for every address without its cookie
        assert _login(app, "10.9.0.1", "admin", "wrong") == 401
    codes = [_login(app, f"10.1.{i // 250}.{i % 250 + 1}", "admin", "wrong") for i in range(200)]
    assert set(codes) == {429}
    assert len(_rows(site, "login_blocked")) == REFUSAL_ROWS_PER_HOUR
    assert len(_rows(site, "login_failed")) == 3  # the real guesses kept theirs
    site.clock.advance(3600)
    assert _login(app, "10.2.0.1", "nobody", "x") == 401
    newest = _rows(site, "login_failed")[0]
    assert newest["user"] == "-" and newest["detail"] == (
        f"no such user; {200 - REFUSAL_ROWS_PER_HOUR} more refused or failed logins not recorded "
        f"(at most {REFUSAL_ROWS_PER_HOUR} such rows an hour)")


def test_a_guess_the_log_cannot_keep_is_not_answered_even_when_its_row_is_coalesced(site, unwritable):  # noqa: F811
    """Coalescing must not answer a guess the log is known not to keep: once a write has failed, a wrong password at
    a made-up name is 503 like any other (not counted in memory while the log fails), answered again once the log is
    written. (As for the coalesced looks: a guess counted between two rows is answered from the count in memory.)"""
    app = site.app()
    assert _login(app, "10.0.0.2", "guess1", "x") == 401
    undo = unwritable()
    assert _login(app, "10.0.0.3", "admin", "wrong") == 503  # a real name's row: the failure is known
    assert _login(app, "10.0.0.4", "guess2", "x") == 503
    undo()
    assert _login(app, "10.0.0.5", "guess3", "x") == 401
    assert _login(app, "10.0.0.6", "guess4", "x") == 401  # written again: coalesced again
    assert len(_rows(site, "login_failed")) == 2


def test_once_the_hour_s_rows_are_used_up_a_guess_at_a_real_name_still_keeps_its_own_row(site):
    """The cap is for names that are no user: made-up names spending the hour's rows first cannot hide a guess at a
    real account in a count, nor at a user added while the cap is reached (the users file is read at each login)."""
    app = site.app()
    for k in range(REFUSAL_ROWS_PER_HOUR + 5):  # one row every 10 s for every address: the cap in ten minutes
        assert _login(app, f"10.4.{k // 250}.{k % 250 + 1}", f"made-up{k}", "x") == 401
        site.clock.advance(10)
    assert len(_rows(site, "login_failed")) == REFUSAL_ROWS_PER_HOUR
    UsersFile(site.root / "users.txt").set("carol", "carol-password", "reviewer")
    assert _login(app, "10.5.0.1", "admin", "wrong") == 401
    assert _login(app, "10.5.0.2", "carol", "wrong") == 401
    assert [(r["user"], r["ip"]) for r in _rows(site, "login_failed")[:2]] == [("carol", "10.5.0.2"),
                                                                              ("admin", "10.5.0.1")]


def test_guesses_counted_before_a_row_that_cannot_be_written_are_counted_in_the_next_row(site, unwritable):  # noqa: F811
    """Every guess answered is in the log, as a row or a count. Until 2026-12-05 the counts went with a row that could
    not be written: two made-up-name guesses answered 401 were in no row; and a guess written on its own while the log
    failed was counted again in the next row (the count said 2 for 1)."""
    app = site.app()
    assert [_login(app, f"10.0.0.{i + 2}", f"guess{i}", "x") for i in range(3)] == [401] * 3  # a row, 2 counted
    site.clock.advance(10)
    undo = unwritable()
    assert _login(app, "10.0.1.2", "guess3", "x") == 503  # the row due carries the 2: not written
    undo()
    assert _login(app, "10.0.1.3", "guess4", "x") == 401  # written on its own (the log failed last), with the 2
    assert _login(app, "10.0.1.4", "guess5", "x") == 401  # counted again
    site.clock.advance(10)
    assert _login(app, "10.0.1.5", "guess6", "x") == 401
    details = [r["detail"] for r in _rows(site, "login_failed")]  # newest first
    assert details == ["no such user; 1 more failed since the last entry",
                       "no such user; 2 more failed since the last entry", "no such user"]


def test_a_refusal_answered_while_its_row_cannot_be_written_is_counted_in_the_next_row(site, unwritable):  # noqa: F811
    """A refused login (``login_blocked``: 429) is answered whether or not its row is written; the row that failed took
    the refusal itself with it (only the counts it carried went to the next row): a 429 the log never counted."""
    app = site.app()
    for _ in range(3):  # "admin" is blocked by name (login_max_failures 3 here)
        assert _login(app, "10.9.0.1", "admin", "wrong") == 401
    assert _login(app, "10.1.0.2", "admin", "wrong") == 429  # its row
    site.clock.advance(10)
    undo = unwritable()
    assert _login(app, "10.1.0.2", "admin", "wrong") == 429  # its row is due, and cannot be written
    undo()
    site.clock.advance(10)
    assert _login(app, "10.1.0.2", "admin", "wrong") == 429
    rows = _rows(site, "login_blocked")  # newest first
    assert len(rows) == 2 and rows[0]["detail"].endswith("; 1 more refused since the last entry"), rows[0]


def test_the_rate_limits_warning_lines_are_capped_per_hour_over_all_clients(site, caplog):
    """One line a minute per client was one line per address: 80 addresses past their rate, 80 WARNING lines."""
    app, burst = site.app(), int(RATES["export"].burst)
    clients = [TestClient(app, client=(f"10.3.0.{i + 1}", 50000)) for i in range(80)]
    with caplog.at_level(logging.WARNING, "edge_agent.web.ratelimit"):
        for c in clients:
            assert [c.get("/stats.csv", follow_redirects=False).status_code for _ in range(burst + 1)][-1] == 429
        said = [r.getMessage() for r in caplog.records if r.name == "edge_agent.web.ratelimit"]
        assert len(said) == SAY_PER_HOUR
        site.clock.advance(3600)
        for _ in range(burst + 1):  # its bucket refilled meanwhile
            clients[0].get("/stats.csv", follow_redirects=False)
        said = [r.getMessage() for r in caplog.records if r.name == "edge_agent.web.ratelimit"]
        assert len(said) == SAY_PER_HOUR + 1 and f"({80 - SAY_PER_HOUR} more refusals of any client" in said[-1]
