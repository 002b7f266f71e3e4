"""The page's own HTTPS (``web.tls``), over real sockets with a self-signed certificate made here by openssl.

Before, the page spoke only plain HTTP: on a site without a reverse proxy every password and session cookie
crossed the car park's Wi-Fi readable by anyone on it."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from edge_agent.config import ConfigError, load_config
from edge_agent.config.web import server_context
from edge_agent.web.connections import PER_CLIENT
from edge_agent.web.server import WebServer, build_web
from tests.web.conftest import PASSWORD
from tests.web.test_connections import closed_by_server, connect
from tests.web.test_login_flood import set_web

# Before every fixture's clock (tests/conftest.py's 2026-01-01 00:00 UTC, the web site's 2026-03-02): a certificate
# made now by ``req -x509`` began at the wall clock, and every HTTPS test logged it "not valid before" on the
# site's clock. Its end stays ``days`` from the real now, which the clients verify it against.
NOT_BEFORE = datetime(2025, 12, 31, tzinfo=timezone.utc)

CA_CONF = """[ca]
default_ca = here
[here]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_name
copy_extensions = copy
unique_subject = no
x509_extensions = as_req_x509
[any_name]
commonName = supplied
[as_req_x509]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
basicConstraints = critical, CA:true
"""


def make_cert(folder: Path, name: str = "page", days: int = 2,
              not_before: datetime | None = NOT_BEFORE) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (it is its own CA: pinned by the client), valid from
    ``not_before`` (None: now) to ``days`` from now. ``openssl ca -selfsign``: OpenSSL 3.0's ``req -x509`` cannot
    date a certificate's start."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a certificate")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    work = folder / f".{name}-ca"
    work.mkdir()
    (work / "ca.cnf").write_text(CA_CONF)
    (work / "index.txt").write_text("")
    (work / "serial").write_text(f"{secrets.randbits(63):016X}\n")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now if not_before is None else not_before
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(work / "req.csr"), "-subj", "/CN=edge-agent review",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-selfsign", "-notext", "-config", "ca.cnf", "-keyfile", str(key),
                    "-in", "req.csr", "-out", str(cert), "-startdate", f"{start:%Y%m%d%H%M%SZ}",
                    "-enddate", f"{now + timedelta(days=days):%Y%m%d%H%M%SZ}"],
                   check=True, capture_output=True, cwd=work)
    shutil.rmtree(work)
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return make_cert(tmp_path / "tls")


def pinned(cert: Path) -> ssl.SSLContext:
    """A client that trusts this one certificate and nothing else."""
    return ssl.create_default_context(cafile=str(cert))


def https_site(site, cert: tuple[Path, Path], **web):
    set_web(site, host="127.0.0.1", port=0, tls={"cert_file": str(cert[0]), "key_file": str(cert[1])}, **web)
    cfg = load_config(site.config_path)
    return build_web(cfg, site.store, site.log, site.control, site.lists, site.bus, site.clock, site.config_path)


def sign_in(c: httpx.Client) -> httpx.Response:
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    return c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok})


def test_the_page_speaks_https_with_secure_cookies_and_no_clear_text_warning(site, cert, caplog):
    srv = https_site(site, cert)
    with caplog.at_level(logging.INFO, logger="edge_agent.web.server"), srv:
        assert srv.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=srv.url, verify=pinned(cert[0]), follow_redirects=False) as c:
            r = sign_in(c)
            assert r.status_code == 303
            cookies = {v.split("=", 1)[0]: v.lower() for v in r.headers.get_list("set-cookie")}
            assert "; secure" in cookies["edge_session"] and "; secure" in cookies["edge_known"]  # tls: on by default
            assert c.get("/violations").status_code == 200
            eid = site.log.get(1).evidence_id
            assert c.get(f"/evidence/{eid}/frame.jpg").headers["content-type"] == "image/jpeg"
        with httpx.Client(base_url=srv.url) as c, pytest.raises(httpx.ConnectError):  # the system's CAs: unknown
            c.get("/login")
        with connect(srv) as plain:  # plain HTTP to the HTTPS port: no page, nothing in clear
            plain.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
            assert not plain.recv(4096).startswith(b"HTTP/")
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # none at all: no clear-text warning, nor a certificate "not valid before" the site's clock (the test
    # certificates cover the fixtures' clocks), nor the first plain-HTTP request's, which is the certs module's
    assert [s for s in said if "plain HTTP" not in s] == [], said


def test_secure_cookies_may_still_be_turned_off_with_tls(site, cert):
    with https_site(site, cert, secure_cookies=False) as srv, \
            httpx.Client(base_url=srv.url, verify=pinned(cert[0])) as c:
        r = sign_in(c)
        assert r.status_code in (200, 303)
        assert "secure" not in (r.history[0] if r.history else r).headers["set-cookie"].lower()
    set_web(site, tls=None, secure_cookies=None)
    assert load_config(site.config_path).web.cookies_secure is False  # plain HTTP: off, as before


def test_handshakes_count_against_the_connection_bounds_and_the_request_deadline(site, cert):
    """uvicorn's own ``ssl_certfile`` gives the protocol a connection only after its handshake: a client that
    opened sockets and sent no ClientHello met neither the 16-per-address bound nor the 20 s deadline (asyncio
    held each 60 s). Here the handshake is made under both."""
    tls = server_context(str(cert[0]), str(cert[1]))
    with WebServer(site.app(), "127.0.0.1", 0, request_timeout_s=0.5, tls=tls) as srv:
        silent = [connect(srv) for _ in range(PER_CLIENT)]  # TCP only, no ClientHello
        extra = connect(srv)
        assert closed_by_server(extra)  # over its share while its handshakes wait: closed at once
        with socket.create_connection(("127.0.0.1", srv.port), source_address=("127.0.0.2", 0)) as raw, \
                pinned(cert[0]).wrap_socket(raw, server_hostname="127.0.0.1") as other:
            other.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
            assert other.recv(12) == b"HTTP/1.1 200"  # another address still gets its page
        for s in silent:
            assert closed_by_server(s)  # the silent handshakes end at the deadline, not after 60 s
            s.close()


def one_flight(port: int, cafile: Path) -> bytes:
    """A TLS 1.3 client whose Finished and first request leave in one segment (as a browser's often do): the
    server has the request decrypted before its handshake call returns. The answer's first bytes."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = pinned(cafile).wrap_bio(inc, out, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(out.read())
                inc.write(sock.recv(65536))
        tls.write(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
        sock.sendall(out.read())  # the client's Finished and the request together
        while True:
            try:
                return tls.read(12)
            except ssl.SSLWantReadError:
                chunk = sock.recv(65536)
                if not chunk:
                    return b""
                inc.write(chunk)


def test_a_request_sent_with_the_clients_finished_is_answered_over_tls(site, cert):
    """The request came decrypted while ``start_tls`` had not yet returned the TLS transport: answered through
    the plain socket it would have gone out in clear and broken the connection."""
    with https_site(site, cert) as srv:
        assert [one_flight(srv.port, cert[0]) for _ in range(5)] == [b"HTTP/1.1 200"] * 5


@pytest.mark.parametrize(("change", "key", "says"), [
    (lambda d, c, k: {"cert_file": str(d / "none.crt"), "key_file": str(k)}, "web.tls.cert_file",
     "cannot read"),
    (lambda d, c, k: {"cert_file": str(d), "key_file": str(k)}, "web.tls.cert_file", "not a regular file"),
    (lambda d, c, k: {"cert_file": str(c), "key_file": str(k.chmod(0o644) or k)}, "web.tls.key_file",
     "readable by every user"),
    (lambda d, c, k: {"cert_file": str(c), "key_file": str(make_cert(d / "other")[1])}, "web.tls",
     "is not the key of cert_file"),
    (lambda d, c, k: {"cert_file": str(c), "key_file": str(private_copy(c))}, "web.tls",
     "are not a certificate and its key"),
    (lambda d, c, k: {"cert_file": str(c), "key_file": str(encrypted(k))}, "web.tls", "is encrypted"),
    (lambda d, c, k: {"cert_file": str(c)}, "web.tls.key_file", "required"),
])
def test_a_certificate_or_key_the_page_cannot_use_is_one_message_naming_the_key(site, cert, change, key, says):
    set_web(site, tls=change(cert[0].parent, *cert))
    with pytest.raises(ConfigError) as exc:
        load_config(site.config_path)
    text = str(exc.value)
    assert key in text and says in text, text
    assert "Traceback" not in text


def private_copy(path: Path) -> Path:
    out = path.with_name("copy.key")
    out.write_bytes(path.read_bytes())
    out.chmod(0o600)
    return out


def encrypted(key: Path) -> Path:
    out = key.with_name("locked.key")
    subprocess.run(["openssl", "pkey", "-in", str(key), "-out", str(out), "-aes256", "-passout", "pass:secret"],
                   check=True, capture_output=True)
    out.chmod(0o600)
    return out


def test_check_config_refuses_a_world_readable_key_with_exit_2(site, cert, capsys):
    from edge_agent.cli import main

    cert[1].chmod(0o644)
    set_web(site, tls={"cert_file": str(cert[0]), "key_file": str(cert[1])})
    assert main(["check-config", str(site.config_path)]) == 2
    err = capsys.readouterr().err
    assert "web.tls.key_file" in err and "chmod 640" in err and "Traceback" not in err
    cert[1].chmod(0o640)  # the agent's group may read it
    assert main(["check-config", str(site.config_path)]) == 0
    assert os.stat(cert[1]).st_mode & 0o777 == 0o640


def test_a_client_that_never_answers_the_close_does_not_hold_the_stop(site, cert):
    """An idle kept-alive TLS connection whose client reads nothing: the server's close waited for its close_notify
    (asyncio: 30 s), ``stop`` gave up on the page's thread after its 5 s and left it serving on."""
    srv = WebServer(site.app(), "127.0.0.1", 0, tls=server_context(str(cert[0]), str(cert[1])))
    srv.start()
    thread = srv._thread
    assert thread is not None
    with socket.create_connection(("127.0.0.1", srv.port)) as raw, \
            pinned(cert[0]).wrap_socket(raw, server_hostname="127.0.0.1") as idle:
        idle.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
        assert idle.recv(12) == b"HTTP/1.1 200"
        srv.stop()
        assert not thread.is_alive()


def test_closed_connections_waiting_on_their_clients_close_notify_count_against_the_total(site, cert):
    """A TLS connection the page has closed waits (asyncio: 30 s) for the client's close_notify, its descriptor
    held; the total bound counted only connections not closing, so clients from many addresses sending
    ``Connection: close`` and never answering the close held descriptors past ``max_connections`` (here 12 for 4).
    When the page is full such a connection is the first dropped."""
    tls = server_context(str(cert[0]), str(cert[1]))
    with WebServer(site.app(), "127.0.0.1", 0, max_connections=4, tls=tls) as srv:
        held = []
        for n in range(12):
            raw = socket.create_connection(("127.0.0.1", srv.port), timeout=5, source_address=(f"127.0.0.{n + 2}", 0))
            s = pinned(cert[0]).wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
            assert s.recv(12) == b"HTTP/1.1 200"
            held.append(s)  # reads no more: never answers the page's close_notify
        last = pinned(cert[0]).wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=5),
                                           server_hostname="127.0.0.1")
        last.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
        assert last.recv(12) == b"HTTP/1.1 200"
        assert srv._server is not None and len(srv._server.server_state.connections) <= 4 + 1
        for s in (*held, last):
            s.close()


