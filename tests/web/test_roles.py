"""Roles on the review page: the property manager (reviewer) decides violations and edits the lists, the installer
draws bays and checks the camera, admin does both, everyone signed in may look.

The probe found one kind of user only: any account could save bays, confirm the camera view and allow-list a
violator's plate (enforcement off for it). Each refusal is a 403 on the route itself, not only a hidden button.
"""

from __future__ import annotations

import pytest
import yaml
from fastapi.testclient import TestClient

from edge_agent.web.auth import UsersFile
from tests.web.test_api import token

PW = "another good password"
BODY = b'{"bays": [{"id": "A1", "polygon": [[40, 300], [460, 300], [470, 530], [20, 530]]}]}'


def login(site, name: str, role: str | None) -> TestClient:  # noqa: ANN001
    UsersFile(site.root / "users.txt").set(name, PW, role)
    c = TestClient(site.app())
    r = c.post("/login", data={"username": name, "password": PW, "csrf": token(c)}, follow_redirects=False)
    assert r.status_code == 303
    return c


def test_a_reviewer_decides_and_lists_but_cannot_install(site) -> None:  # noqa: ANN001
    c = login(site, "manager", "reviewer")
    tok = token(c, "/violations/1")
    assert c.post("/violations/1/decide", data={"decision": "confirmed", "csrf": tok},
                  follow_redirects=False).status_code == 303
    assert c.post("/violations/2/list", data={"which": "deny", "csrf": tok}, follow_redirects=False).status_code == 303
    assert "粤B67890" in site.lists.deny
    assert c.get("/installer").status_code == 403
    for path, kw in (("/installer", {"content": BODY, "headers": {"X-CSRF-Token": tok,
                                                                   "content-type": "application/json"}}),
                     ("/camera/confirm", {"data": {"csrf": tok}}), ("/bays/A1/snapshot", {"data": {"csrf": tok}})):
        r = c.post(path, follow_redirects=False, **kw)
        assert r.status_code == 403 and "installer" in r.text, (path, r.status_code)
    overrides = site.root / "data" / "overrides.yaml"  # holds the deny list now, and no bays
    assert "bays" not in yaml.safe_load(overrides.read_text(encoding="utf-8")) and not site.control.reloads
    bays = c.get("/bays").text
    assert 'href="/installer"' not in bays and "/snapshot" not in bays  # no control it may not use


def test_an_installer_installs_but_cannot_decide_or_list(site) -> None:  # noqa: ANN001
    c = login(site, "fitter", "installer")
    assert c.get("/installer").status_code == 200
    tok = token(c, "/installer")
    r = c.post("/installer", content=BODY, headers={"X-CSRF-Token": tok, "content-type": "application/json"})
    assert r.status_code == 200 and r.json()["ok"] and site.control.reloads
    allow_before = list(site.lists.allow)
    assert c.post("/violations/1/list", data={"which": "allow", "csrf": tok}).status_code == 403
    assert c.post("/violations/1/decide", data={"decision": "dismissed", "reason": "x", "csrf": tok}).status_code == 403
    assert site.lists.allow == allow_before and site.log.get(1).decision == "open"
    detail = c.get("/violations/1").text
    assert "/decide" not in detail and "/list" not in detail


def test_users_without_a_role_stay_admin_and_a_role_change_ends_sessions(site) -> None:  # noqa: ANN001
    users = UsersFile(site.root / "users.txt")
    assert all(line.count(":") == 1 for line in users.path.read_text().splitlines())  # the old format: admin
    assert users.role("admin") == "admin"
    c = login(site, "sam", "reviewer")
    assert c.get("/violations").status_code == 200
    users.set("sam", PW, "installer")  # a new role: sessions opened under the old one end
    assert c.get("/violations", follow_redirects=False).status_code in (303, 401)  # signed out
    users.set("sam", PW)  # a new password keeps the role
    assert users.role("sam") == "installer"
    users.path.write_text(users.path.read_text().replace(":installer", ":viewer"))  # a role this version lacks
    c = TestClient(site.app())
    c.post("/login", data={"username": "sam", "password": PW, "csrf": token(c)})
    assert c.get("/violations").status_code == 200 and c.get("/installer").status_code == 403
    with pytest.raises(ValueError, match="role must be one of"):
        users.set("sam", PW, "root")
