"""Every action the page offers is a POST with the session's CSRF token: checked over the app's own routes, so an
action added later without it fails here. Until 2026-12-05 the audit log's "show plate" was a GET that wrote an
audit row in the admin's name from a link on any site (SameSite=Lax sends the cookie with a top-level navigation)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from edge_agent.web.context import require_csrf
from tests.web.test_api import HTML, logged_in

PARAMS = {"vid": "1", "bay_id": "A1"}


def _routes(routes) -> list[APIRoute]:
    """The app's routes, those of its included routers too (FastAPI keeps each router's own behind a wrapper)."""
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif (inner := getattr(r, "original_router", None) or getattr(r, "router", None)) is not None:
            found += _routes(inner.routes)
    return found


def _changing_routes(app) -> list[APIRoute]:
    return [r for r in _routes(app.routes) if set(r.methods) - {"GET", "HEAD"}]


def test_every_route_that_changes_something_is_a_post_behind_the_csrf_token(site):
    c = logged_in(site)
    routes = _changing_routes(c.app)
    assert {r.path for r in routes} >= {"/login", "/logout", "/lang", "/audit", "/installer", "/camera/confirm",
                                        "/bays/{bay_id}/snapshot", "/violations/{vid}/decide", "/violations/{vid}/list"}
    for route in routes:
        assert set(route.methods) == {"POST"}, route.path
        calls = [d.call for d in route.dependant.dependencies]
        assert require_csrf in calls, f"{route.path} takes no CSRF token"
    rows = len(site.log.audit_entries(10_000))
    reloads, lists = len(site.control.reloads), len(site.control.list_calls)
    for route in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m[1]], route.path)
        # a cross-site form: the signed-in browser's cookie, every field but the token
        r = c.post(path, data={"decision": "confirmed", "which": "deny", "reveal": "1", "lang": "en",
                               "username": "admin", "password": "x"}, headers=HTML, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    assert len(site.log.audit_entries(10_000)) == rows  # nothing done, nothing recorded
    assert (len(site.control.reloads), len(site.control.list_calls)) == (reloads, lists)
    assert site.log.get(1).decision == "open"
    assert c.get("/violations", headers=HTML, follow_redirects=False).status_code == 200  # still signed in
