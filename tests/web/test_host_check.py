"""DNS rebinding: a request naming another site's host is refused (400) by a page reachable from the network.

A site the staff visit points its own name at the device once its script is loaded: the script is then "same
origin" with the page. Before the check, such a script read the login page (its CSRF token) through a staff
browser and posted password guesses from it, and ``login_max_failures`` of them kept every browser behind that
address (one that had not signed in before) out for ``login_window_s``. Over real HTTP (uvicorn on 0.0.0.0) and
in a real headless Chromium whose resolver points the attacker's name at the page."""

from __future__ import annotations

import http.client
import logging
import re
import socket
import urllib.parse
from pathlib import Path

import pytest

from edge_agent.config import load_config
from edge_agent.config.errors import ConfigError
from edge_agent.web.hosts import SAID_MAX, HostCheck
from edge_agent.web.server import WebServer, build_web
from tests.web.conftest import PASSWORD
from tests.web.test_login_flood import set_web
from tests.web.test_tls import make_cert, pinned

EVIL = "rebind.attacker.example"
CHROMIUM = "/usr/bin/chromium"
# Chromium asks its user before a page from the internet reaches a local address (Local Network Access; headless
# says no): off here, as in Firefox, Safari, the older WebViews of staff phones, or after a user clicked "Allow"
LNA_OFF = "--disable-features=LocalNetworkAccessChecks"


class Browserless:
    """One client (a cookie jar) speaking HTTP/1.1 to the page at 127.0.0.1, sending the ``Host`` it is given."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host, self.cookies = port, host, {}

    def req(self, method: str, path: str, form: dict | None = None) -> tuple[int, bytes, dict]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Host": self.host, "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urllib.parse.urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, value = v.split(";")[0].split("=", 1)
                self.cookies[name] = value
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}

    def login(self, password: str) -> int:
        status, page, _ = self.req("GET", "/login")
        m = re.search(rb'name="csrf" value="([^"]+)"', page)
        token = m.group(1).decode() if m else ""
        return self.req("POST", "/login", {"username": "admin", "password": password, "csrf": token})[0]


@pytest.fixture
def lan_page(site):
    """The page as a site puts it on its network: bound to every interface, no proxy in front."""
    set_web(site, host="0.0.0.0", hostnames=["parking.example.com"], public_url="https://lots.example.net/review")
    with WebServer(site.app(), "0.0.0.0", 0) as srv:
        yield srv


def test_another_sites_name_is_refused_and_its_guesses_lock_nobody_out(lan_page, caplog):
    port = lan_page.port
    attacker = Browserless(port, f"{EVIL}:{port}")
    status, body, headers = attacker.req("GET", "/login")
    assert status == 400, body  # 200 with the login form and its CSRF token before
    assert EVIL.encode() in body and b"web.hostnames" in body
    assert headers["x-content-type-options"] == "nosniff"  # inside the security headers
    for _ in range(5):  # login_max_failures is 3 in the test config
        assert attacker.login("not the password") == 400  # 401 and then 429 before: counted
    # staff behind the same address, in a browser that has not signed in before, get in
    assert Browserless(port, f"127.0.0.1:{port}").login(PASSWORD) == 303
    assert sum(f"host name {EVIL} refused" in r.getMessage() for r in caplog.records) == 1  # said once, not a request


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "[::1]:{port}", "localhost:{port}", "LOCALHOST.",
                                  "parking.example.com", "Parking.Example.com.:{port}", "lots.example.net",
                                  "{hostname}", "{short}.local:{port}", "192.0.2.7:{port}", None])
def test_the_devices_own_names_and_addresses_are_answered(lan_page, host):
    given = socket.gethostname()
    sent = host.format(port=lan_page.port, hostname=given, short=given.split(".")[0]) if host else None
    with socket.create_connection(("127.0.0.1", lan_page.port), timeout=10) as s:
        # HTTP/1.0 without a Host when ``host`` is None: no browser sends that
        s.sendall(b"GET /login HTTP/1.0\r\n" + (f"Host: {sent}\r\n".encode() if sent else b"") + b"\r\n")
        status_line = s.makefile("rb").readline()
    assert status_line.split()[1] == b"200", status_line


@pytest.mark.parametrize("web", [{"host": "127.0.0.1"}, {"host": "0.0.0.0", "trusted_proxies": ["127.0.0.1"]}])
def test_behind_a_proxy_the_proxy_answers_for_names(site, web):
    """Bound to loopback (a proxy beside it) or with trusted proxies, the name is the proxy's to check: a proxy
    passing its public name on (Caddy does by default) must not meet a 400 after an upgrade."""
    set_web(site, **web)
    with WebServer(site.app(), web["host"], 0, trusted_proxies=web.get("trusted_proxies")) as srv:
        assert Browserless(srv.port, "parking.somewhere-else.example").req("GET", "/login")[0] == 200


def test_over_tls_the_certificate_answers_for_names(site, tmp_path):
    """With ``web.tls`` a browser sent to another site's name refuses the page's certificate before any request;
    staff reach the page by the certificate's names, which are not repeated in ``web.hostnames``."""
    cert_file, key_file = make_cert(tmp_path / "tls")
    set_web(site, host="0.0.0.0", port=0, tls={"cert_file": str(cert_file), "key_file": str(key_file)})
    srv = build_web(load_config(site.config_path), site.store, site.log, site.control, site.lists, site.bus,
                    site.clock, site.config_path)
    with srv, socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw, \
            pinned(cert_file).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /login HTTP/1.1\r\nHost: parking.by-its-certificate.example\r\nConnection: close\r\n\r\n")
        assert tls.makefile("rb").readline().split()[1] == b"200"


