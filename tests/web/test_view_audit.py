"""Looking at personal data is audited: a violation's page, its photos, the violation list — who, what, when —
coalesced so that a page of pictures is one row, not one a request."""

from __future__ import annotations

import logging
import re
import sqlite3
import time

import pytest
from fastapi.testclient import TestClient

from edge_agent.evidence.forget import forget_plate
from edge_agent.web.views import FLUSH_S
from tests.web.conftest import PASSWORD
from tests.web.test_api import HTML, logged_in, token
from tests.web.test_roles import login


def _views(site) -> list[dict]:
    return [a for a in site.log.audit_entries() if a["action"].startswith("viewed_")]


def _flushed(c) -> None:
    """What the agent's stop (or the audit page) writes: the looks coalesced in memory."""
    c.app.state.ctx.views.flush()


def _audit_writes(site) -> list[str]:
    """Every statement that writes the audit table on the page's connection, from now."""
    writes: list[str] = []
    site.log._db.set_trace_callback(
        lambda sql: writes.append(sql) if re.match(r"\s*(INSERT INTO|UPDATE) audit", sql) else None)
    return writes


def test_a_look_at_a_violation_and_its_photos_is_audited_once_per_window(site):
    """Until 2026-12-05 the audit log had decisions, list edits and exports, and no row for a look: anyone signed in
    could page through every plate and photo untraced (PIPL: access to personal information is traceable)."""
    c = logged_in(site)
    v1, v2 = site.log.get(1), site.log.get(2)
    assert c.get("/violations/1").status_code == 200
    for _ in range(30):  # a reloading page, its pictures each time
        for which in ("frame", "crop"):
            assert c.get(f"/evidence/{v1.evidence_id}/{which}.jpg").status_code == 200
    c.get("/violations/2")
    c.get(f"/evidence/{v2.evidence_id}/frame.jpg")
    c.get("/violations?bay=A1&plate=粤B")
    _flushed(c)
    rows = {a["action"]: a for a in _views(site)}
    assert sorted(rows) == ["viewed_list", "viewed_photo", "viewed_violation"] and len(_views(site)) == 3
    assert (rows["viewed_violation"]["user"], rows["viewed_violation"]["target"]) == ("admin", "violation:1")
    assert rows["viewed_violation"]["detail"] == "2 view(s): #1, #2"
    assert rows["viewed_photo"]["detail"] == (f"61 view(s): {v1.evidence_id}/frame, {v1.evidence_id}/crop, "
                                              f"{v2.evidence_id}/frame")
    assert rows["viewed_list"]["detail"] == "1 view(s): bay=A1&plate=***&page=1"  # a plate searched, not which
    assert rows["viewed_photo"]["ip"]  # from where
    site.clock.advance(601)  # the next window: a row of its own, with its own time
    c.get(f"/evidence/{v2.evidence_id}/crop.jpg")
    _flushed(c)
    newest = _views(site)[0]
    assert (newest["action"], newest["detail"]) == ("viewed_photo", f"1 view(s): {v2.evidence_id}/crop")
    assert newest["ts"] > rows["viewed_photo"]["ts"]
    assert "查看照片" in c.get("/audit").text  # the page says it in its language


def test_a_head_or_a_missing_photo_is_no_look(site):
    c = logged_in(site)
    assert c.head(f"/evidence/{site.log.get(1).evidence_id}/frame.jpg").status_code == 200
    assert c.get("/evidence/no-such-id/frame.jpg").status_code == 404
    assert [a for a in _views(site) if a["action"] == "viewed_photo"] == []


