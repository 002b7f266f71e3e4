"""Cookie flags, the Content-Security-Policy and whose X-Forwarded-For is believed."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from edge_agent.config.errors import ListenError
from edge_agent.config.load import ConfigError, load_config
from edge_agent.web.server import WebServer, build_web
from tests.web.conftest import PASSWORD
from tests.web.test_api import logged_in, token
from tests.web.test_login_flood import set_web

PAGES = ("/violations", "/violations/4", "/bays", "/installer", "/audit")


def test_session_cookie_is_secure_when_configured(site):
    assert "secure" not in logged_in(site).get("/login").headers.get("set-cookie", "").lower()
    c = logged_in(site)
    r = c.post("/lang", data={"lang": "en", "next": "/violations", "csrf": token(c, "/violations")},
               follow_redirects=False)
    assert "secure" not in r.headers["set-cookie"].lower()  # plain http on a site LAN: off by default
    set_web(site, secure_cookies=True)
    from fastapi.testclient import TestClient

    c = TestClient(site.app(), base_url="https://testserver")
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token(c)}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert r.status_code == 303 and "; secure" in cookie and "httponly" in cookie


def test_every_page_has_a_strict_csp_and_no_inline_code(site):
    c = logged_in(site)
    for path in ("/login",) + PAGES:
        r = c.get(path)
        assert r.status_code == 200, path
        csp = {d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split(";") if d.strip()}
        assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"], path
        assert csp["style-src"] == ["'self'"] and csp["object-src"] == ["'none'"], path
        assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"], path
        assert csp["form-action"] == ["'self'"], path
        assert not any("unsafe" in v for vs in csp.values() for v in vs), path
        html = r.text
        # what a strict CSP would block: inline scripts, event-handler attributes, style attributes
        inline = [s for s in re.findall(r"<script\b([^>]*)>", html) if "src=" not in s and "application/json" not in s]
        assert not inline, (path, inline)
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert not re.search(r"<[^>]+\sstyle\s*=", html) and "<style" not in html, path
    assert "content-security-policy" in c.get("/static/style.css").headers


def attempts(url: str, forwarded: list[str]) -> list[int]:
    codes = []
    with httpx.Client(base_url=url) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        for i, addr in enumerate(forwarded):
            r = c.post("/login", data={"username": f"guess{i}", "password": "wrong", "csrf": tok},
                       headers={"X-Forwarded-For": addr})
            codes.append(r.status_code)
    return codes


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(site):
    """The per-IP limit (3 here) cannot be dodged by sending a new X-Forwarded-For each time."""
    forwarded = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
    with WebServer(site.app(), "127.0.0.1", 0) as srv:  # uvicorn's own default trusts 127.0.0.1
        assert attempts(srv.url, forwarded) == [401, 401, 401, 429]
    assert {a["ip"] for a in site.log.audit_entries()} == {"127.0.0.1"}

    set_web(site, trusted_proxies=["127.0.0.1"])  # behind a reverse proxy on this host
    cfg = load_config(site.config_path)
    srv = build_web(cfg, site.store, site.log, site.control, site.lists, site.bus, site.clock, site.config_path)
    srv.port = 0
    with srv:
        assert attempts(srv.url, ["198.51.100.7"] * 4) == [401, 401, 401, 429]  # limited per real client
        site.clock.advance(11)  # wrong passwords at made-up names are one audit row per 10 s for all addresses
        assert attempts(srv.url, ["198.51.100.8"]) == [401]
    assert {"198.51.100.7", "198.51.100.8"} <= {a["ip"] for a in site.log.audit_entries()}


@pytest.mark.parametrize("bad", [["not-an-ip"], ["10.0.0.0/33"], "127.0.0.1", ["*"]])
def test_trusted_proxies_must_be_addresses_or_networks(site, bad):
    set_web(site, trusted_proxies=bad)
    with pytest.raises(ConfigError) as err:
        load_config(site.config_path)
    assert "web.trusted_proxies" in str(err.value)


def test_trusted_proxies_take_addresses_and_networks(site, caplog):
    set_web(site, trusted_proxies=["127.0.0.1", "10.0.0.0/8", "::1", "192.168.1.0/24", "127.0.0.0/8"])
    cfg = load_config(site.config_path)
    assert cfg.web.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1", "192.168.1.0/24", "127.0.0.0/8"]
    assert [w for w in cfg.warnings if "trusted_proxies" in w] == [  # wider than a subnet and not loopback
        "web.trusted_proxies: 10.0.0.0/8 is a whole network: every address in it may say whose request it passes on "
        "(X-Forwarded-For), so a client there can dodge the per-address login limit; name the proxy's own address "
        "where you can"]


@pytest.mark.parametrize("wide", ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "0.0.0.0/1", "2000::/3"])
def test_trusted_proxies_wider_than_any_proxy_network_are_refused(site, wide):
    """Every address in a trusted network may name the client it passes on. With ``0.0.0.0/0`` a client on a real
    HTTP connection sent 30 wrong passwords, each with a new X-Forwarded-For, and met no 429 (the limit is 3 here)."""
    if ":" not in wide:  # what such a config served (the page on 127.0.0.1: an IPv4 peer)
        with WebServer(site.app(), "127.0.0.1", 0, trusted_proxies=[wide]) as srv:
            assert 429 not in attempts(srv.url, [f"203.0.113.{i}" for i in range(1, 7)])
    set_web(site, trusted_proxies=["127.0.0.1", wide])
    with pytest.raises(ConfigError) as err:
        load_config(site.config_path)
    assert "web.trusted_proxies" in str(err.value) and "wider than any proxy's network" in str(err.value)


def _get_paths(fill: dict[str, str]) -> list[str]:
    """Every GET route of the page's routers (``create_app`` includes them all, unprefixed), its path parameters
    filled from ``fill``."""
    from fastapi.routing import APIRoute

    from edge_agent.web import routes_auth, routes_site, routes_stats, routes_violations

    return [re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], route.path)
            for module in (routes_auth, routes_site, routes_stats, routes_violations) for route in module.router.routes
            if isinstance(route, APIRoute) and "GET" in route.methods]


def test_head_answers_as_get_without_a_body_on_every_get_route(site):
    """`curl -I` and a load balancer's HEAD probe got 405 Method Not Allowed from every page (FastAPI routes take
    only the methods they name). Now HEAD is GET without the body: the same status, redirects and headers, the login
    check the same (a HEAD without a session is sent to the login as a GET is), on the real server."""
    v = site.log.get(1)
    app = site.app()
    fill = {"vid": str(v.id), "event_id": "no-such-event", "evidence_id": v.evidence_id, "which": "frame"}
    paths = _get_paths(fill) + ["/static/style.css"]
    assert len(paths) >= 12 and "/bays" in paths and f"/violations/{v.id}" in paths
    with WebServer(app, "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url, follow_redirects=False) as c:
        for path in ("/", "/violations", "/bays", f"/evidence/{v.evidence_id}/frame.jpg"):
            for accept in ("text/html", "*/*"):  # a browser is sent to the login, a script gets 401
                got, head = (c.request(m, path, headers={"Accept": accept}) for m in ("GET", "HEAD"))
                assert (head.status_code, head.headers.get("location")) == (got.status_code, got.headers.get("location"))
                assert got.status_code in (303, 401) and head.content == b"", (path, accept)
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 303
        for path in paths:
            got, head = c.get(path), c.head(path)
            assert head.status_code == got.status_code != 405, (path, head.status_code, got.status_code)
            assert head.content == b"", path
            for name in ("content-type", "cache-control", "content-security-policy", "location"):
                assert head.headers.get(name) == got.headers.get(name), (path, name)
            if got.status_code == 200 and "content-length" in got.headers and path.endswith((".jpg", ".css")):
                assert head.headers["content-length"] == got.headers["content-length"], path
        assert c.head("/no-such-page").status_code == 404
        assert c.head("/logout").status_code == c.get("/logout").status_code  # a POST-only route: as for GET


def test_head_of_the_export_reads_no_log_and_records_no_export(site, monkeypatch, caplog):
    """A HEAD of /violations.csv ran the whole export (every row of the log read, the CSV made) to throw it away,
    and wrote an `export_csv` audit row for an export that never left. Without a session it is refused before any
    of that; with one it gets the export's headers, its first chunk's worth of rows read at most, and no audit row.
    Nor is its stop an error: each HEAD of the export logged "review page: GET /violations.csv failed" with a
    traceback (a proxy's health probe: one a minute), though it was answered as it should be."""
    from edge_agent.web import routes_violations

    monkeypatch.setattr(routes_violations, "CSV_CHUNK", 1)  # a chunk per row: how far the export ran shows
    drawn: list[int] = []
    iter_all = site.log.iter_all

    def counted(flt, batch=500):
        for v in iter_all(flt, batch):
            drawn.append(v.id)
            yield v

    monkeypatch.setattr(site.log, "iter_all", counted)
    app = site.app()
    with WebServer(app, "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url, follow_redirects=False) as c:
        assert c.head("/violations.csv").status_code in (303, 401) and drawn == []
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 303
        audits = len(site.log.audit_entries())
        head = c.head("/violations.csv")
        assert head.status_code == 200 and head.content == b""
        assert len(drawn) <= 1, drawn
        assert len(site.log.audit_entries()) == audits  # no export was made
        got = c.get("/violations.csv")
        assert got.status_code == 200 and len(drawn) > 2  # the GET reads them all
        assert site.log.audit_entries()[0]["action"] == "export_csv"
        for name in ("content-type", "content-disposition", "content-security-policy"):
            assert head.headers.get(name) == got.headers.get(name), name
        assert c.get("/bays").status_code == 200  # the server goes on answering after a stopped stream
    with logged_in(site) as tc:  # the in-process client too (another ASGI version: the stream in a task group)
        drawn.clear()
        r = tc.head("/violations.csv")
        assert r.status_code == 200 and r.content == b"" and len(drawn) <= 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]  # the server's thread: joined
    assert not errors, errors


@pytest.mark.parametrize(("web", "warned"), [
    ({"host": "0.0.0.0"}, True),
    ({"host": "::1"}, False),  # an HTTPS proxy beside it carries the site network's requests
    ({"host": "127.0.0.1"}, False),
    ({"host": "0.0.0.0", "secure_cookies": True}, False),  # the operator put HTTPS in front
])
def test_a_page_served_in_clear_text_on_the_network_says_so_at_start(site, caplog, web, warned):
    """The page speaks plain HTTP. Bound to the site network (``web.host: 0.0.0.0``, as the docs say for it) every
    login's password and every session cookie crossed the car park's network readable by anyone on it, and
    nothing said so: ``secure_cookies`` defaults to false, and the start logged only the address."""
    import logging

    set_web(site, **web)
    cfg = load_config(site.config_path)
    srv = build_web(cfg, site.store, site.log, site.control, site.lists, site.bus, site.clock, site.config_path)
    srv.port = 0
    try:
        with caplog.at_level(logging.INFO, logger="edge_agent.web.server"), srv:
            pass
    except (RuntimeError, ListenError):  # no IPv6 loopback here
        pytest.skip("cannot listen on ::1 here")
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(said) == warned, said
    if warned:
        assert "in clear text" in said[0] and "web.secure_cookies: true" in said[0]


def test_head_of_the_installer_page_opens_no_camera(site):
    """A HEAD is GET without the body and must change and record nothing, but a HEAD of /installer more than 10 s
    after the last picture opened the camera and stored a frame in the evidence (a monitor's probe of the page
    every minute: 1,440 photos a day). Now it takes none; a GET takes one as before."""
    from edge_agent.web.routes_site import SNAPSHOT_REUSE_S

    taken: list[str] = []
    take = site.control.snapshot
    site.control.snapshot = lambda bay_id: taken.append(take(bay_id)) or taken[-1]
    with WebServer(site.app(), "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url, follow_redirects=False) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 303
        for _ in range(3):
            head = c.head("/installer")
            assert head.status_code == 200 and head.content == b""
            site.clock.advance(SNAPSHOT_REUSE_S + 0.1)
        assert taken == []
        assert c.get("/installer").status_code == 200 and len(taken) == 1
        assert c.head("/installer").status_code == 200 and len(taken) == 1