@pytest.mark.parametrize("bad", ["has space.example", "a/b", "-lead.example", "x..y", "ünï.example", ""])
def test_hostnames_are_host_names(site, bad):
    set_web(site, hostnames=[bad])
    with pytest.raises(ConfigError) as err:
        load_config(site.config_path)
    assert "web.hostnames" in str(err.value.problems)


@pytest.mark.browser
def test_a_rebound_name_in_chromium_reads_nothing(lan_page):
    """The attack as a browser makes it: a document of the attacker's origin (served by the route below, as the
    attacker's server served it before the name was pointed at the device), its fetches resolved to the page."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    port = lan_page.port
    origin = f"http://{EVIL}:{port}"
    script = """async () => {
        const form = await fetch('/login');
        const text = await form.text();
        const m = text.match(/name="csrf" value="([^"]+)"/);
        const body = new URLSearchParams({username: 'admin', password: 'guess', csrf: m ? m[1] : ''});
        const guess = await fetch('/login', {method: 'POST', body, redirect: 'manual'});
        return [form.status, !!m, guess.status];
    }"""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            f"--host-resolver-rules=MAP {EVIL} 127.0.0.1", LNA_OFF])
        try:
            page = browser.new_page()
            page.route(f"{origin}/attack.html", lambda route: route.fulfill(
                status=200, content_type="text/html", body="<!doctype html><title>cute cats</title>"))
            page.goto(f"{origin}/attack.html")
            form, token_read, guess = page.evaluate(script)
        finally:
            browser.close()
    assert (form, token_read, guess) == (400, False, 400)  # (200, True, 401) before: the form read, a guess made


def test_names_said_are_bounded(caplog):
    """One warning per refused name, for the first ``SAID_MAX`` names; a flood of made-up names neither writes a line
    each nor grows the memory of which were said."""
    import asyncio

    check = HostCheck(lambda *a: None, frozenset({"localhost"}))
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def flood() -> None:
        for i in range(SAID_MAX + 500):
            scope = {"type": "http", "client": ("192.0.2.9", 4000), "headers": [(b"host", f"n{i}.example".encode())],
                     "method": "GET", "path": "/login"}
            await check(scope, None, send)

    with caplog.at_level(logging.WARNING, logger="edge_agent.web.hosts"):
        asyncio.run(flood())
    assert sum(m.get("status") == 400 for m in sent) == SAID_MAX + 500
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == SAID_MAX
    assert len(check._said) == SAID_MAX


@pytest.mark.parametrize("host", ["edge-agent:{port}", "JETSON", "parking-cam.lan:{port}", "jetson-2.local",
                                  "cam.home.arpa", "pole-3.internal.", "parking-cam.home", "cam.localdomain"])
def test_names_no_public_dns_serves_are_answered(lan_page, host):
    """An attacker's page is served under a name the public DNS resolves (the victim's browser looked it up to load
    the script), and that name is the ``Host`` a rebound request sends. A single-label name (a compose service,
    ``edge-agent``; a bare router name) or one under a suffix no public DNS serves (``.local``, ``.lan``,
    ``.home.arpa``, ``.internal``…) cannot be such a name: refusing them gave a 400 after the upgrade to the
    router's DNS name, an mDNS name Avahi renamed (``jetson-2.local``) and a scraper in the next container."""
    with socket.create_connection(("127.0.0.1", lan_page.port), timeout=10) as s:
        s.sendall(f"GET /login HTTP/1.1\r\nHost: {host.format(port=lan_page.port)}\r\nConnection: close\r\n\r\n"
                  .encode())
        status_line = s.makefile("rb").readline()
    assert status_line.split()[1] == b"200", status_line