def test_a_wall_display_writes_its_row_once_a_minute_not_once_a_picture(site):
    """The live bays on a wall: the page every 15 s, each bay's picture with it. Until 2026-12-05 each picture's
    view was an UPDATE of its row (2 bays: 480 writes an hour to the SD card; 4 bays 960). Now the row is written as
    it opens and then at most every ``FLUSH_S`` from the agent's minute: 6 windows an hour, 66 writes at most."""
    c = logged_in(site)
    views = c.app.state.ctx.views
    pictures = re.findall(r'src="(/evidence/[^"]+\.jpg)"', c.get("/bays").text)
    assert len(pictures) == 2
    writes = _audit_writes(site)
    last_minute = site.clock.monotonic()
    for _ in range(240):  # an hour
        assert c.get("/bays").status_code == 200
        for src in pictures:
            assert c.get(src).status_code == 200
        site.clock.advance(15)
        if site.clock.monotonic() - last_minute >= 60:  # the agent's ``every_minute``
            views.flush_due()
            last_minute = site.clock.monotonic()
    # two kinds of look, each its own row: the pictures and the plate beside them (``viewed_bays``)
    assert len(writes) <= 2 * (3600 / 600 + 3600 / FLUSH_S), len(writes)
    # one row a window each: the pictures' 6, the plates' 5 more (their first opened with the page read above)
    assert sum(w.startswith("INSERT") for w in writes) == 6 + 5
    counted = [int(a["detail"].split(" ")[0]) for a in _views(site) if a["action"] == "viewed_photo"]
    assert sum(counted) == 480  # no look lost: every picture counted in a row on disk


def test_a_crash_loses_at_most_a_minute_of_a_rows_views(site):
    """The row is on disk before the first picture goes out; later views are written ``FLUSH_S`` after the last
    write, by the next view or the agent's minute, whichever comes first."""
    c = logged_in(site)
    eid = site.log.get(1).evidence_id
    c.get(f"/evidence/{eid}/frame.jpg")
    assert _views(site)[0]["detail"] == f"1 view(s): {eid}/frame"  # shown only once it says so
    c.get(f"/evidence/{eid}/crop.jpg")
    site.clock.advance(FLUSH_S - 1)
    c.app.state.ctx.views.flush_due()
    assert _views(site)[0]["detail"] == f"1 view(s): {eid}/frame"  # in memory: a crash now loses this one
    site.clock.advance(1)
    c.app.state.ctx.views.flush_due()
    assert _views(site)[0]["detail"] == f"2 view(s): {eid}/frame, {eid}/crop"
    c.get(f"/evidence/{eid}/frame.jpg")
    site.clock.advance(FLUSH_S)
    c.get(f"/evidence/{eid}/crop.jpg")  # due: this view writes the row
    assert _views(site)[0]["detail"] == f"4 view(s): {eid}/frame, {eid}/crop"
    assert len(_views(site)) == 1


@pytest.fixture(params=["read-only", "locked"])
def unwritable(request, site):
    """Makes the audit unwritable when called, returns what undoes it: the database read-only (a card gone
    read-only; a full disk answers alike) or locked by another connection (a forget, a backup holding it)."""
    db, other = site.log._db, sqlite3.connect(site.log.db_path, isolation_level=None)

    def make():
        if request.param == "read-only":
            db.execute("PRAGMA query_only=ON")
            return lambda: db.execute("PRAGMA query_only=OFF")
        db.execute("PRAGMA busy_timeout=0")  # the 10 s wait is the page's; the refusal after it is the point here
        other.execute("BEGIN IMMEDIATE")
        return lambda: other.execute("ROLLBACK")
    yield make
    other.close()