def test_plain_http_to_the_https_port_says_so_in_the_log_once(site, cert, caplog):
    """``http://`` to the HTTPS port got a reset, and nothing in the log said why: now the start line says the port
    is HTTPS only, and the first plain request a line naming its client (the rest at debug)."""
    with caplog.at_level(logging.DEBUG, logger="edge_agent.web"), https_site(site, cert) as srv:
        for _ in range(3):
            with connect(srv) as plain:
                plain.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
                assert not plain.recv(4096).startswith(b"HTTP/")
        with httpx.Client(base_url=srv.url, verify=pinned(cert[0])) as c:  # served on after the third
            assert c.get("/login").status_code == 200
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert [s for s in said if s.startswith("review page on https://")][0].endswith(
        "(HTTPS only: http:// to this port is closed unanswered)")
    plain_lines = [r for r in caplog.records if "sent plain HTTP" in r.getMessage()]
    assert [r.levelno for r in plain_lines] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert plain_lines[0].getMessage().startswith("127.0.0.1 sent plain HTTP to the page's HTTPS port")


def test_every_response_over_https_carries_hsts_and_the_security_headers(site, cert):
    """``Strict-Transport-Security`` with ``web.tls`` (a day, this host only), and CSP, nosniff, Referrer-Policy and
    frame-ancestors on every answer the page gives: pages, refusals (401, 403, 404, 405, 413, 429), static files."""
    from edge_agent.web.app import HSTS
    from edge_agent.web.auth import UsersFile
    from tests.web.test_roles import PW

    UsersFile(site.root / "users.txt").set("manager", PW, "reviewer")
    got: dict[str, httpx.Response] = {}
    with https_site(site, cert, max_body_kib=16) as srv, \
            httpx.Client(base_url=srv.url, verify=pinned(cert[0]), follow_redirects=False) as anon, \
            httpx.Client(base_url=srv.url, verify=pinned(cert[0]), follow_redirects=False) as c:
        got["login"] = anon.get("/login")
        got["303 to the login"] = anon.get("/violations", headers={"Accept": "text/html"})
        got["401"] = anon.get("/violations")
        got["static"] = anon.get("/static/style.css")
        got["static 304"] = anon.get("/static/style.css", headers={"If-None-Match": got["static"].headers["etag"]})
        got["vendor"] = anon.get("/static/vendor/echarts/LICENSE.txt")
        got["static 404"] = anon.get("/static/nothing.css")
        got["413"] = anon.post("/login", content=b"x" * 20_000, headers={"Content-Type": "text/plain"})
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "manager", "password": PW, "csrf": tok}).status_code == 303
        got["page"] = c.get("/violations")
        got["404"] = c.get("/violations/999999")
        got["404 html"] = c.get("/nothing", headers={"Accept": "text/html"})
        got["405"] = c.delete("/violations")
        got["403 role"] = c.get("/installer")
        got["403 csrf"] = c.post("/bays/A/snapshot", data={"csrf": "wrong"})
        for _ in range(40):
            r = c.post("/bays/A/snapshot", data={"csrf": "wrong"})
            if r.status_code == 429:
                got["429"] = r
                break
        eid = site.log.get(1).evidence_id
        got["image"] = c.get(f"/evidence/{eid}/frame.jpg")
    assert {k: r.status_code for k, r in got.items()} == {
        "login": 200, "303 to the login": 303, "401": 401, "static": 200, "static 304": 304, "vendor": 200,
        "static 404": 404, "413": 413, "page": 200, "404": 404, "404 html": 404, "405": 405, "403 role": 403,
        "403 csrf": 403, "429": 429, "image": 200}
    for what, r in got.items():
        h = r.headers
        assert h.get("strict-transport-security") == HSTS == "max-age=86400", what
        assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), what
        assert "default-src 'self'" in h["content-security-policy"], what
        assert h.get("x-content-type-options") == "nosniff", what
        assert h.get("referrer-policy") == "same-origin", what
        assert h.get("x-frame-options") == "DENY", what
        assert "server" not in h, what


