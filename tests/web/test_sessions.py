"""Sessions are checked on the server on every request: logout, ``users remove`` and a new
password end them at once, even for a copy of the cookie kept by someone else."""

from __future__ import annotations

import warnings

from edge_agent.cli import main
from tests.web.conftest import PASSWORD
from tests.web.test_api import HTML, logged_in, token

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def replay(site, cookie: str, app=None) -> TestClient:
    """A second browser holding a copy of the cookie."""
    return TestClient(app or site.app(), cookies={"edge_session": cookie})


def is_out(c: TestClient, site, vid: int = 1, tok: str | None = None) -> bool:
    page = c.get("/violations", headers=HTML, follow_redirects=False)
    data = {"decision": "confirmed", "csrf": tok or ""}
    act = c.post(f"/violations/{vid}/decide", data=data, follow_redirects=False)
    return (page.status_code == 303 and page.headers["location"].startswith("/login")
            and act.status_code in (401, 403) and site.log.get(vid).decision == "open")


def login_as(site, app, name: str, password: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"username": name, "password": password, "csrf": token(c)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def test_a_kept_cookie_is_dead_after_logout(site):
    app = site.app()
    c = login_as(site, app, "admin", PASSWORD)
    kept, tok = c.cookies["edge_session"], token(c, "/violations")
    assert replay(site, kept, app).get("/violations").status_code == 200  # the copy works while logged in
    assert c.post("/logout", data={"csrf": tok}, follow_redirects=False).status_code == 303
    assert is_out(replay(site, kept, app), site, tok=tok)
    assert is_out(replay(site, kept), site, tok=tok)  # and after a restart of the page
    assert [a["action"] for a in site.log.audit_entries() if a["action"] != "viewed_list"][:2] == ["logout", "login"]


def test_a_login_ends_the_session_the_browser_had(site, tmp_path):
    """A shared desk: bob signs in over admin's session without logging out. The browser goes on as bob; the
    session it had (admin's) ends with it, so a copy of that cookie is dead (it stayed admin's for 12 h)."""
    pw = tmp_path / "pw"
    pw.write_text("bobs-password\n")
    assert main(["users", "add", "bob", "--role", "reviewer", "--config", str(site.config_path),
                 "--password-file", str(pw)]) == 0
    app = site.app()
    c = login_as(site, app, "admin", PASSWORD)
    kept, tok = c.cookies["edge_session"], token(c, "/violations")
    assert replay(site, kept, app).get("/violations").status_code == 200
    r = c.post("/login", data={"username": "bob", "password": "bobs-password", "csrf": token(c)},
               follow_redirects=False)
    assert r.status_code == 303
    assert is_out(replay(site, kept, app), site, tok=tok)
    assert c.get("/violations").status_code == 200 and ">bob<" in c.get("/violations").text


def test_users_remove_ends_that_users_sessions_only(site, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("bobs-password\n")
    assert main(["users", "add", "bob", "--config", str(site.config_path), "--password-file", str(pw)]) == 0
    app = site.app()
    bob, admin = login_as(site, app, "bob", "bobs-password"), login_as(site, app, "admin", PASSWORD)
    tok = token(bob, "/violations")
    assert main(["users", "remove", "bob", "--config", str(site.config_path)]) == 0
    assert is_out(bob, site, vid=2, tok=tok)  # the removed user can no longer confirm a violation
    assert admin.get("/violations").status_code == 200
    # the same name added again is a new account: the old cookie stays dead
    assert main(["users", "add", "bob", "--config", str(site.config_path), "--password-file", str(pw)]) == 0
    assert is_out(bob, site, vid=2, tok=tok)


def test_a_new_password_ends_the_old_sessions(site, tmp_path):
    app = site.app()
    c = login_as(site, app, "admin", PASSWORD)
    tok = token(c, "/violations")
    pw = tmp_path / "pw"
    pw.write_text("a brand new password\n")
    assert main(["users", "add", "admin", "--config", str(site.config_path), "--password-file", str(pw)]) == 0
    assert is_out(c, site, tok=tok)
    assert login_as(site, app, "admin", "a brand new password").get("/violations").status_code == 200


def test_sessions_survive_a_restart_and_expire_on_the_server(site):
    c = logged_in(site)
    kept = c.cookies["edge_session"]
    assert replay(site, kept).get("/violations").status_code == 200  # a restarted page keeps people in
    site.clock.advance(site.cfg.web.session_max_age_s + 1)  # the server's own clock, not the cookie's
    assert is_out(replay(site, kept), site, tok=token(c, "/login"))


def test_a_session_opened_while_the_clock_ran_ahead_ends_when_it_is_stepped_back(tmp_path):
    from edge_agent.clock import FakeClock
    from edge_agent.web.sessions import SessionTable

    clock = FakeClock()
    table = SessionTable(tmp_path / "s.db", clock, max_age_s=3600)
    clock.step_wall(365 * 86400)  # a wrong time source, a year ahead
    sid = table.open("admin", "stamp")
    clock.step_wall(-365 * 86400)  # NTP corrects it
    assert table.user(sid, lambda user: "stamp") is None  # lived a year and an hour before
    fresh = table.open("admin", "stamp")
    clock.advance(3599)
    assert table.user(fresh, lambda user: "stamp") == "admin"
