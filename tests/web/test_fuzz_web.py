"""Fuzz: the review / installer page's routes with odd path parameters, query strings, form fields, JSON bodies,
Content-Types, headers and cookies, signed in or not, with the session's CSRF token, a wrong one or none; and raw
HTTP to a real server (Content-Length that lies, chunked bodies that break off, bytes no header may hold).

Whatever arrives: never a 5xx nor a traceback, no redirect off the site, and nothing changes (a decision, a list, an overrides file, a reload,
an audited action) unless a signed-in user sent the session's token. Locally run longer with
``FUZZ_EXAMPLES=6000``."""

from __future__ import annotations

import os
import re
import socket
import warnings
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette suggests httpx2; httpx works
    from fastapi.testclient import TestClient

from edge_agent.web.server import WebServer
from tests.web.conftest import PASSWORD
from tests.web.fuzzweb import query_string, requests
from tests.web.test_api import token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
WATCHED = ("viewed_", "login", "export_csv")  # audit rows a look or a sign-in leaves: not an action


def state(site: Any) -> tuple:
    """Everything a request may change only with a user's session and token."""
    overrides = site.root / "data" / "overrides.yaml"
    actions = sorted(e["action"] for e in site.log.audit_entries(100_000) if not e["action"].startswith(WATCHED))
    return (tuple(site.log.get(i).decision for i in range(1, 8)), actions, len(site.control.reloads),
            len(site.control.list_calls), overrides.read_bytes() if overrides.exists() else None)


def on_site(location: str | None) -> bool:
    """A redirect stays on this page's own host (a trailing slash's redirect names it whole: ``http://testserver/…``)."""
    if location is None:
        return True
    rest = location.removeprefix("http://testserver")
    parts = urlsplit(rest)
    return (not parts.scheme and not parts.netloc and rest.startswith("/") and not rest.startswith(("//", "/\\"))
            and not set(rest) & set("\r\n\t\\"))


def sign_in(app: Any, site: Any) -> tuple[TestClient, str]:
    site.clock.advance(3600)  # past the login limit the fuzz's own wrong passwords may have reached
    c = TestClient(app)
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token(c)}, follow_redirects=False)
    assert r.status_code == 303
    return c, token(c, "/violations")


def test_no_request_is_a_server_error_or_acts_without_session_and_token(site) -> None:
    app = site.app()
    evidence = [site.log.get(i).evidence_id for i in range(1, 4)]
    admin = [sign_in(app, site)]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 150,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(who=st.sampled_from(["admin", "admin", "nobody"]), req=requests(evidence))
    def one(who: str, req: Any) -> None:
        site.clock.advance(5)
        if who == "nobody":
            client = TestClient(app)
            tok = token(client)
        else:
            client, tok = admin[0]
        form = dict(req.form) if req.form is not None else None
        headers = {k: v.encode("latin-1", "replace") for k, v in req.headers.items()}
        if req.token != "none":
            sent = tok if req.token == "good" else "not-the-token"
            if form is not None:
                form["csrf"] = sent
            else:
                headers["x-csrf-token"] = sent.encode()
        url = req.path + ("?" + query_string(req.query) if req.query else "")
        before = state(site)
        r = client.request(req.method, url, data=form, content=req.body, headers=headers, follow_redirects=False)
        assert r.status_code < 500 and "Traceback" not in r.text, (r.status_code, r.text[:300])
        assert on_site(r.headers.get("location")), r.headers["location"]  # next=//evil.example goes nowhere
        if who == "nobody" or req.token != "good" or req.method in ("GET", "HEAD"):
            assert state(site) == before, (who, req)
        if who == "admin" and req.method == "POST" and req.token == "good" and req.path in ("/logout", "/login"):
            admin[0] = sign_in(app, site)

    one()


def _send(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(raw)  # the server's request_timeout_s closes a connection whose request never ends
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


RAW = [
    b"POST /violations/1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\ndecision=confirmed",  # a lie: more
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
    b"username=admin&password=x",  # a lie: less (the rest is a bad second request)
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nx",
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello",
    b"POST /installer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n",
    b"POST /installer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /lang HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\nContent-Length: 4\r\n\r\n--zz",
    b"POST /lang HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: 9\r\n\r\n--zz\r\n\xff",
    b"POST /lang HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-16\r\n"
    b"Content-Length: 4\r\n\r\n\xff\xfe=\x00",
    b"GET /violations HTTP/1.1\r\nHost: x\r\nCookie: edge_session=" + b"A" * 60_000 + b"\r\n\r\n",
    b"GET /violations HTTP/1.1\r\nHost: x\r\nCookie: edge_session=\xff\xfe\r\nAccept: text/html\r\n\r\n",
    b"GET /login HTTP/1.1\r\nHost: x\r\nAccept-Language: " + b"zh;q=" * 2000 + b"\r\nReferer: \xc3\xa9\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"G\xc3\xa9T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /login HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \xff, 1.2.3.4\r\n\r\n",
    b"GET /login HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
]


def test_raw_http_that_lies_is_a_4xx_or_a_closed_connection(site) -> None:
    before = state(site)
    with WebServer(site.app(), "127.0.0.1", 0, request_timeout_s=0.5) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        for raw in RAW:
            out = _send(port, raw)
            codes = [int(c) for c in re.findall(rb"^HTTP/1\.[01] (\d{3})", out, re.M)]
            assert all(c < 500 for c in codes) and b"Traceback" not in out, (raw[:80], out[:200])
        assert b" 200 " in _send(port, b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert state(site) == before