def test_personal_data_is_refused_not_shown_unaudited_when_the_audit_cannot_be_written(site, unwritable, caplog):
    """Until 2026-12-05 a look whose audit row could not be written was a bare 500 with a traceback: no page saying
    why, and the same traceback logged a request. Now: a 503 saying the audit log cannot be written, as a page in the
    user's language or text for a script; one log line; the live bays go on; shown again once the log is written."""
    c = logged_in(site)
    eid = site.log.get(1).evidence_id
    c.get(f"/evidence/{eid}/frame.jpg")  # a window already open: its next view is refused too
    before = len(_views(site))
    restore = unwritable()
    caplog.set_level(logging.ERROR, logger="edge_agent.web.views")
    for path in ("/violations/1", f"/evidence/{eid}/frame.jpg", f"/evidence/{eid}/crop.jpg", "/violations"):
        r = c.get(path)
        assert r.status_code == 503 and "image/jpeg" not in r.headers["content-type"], path
        assert "the audit log cannot be written" in r.text and "粤B12345" not in r.text
    page = c.get("/violations/1", headers={"accept": "text/html"})
    assert page.status_code == 503 and "审计日志无法写入" in page.text and "粤B12345" not in page.text
    assert c.get("/bays").status_code == 200  # the live bays, their states and locks
    c.app.state.ctx.views.flush_due()  # the agent's minute: logged once too, never raised into the loop
    lines = [r for r in caplog.records if "audit log cannot be written" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR
    restore()
    assert c.get(f"/evidence/{eid}/frame.jpg").status_code == 200
    assert c.get("/violations/1").status_code == 200
    _flushed(c)
    photo = next(a for a in _views(site) if a["action"] == "viewed_photo")
    assert photo["detail"] == f"2 view(s): {eid}/frame"  # the refused views are no looks
    assert len(_views(site)) == before + 1  # and the violation's own row


def test_the_pages_stop_writes_the_looks_still_in_memory(site):
    """The agent's (and ``review``'s) stop: the coalesced views are on disk before the log closes."""
    from edge_agent.web.server import WebServer

    c = logged_in(site)
    eid = site.log.get(1).evidence_id
    for _ in range(3):
        c.get(f"/evidence/{eid}/frame.jpg")
    assert _views(site)[0]["detail"] == f"1 view(s): {eid}/frame"
    with WebServer(c.app, "127.0.0.1", 0):
        pass
    assert _views(site)[0]["detail"] == f"3 view(s): {eid}/frame"


def test_a_plate_search_leaves_no_plate_in_the_audit_that_a_forget_cannot_reach(site):
    """Until 2026-12-05 the list's and the export's audit rows kept the plate search as typed: after
    ``evidence forget 粤B12345`` four of five searches for that car (``粤b12345``, ``B12345``, ``粤B 12345``, a
    full-width ``粤Ｂ１２３４５``) still named it, as did the export's ``b12345``. The search is kept masked, as the
    forget's own row masks its plate."""
    c = logged_in(site)
    for typed in ("粤B12345", "粤b12345", "B12345", "粤B 12345", "粤Ｂ１２３４５"):
        assert c.get("/violations", params={"plate": typed}).status_code == 200
    assert c.get("/violations.csv", params={"plate": "b12345"}).status_code == 200
    _flushed(c)
    forget_plate(site.root / "data", "粤B12345", site.clock, "ops", [])
    rows = [a for a in site.log.audit_entries() if a["action"] in ("viewed_list", "export_csv")]
    assert [(a["action"], a["detail"]) for a in rows] == [
        ("export_csv", "plate=B1***45"), ("viewed_list", "5 view(s): plate=粤B***45&page=1, plate=B1***45&page=1")]
    for needle in ("12345", "１２３４５"):
        assert not any(needle in f"{a['target']} {a['detail']}" for a in site.log.audit_entries()), needle


def test_the_live_page_audits_the_plates_it_shows_and_hides_them_when_it_cannot(site, unwritable):
    """``/bays`` names each parked car's plate by bay and time, reloading every 15 s. Until 2026-12-05 no row said
    who looked (its pictures were audited, the plate text beside them was not). Now each look is ``viewed_bays``,
    coalesced like the others (one row per user, address and window, one item a car: its bay and visit, never the
    plate); an installer's look too. When the row cannot be written the live page goes on without plates or
    pictures: the states, locks and warnings an operator needs stay."""
    c, fitter = logged_in(site), login(site, "fitter", "installer")
    for _ in range(4):
        assert "粤B99999" in c.get("/bays").text
    assert "粤B99999" in fitter.get("/bays").text
    _flushed(c)
    rows = [(a["user"], a["action"], a["detail"]) for a in _views(site) if a["action"] == "viewed_bays"]
    assert sorted(rows) == [("admin", "viewed_bays", "4 view(s): A1:v-live"),
                            ("fitter", "viewed_bays", "1 view(s): A1:v-live")]
    assert not any("99999" in f"{a['target']} {a['detail']}" for a in site.log.audit_entries())
    assert "查看实时车位的车牌" in c.get("/audit").text
    restore = unwritable()
    assert c.get("/violations/1").status_code == 503  # (a window still open counts in memory until this is known)
    r = c.get("/bays", headers=HTML)
    assert r.status_code == 200 and "粤B99999" not in r.text and "/evidence/" not in r.text
    assert "bays-private" in r.text and "审计日志无法写入" in r.text
    assert "违规" in r.text and "升起" in r.text  # A1's state and its lock go on
    restore()
    assert "粤B99999" in c.get("/bays").text and "bays-private" not in c.get("/bays").text


def _installer_save(c, tok: str):
    bays = [{"id": b["id"], "polygon": b["polygon"]} for b in c.app.state.ctx.cfg.model_dump()["bays"]]
    return c.post("/installer", json={"bays": bays}, headers={"X-CSRF-Token": tok})


def test_an_action_is_refused_and_not_done_when_its_audit_row_cannot_be_written(site, unwritable, caplog):
    """Until 2026-12-05 an action's row was written after the action: on a read-only (or locked) database a list
    edit had handed the agent its lists and written ``overrides.yaml``, an installer Save had written the bays and
    reloaded the agent, a snapshot was stored, a login had opened its session, each then a bare 500 and a traceback
    (a snapshot's and a confirm's failure said on the page as the camera's). Now the row comes first (a decision's in
    its transaction): a 503 in the user's language, nothing done, one log line."""
    c = logged_in(site)
    fresh = TestClient(c.app)  # another browser, the same page process
    tok, fresh_tok = token(c, "/violations/1"), token(fresh)
    db = sqlite3.connect(site.log.db_path)

    def counts() -> tuple[int, int]:  # sessions opened, pictures stored
        return (db.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0])
    before = counts()
    rows = site.log.audit_count()
    restore = unwritable()
    caplog.set_level(logging.INFO)
    posts = {
        "/violations/1/decide": {"decision": "confirmed"}, "/violations/2/list": {"which": "deny"},
        "/bays/A1/snapshot": {}, "/camera/confirm": {}}
    for path, data in posts.items():
        r = c.post(path, data={**data, "csrf": tok}, headers=HTML, follow_redirects=False)
        assert r.status_code == 503 and r.headers["retry-after"] == "60", path
        assert "审计日志无法写入，未执行" in r.text, path
    r = _installer_save(c, tok)
    assert r.status_code == 503 and "nothing was done" in r.text
    for password in ("wrong", PASSWORD):
        r = fresh.post("/login", data={"username": "admin", "password": password, "csrf": fresh_tok},
                       follow_redirects=False)
        assert r.status_code == 503 and "edge_session" not in r.headers.get("set-cookie", ""), password
    assert c.get("/violations.csv").status_code == 503
    assert site.log.get(1).decision == "open" and site.control.list_calls == [] and site.control.reloads == []
    assert not (site.root / "data" / "overrides.yaml").exists()
    assert counts() == before  # no session opened, no snapshot stored
    assert not [r for r in caplog.records if r.exc_info]  # no traceback
    assert len([r for r in caplog.records if "audit log cannot be written" in r.getMessage()]) == 1, \
        [r.getMessage() for r in caplog.records]
    restore()
    assert site.log.audit_count() == rows
    c = logged_in(site)
    tok = token(c, "/violations/1")
    assert c.post("/violations/1/decide", data={"decision": "confirmed", "csrf": tok},
                  follow_redirects=False).status_code == 303
    assert c.post("/violations/2/list", data={"which": "deny", "csrf": tok}, follow_redirects=False).status_code == 303
    assert _installer_save(c, tok).json()["ok"]
    done = {a["action"]: a for a in site.log.audit_entries()}
    assert done["violation_confirmed"]["target"] == "violation:1"
    assert done["list_deny"]["detail"] == "violation:2; agent: lists updated"  # the outcome amends the row
    assert done["save_bays"]["detail"].startswith("A1:4pts, A2:4pts; backup")