@pytest.mark.parametrize("host", ["lan.attacker.example", "local.attacker.example", "jetson.attacker.example",
                                  "evil.local.attacker.example", "attacker.lan.example"])
def test_a_public_name_ending_like_a_local_one_is_still_refused(lan_page, host):
    assert Browserless(lan_page.port, host).req("GET", "/login")[0] == 400


def test_the_refusal_says_the_address_to_open_and_the_log_that_a_restart_applies_the_list(lan_page, caplog):
    """Staff meeting the 400 under a name the list lacks are told a URL that works now (the address their request
    reached), and the operator that ``web.hostnames`` is read at start (``web`` changes need a restart)."""
    status, body, _ = Browserless(lan_page.port, f"parking.not-listed.example:{lan_page.port}").req("GET", "/login")
    assert status == 400
    assert f"http://127.0.0.1:{lan_page.port}/".encode() in body, body
    said = [r.getMessage() for r in caplog.records if "parking.not-listed.example" in r.getMessage()]
    assert len(said) == 1 and "restart" in said[0], said


def test_with_trusted_proxies_a_browser_reaching_the_page_directly_is_still_checked(site):
    """A proxy on another host needs the page on the network (``0.0.0.0``) and its address in ``trusted_proxies``.
    The proxy answers for the names it is reached by, but a rebound browser goes to the page's own port, past the
    proxy: until 2026-12-06 ``trusted_proxies`` switched the check off for every request, and the rebinding attack
    worked there as before it. Now only a request whose connection comes from a trusted proxy is let through
    whatever its ``Host`` — also where uvicorn took the visitor's address from its ``X-Forwarded-For``."""
    set_web(site, host="0.0.0.0", trusted_proxies=["192.0.2.1"])  # the proxy is elsewhere: 127.0.0.1 is a browser
    with WebServer(site.app(), "0.0.0.0", 0, trusted_proxies=["192.0.2.1"]) as srv:
        status, body, _ = Browserless(srv.port, EVIL).req("GET", "/login")
        assert status == 400, body  # 200 before: the check was off
    set_web(site, host="0.0.0.0", trusted_proxies=["127.0.0.1"])  # now 127.0.0.1 is the proxy
    with WebServer(site.app(), "0.0.0.0", 0, trusted_proxies=["127.0.0.1"]) as srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/login", headers={"Host": "parking.somewhere-else.example",
                                            "X-Forwarded-For": "198.51.100.7"})  # the visitor, as Caddy says it
        r = c.getresponse()
        assert r.status == 200, r.read()
        c.close()