def test_no_hsts_without_the_pages_own_tls(site):
    """A page on plain HTTP (behind a proxy that speaks HTTPS, or none) sends no HSTS: a browser ignores it over
    http://, and the proxy is where it belongs."""
    from starlette.testclient import TestClient

    set_web(site, secure_cookies=True)
    r = TestClient(site.app()).get("/login")
    assert r.status_code == 200 and "strict-transport-security" not in r.headers
    assert r.headers["content-security-policy"] and r.headers["x-content-type-options"] == "nosniff"


def test_an_unhandled_exception_answers_500_with_the_security_headers_and_no_traceback(site, cert, caplog):
    """Starlette's ``ServerErrorMiddleware`` sits outside every middleware the app adds: a route that raised got its
    bare 500 without HSTS, CSP, nosniff or Referrer-Policy. The page's own 500 carries them, and says nothing of the
    error (the traceback goes to the log)."""
    from edge_agent.web.app import HSTS

    srv = https_site(site, cert)

    def boom() -> None:
        raise RuntimeError("db at /var/lib/edge-agent/evidence.db: secret detail")

    srv.app.add_api_route("/boom", boom)
    with srv, httpx.Client(base_url=srv.url, verify=pinned(cert[0]), follow_redirects=False) as c:
        got = {"plain": c.get("/boom"), "html": c.get("/boom", headers={"Accept": "text/html"}), "head": c.head("/boom"),
               "after": c.get("/login")}  # and the page goes on
    assert {k: r.status_code for k, r in got.items()} == {"plain": 500, "html": 500, "head": 500, "after": 200}
    for what, r in got.items():
        h = r.headers
        assert h.get("strict-transport-security") == HSTS, what
        assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), what
        assert h.get("x-content-type-options") == "nosniff", what
        assert h.get("referrer-policy") == "same-origin", what
        assert h.get("x-frame-options") == "DENY", what
        assert h.get("cache-control") == "no-store", what
    for r in (got["plain"], got["html"]):
        assert r.text == "Internal Server Error" and "secret" not in r.text and "Traceback" not in r.text
    assert got["head"].content == b""
    logged = [r for r in caplog.records if r.getMessage() == "review page: GET /boom failed"]
    assert len(logged) == 3 and all(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in logged)