def test_a_locked_database_is_refused_in_a_second_not_after_ten(site):
    """Another connection holding the write lock (a backup, ``evidence forget``, another program): the page's audit
    write waited the connection's 10 s busy timeout, holding the violation log's lock the camera loop's event
    recording needs (and the loop's own minute ran ``flush_due``: 10 s of the loop). Now a page write waits
    ``WRITE_WAIT_S``; the recorder's writes keep their 10 s. Timed, no sleep: before, each took 10 s."""
    c = logged_in(site)
    eid = site.log.get(1).evidence_id
    c.get(f"/evidence/{eid}/frame.jpg")  # an open window: the agent's minute has a row to write
    other = sqlite3.connect(site.log.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert c.get("/violations/1").status_code == 503
        assert time.monotonic() - started < 5
        site.clock.advance(FLUSH_S)
        c.get(f"/evidence/{eid}/crop.jpg")
        started = time.monotonic()
        c.app.state.ctx.views.flush_due()  # the camera loop's every_minute
        assert time.monotonic() - started < 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert int(site.log._db.execute("PRAGMA busy_timeout").fetchone()[0]) == 10_000  # the recorder's wait stands


def test_signing_out_is_not_refused_for_its_audit_row(site):
    """Signing out takes access away: refusing it for want of its row would leave the session open. (A session
    table another connection holds locked: ``test_sessions.py``.)"""
    c = logged_in(site)
    tok = token(c, "/violations")
    site.log._db.execute("PRAGMA query_only=ON")
    assert c.post("/logout", data={"csrf": tok}, follow_redirects=False).status_code == 303
    site.log._db.execute("PRAGMA query_only=OFF")
    assert c.get("/violations", follow_redirects=False).status_code == 401


def test_the_audit_log_is_the_admins_its_looks_are_audited_and_a_listed_plate_shows_only_when_asked(site, unwritable):
    """Until 2026-12-05 every signed-in role (an installer, a role the page does not know) read the whole audit log:
    who looked at which violation, from which address and when, and each list edit's plate in full; and opening it
    wrote no row, the one look at personal data the log did not name. Now it is ``admin``'s, each look is a
    coalesced ``viewed_audit`` row written before a row is shown, and a list edit's plate is masked unless that row's
    plate is asked for, which is audited too."""
    c = logged_in(site)
    c.post("/violations/2/list", data={"which": "deny", "csrf": token(c, "/violations/2")}, follow_redirects=False)
    edit = next(a for a in site.log.audit_entries() if a["action"] == "list_deny")
    assert edit["target"] == "plate:粤B67890"  # kept whole: the forget reaches it, an admin may ask for it
    for name, role in (("rev", "reviewer"), ("fitter", "installer")):
        other = login(site, name, role)
        assert other.get("/audit", headers=HTML).status_code == 403, role
        assert 'href="/audit"' not in other.get("/violations").text, role  # no menu entry it may not open
    page = c.get("/audit", headers=HTML)
    assert page.status_code == 200 and "粤B67890" not in page.text and "粤B***90" in page.text
    assert 'href="/audit"' in page.text
    _flushed(c)
    looks = [a for a in site.log.audit_entries() if a["action"] == "viewed_audit"]
    assert [(a["user"], a["detail"]) for a in looks] == [("admin", "1 view(s): page=1")]
    tok = token(c, "/audit")
    shown = c.post("/audit", data={"reveal": edit["id"], "csrf": tok}, headers=HTML).text
    assert "粤B67890" in shown and shown.count("粤B***90") == 0
    assert "粤B67890" not in c.post("/audit", data={"reveal": edit["id"] - 1, "csrf": tok}).text  # another row
    _flushed(c)
    looks = [a for a in site.log.audit_entries() if a["action"] == "viewed_audit"]
    assert [a["detail"] for a in looks] == [f"5 view(s): page=1, plate#{edit['id']}"]  # four pages, one plate
    assert not any("67890" in a["detail"] for a in site.log.audit_entries() if a["action"].startswith("viewed_"))
    assert "查看审计日志" in c.get("/audit").text
    restore = unwritable()
    site.clock.advance(601)  # a new window: its row cannot be written
    r = c.post("/audit", data={"reveal": edit["id"], "csrf": tok}, headers=HTML)
    assert r.status_code == 503 and "审计日志无法写入" in r.text and "粤B67890" not in r.text
    assert r.headers["retry-after"] == "60"
    restore()


def test_the_installer_page_refuses_in_the_users_words_when_its_picture_or_save_cannot_be_recorded(site, unwritable):
    """The installer's picture shows every parked car's plate. With the audit log unwritable the page opened with a
    broken picture and no word why; on a locked database it waited for the picture's row and said "snapshot failed:
    database is locked" in English; its Save said "未保存: 503 Service Unavailable" (the fetch got English text it
    could not read). Now the page is the 503 error page in the user's language with Retry-After, and the Save's
    refusal carries the error page's words for the page to show."""
    c = logged_in(site)
    tok = token(c, "/installer")
    _flushed(c)
    eid = re.search(r'src="/evidence/([^/]+)/frame\.jpg"', c.get("/installer").text).group(1)
    _flushed(c)
    assert f"{eid}/frame" in next(a for a in _views(site) if a["action"] == "viewed_photo")["detail"]
    site.store._db.execute("PRAGMA busy_timeout=0")  # the store's own 5 s wait is not the point here
    restore = unwritable()
    site.clock.advance(601)  # a new window, and a new picture
    page = c.get("/installer", headers=HTML)
    assert page.status_code == 503 and page.headers["retry-after"] == "60"
    assert "/evidence/" not in page.text and ("审计日志无法写入" in page.text or "设备数据库暂时无法写入" in page.text)
    c.post("/lang", data={"lang": "en", "csrf": tok})
    assert "cannot be written" in c.get("/installer", headers=HTML).text
    bays = [{"id": b["id"], "polygon": b["polygon"]} for b in c.app.state.ctx.cfg.model_dump()["bays"]]
    r = c.post("/installer", json={"bays": bays}, headers={"X-CSRF-Token": tok, "accept": "application/json"})
    assert r.status_code == 503 and r.headers["retry-after"] == "60"
    body = r.json()
    assert body["ok"] is False and body["title"] == "The audit log cannot be written: nothing was done"
    assert body["message"].startswith("Every action") and "nothing was done" in body["detail"]
    restore()
    assert c.get("/installer", headers=HTML).status_code == 200


def test_a_plate_is_revealed_only_by_the_admins_own_form_never_by_a_link(site):
    """The audit log's "show plate" was a GET (``/audit?reveal=ID``): with SameSite=Lax a link on any other site (a
    top-level navigation carries the cookie) made a signed-in admin's browser reveal a plate and write a
    ``plate#ID`` row saying the admin asked for it. Now it is a POST with the page's CSRF token, like every other
    action; the query parameter reveals and records nothing."""
    c = logged_in(site)
    c.post("/violations/2/list", data={"which": "deny", "csrf": token(c, "/violations/2")}, follow_redirects=False)
    edit = next(a for a in site.log.audit_entries() if a["action"] == "list_deny")
    page = c.get("/audit", headers=HTML).text
    assert 'method="post" action="/audit"' in page and f'name="reveal" value="{edit["id"]}"' in page
    assert "reveal=" not in page  # no link that reveals
    linked = c.get(f"/audit?reveal={edit['id']}", headers={**HTML, "referer": "https://evil.example/"})
    assert linked.status_code == 200 and "粤B67890" not in linked.text and "粤B***90" in linked.text
    forged = c.post("/audit", data={"reveal": str(edit["id"]), "page": "1"}, headers=HTML)  # a cross-site form
    assert forged.status_code == 403 and "粤B67890" not in forged.text
    _flushed(c)
    assert not any("plate#" in a["detail"] for a in _views(site))
    shown = c.post("/audit", data={"reveal": str(edit["id"]), "page": "1", "csrf": token(c, "/audit")}, headers=HTML)
    assert shown.status_code == 200 and "粤B67890" in shown.text and "粤B***90" not in shown.text
    _flushed(c)
    assert any(f"plate#{edit['id']}" in a["detail"] for a in _views(site))
    bad = c.post("/audit", data={"reveal": "x", "page": "1", "csrf": token(c, "/audit")}, headers=HTML)
    assert bad.status_code == 400


def test_the_installers_picture_is_one_look_per_page_not_two(site):
    """The installer page audits its picture before showing it (a log that cannot take the look refuses the page),
    and the picture's fetch (``/evidence/ID/frame.jpg``) audited it again: each visit counted two views of it
    ("2 view(s)" for one look, 6 for three). The page's count now stands for its fetch; a fetch of the picture
    without the page (opened on its own, again) still counts."""
    c = logged_in(site)
    _flushed(c)
    eid = re.search(r'src="/evidence/([^/]+)/frame\.jpg"', c.get("/installer").text).group(1)
    assert c.get(f"/evidence/{eid}/frame.jpg").status_code == 200
    _flushed(c)
    photos = [a for a in _views(site) if a["action"] == "viewed_photo"]
    assert [a["detail"] for a in photos] == [f"1 view(s): {eid}/frame"]
    for _ in range(2):  # two more visits within 10 s: the same picture, each fetched once
        assert eid in c.get("/installer").text
        assert c.get(f"/evidence/{eid}/frame.jpg").status_code == 200
    assert c.get(f"/evidence/{eid}/frame.jpg").status_code == 200  # the picture alone, in a tab of its own
    _flushed(c)
    photos = [a for a in _views(site) if a["action"] == "viewed_photo"]
    assert [a["detail"] for a in photos] == [f"4 view(s): {eid}/frame"]
