"""Per-client request rates on the costly paths (``web/ratelimit.py``), on the site's fake clock (no sleeps).

Before: one signed-in client could ask for snapshots as fast as it liked. 8 at a time from one address made 89
snapshots in 8 s on the dev machine, each a JPEG in the evidence and an audit row (and each, then, holding the
camera loop's lock while it was encoded and written: the loop waited 2.4 s for it).
"""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest

from edge_agent.web.connections import PER_CLIENT, bounded_h11
from edge_agent.web.ratelimit import RATES, SAY_EVERY_S
from edge_agent.web.server import WebServer
from tests.web.conftest import PASSWORD


def signed_in(url: str, source: str) -> tuple[httpx.Client, str]:
    """A browser signed in from ``source`` (a loopback address of its own), and its CSRF token."""
    c = httpx.Client(base_url=url, follow_redirects=False,
                     transport=httpx.HTTPTransport(local_address=source))
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 303
    return c, re.search(r'name="csrf" value="([^"]+)"', c.get("/bays").text).group(1)


def test_snapshots_past_a_clients_rate_get_429_and_take_no_picture(site, caplog):
    taken: list[str] = []
    take = site.control.snapshot
    site.control.snapshot = lambda bay_id: taken.append(take(bay_id)) or taken[-1]
    burst, per_s = RATES["camera"].burst, RATES["camera"].per_s
    with WebServer(site.app(), "127.0.0.1", 0) as srv, caplog.at_level(logging.WARNING, "edge_agent.web.ratelimit"):
        flooder, tok = signed_in(srv.url, "127.0.0.2")
        codes = [flooder.post("/bays/A1/snapshot", data={"csrf": tok}).status_code for _ in range(int(burst) + 5)]
        assert codes == [303] * int(burst) + [429] * 5
        assert len(taken) == burst  # the refused ones opened no camera
        r = flooder.post("/bays/A1/snapshot", data={"csrf": tok})
        assert r.status_code == 429 and r.headers["retry-after"] == str(int(1 / per_s))
        assert r.headers["x-content-type-options"] == "nosniff" and "请求过于频繁" in r.text
        assert flooder.get("/violations").status_code == 200  # pages are not counted
        staff, staff_tok = signed_in(srv.url, "127.0.0.3")  # another client has its own bucket
        assert staff.post("/bays/A1/snapshot", data={"csrf": staff_tok}).status_code == 303
        site.clock.advance(1 / per_s)  # one token back
        assert flooder.post("/bays/A1/snapshot", data={"csrf": tok}).status_code == 303
        assert flooder.post("/bays/A1/snapshot", data={"csrf": tok}).status_code == 429
        said = [r.getMessage() for r in caplog.records if r.name == "edge_agent.web.ratelimit"]
        assert len(said) == 1 and "127.0.0.2" in said[0]  # one line a minute, not one a request
        site.clock.advance(SAY_EVERY_S)
        for _ in range(int(burst) + 1):
            flooder.post("/bays/A1/snapshot", data={"csrf": tok})
        said = [r.getMessage() for r in caplog.records if r.name == "edge_agent.web.ratelimit"]
        assert len(said) == 2 and "(6 more refused since the last line)" in said[1], said
        for c in (flooder, staff):
            c.close()


@pytest.mark.parametrize(("path", "kind"), [("/evidence/x/frame.jpg", "image"), ("/violations.csv", "export"),
                                            ("/stats.csv", "export")])
def test_evidence_pictures_and_exports_are_limited_per_client(site, path, kind):
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        c, _ = signed_in(srv.url, "127.0.0.2")
        codes = [c.get(path).status_code for _ in range(int(RATES[kind].burst) + 1)]
        assert 429 not in codes[:-1] and codes[-1] == 429
        c.close()


def test_an_ipv6_host_is_one_client_by_its_64():
    """Each address of a /64 had a bucket of its own: a host rotating its addresses was never limited."""
    from edge_agent.clock import FakeClock
    from edge_agent.web.ratelimit import RateLimit

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 403, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited = RateLimit(app, FakeClock())

    async def post(client: str) -> int:
        transport = httpx.ASGITransport(limited, client=(client, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://edge") as c:
            return (await c.post("/login")).status_code

    async def run() -> tuple[list[int], int, int]:
        rotating = [await post(f"2001:db8:1:2::{i:x}") for i in range(int(RATES["login"].burst) + 1)]
        return rotating, await post("2001:db8:1:3::1"), await post("::ffff:192.0.2.7")

    rotating, other_net, v4 = asyncio.run(run())
    assert rotating[:-1] == [403] * int(RATES["login"].burst) and rotating[-1] == 429
    assert other_net == 403 and v4 == 403  # another /64, an IPv4 client: their own buckets


class _Transport(asyncio.Transport):
    """An accepted connection from ``peer``, as the protocol sees it (no IPv6 /64 of our own to connect from)."""

    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer, self.aborted = peer, False

    def get_extra_info(self, name, default=None):  # noqa: ANN001, ANN201
        return {"peername": (self.peer, 40000), "sockname": ("::", 8080)}.get(name, default)

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def close(self) -> None:
        self.aborted = True


def test_a_hosts_ipv6_addresses_share_one_clients_connections():
    """``per_client`` counted exact addresses while the login limits and the eviction counted an IPv6 host by its
    /64: a host with a /64 had 16 connections per address, and so all 100."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def app(scope, receive, send):  # never called: no request is sent
        raise AssertionError

    config, state = Config(app, log_level="warning"), ServerState()
    config.load()
    protocol = bounded_h11(request_timeout_s=5.0)

    async def accept(peers: list[str]) -> list[_Transport]:
        out = []
        for peer in peers:
            t = _Transport(peer)
            protocol(config=config, server_state=state, app_state={}).connection_made(t)
            out.append(t)
        return out

    async def run() -> tuple[list[_Transport], list[_Transport]]:
        same = await accept([f"2001:db8:1:2::{i:x}" for i in range(1, PER_CLIENT + 3)])
        other = await accept(["2001:db8:1:3::1", "::ffff:192.0.2.7"])
        for c in list(state.connections):
            c._disarm()
        return same, other

    same, other = asyncio.run(run())
    assert [t.aborted for t in same] == [False] * PER_CLIENT + [True, True]
    assert not any(t.aborted for t in other)


def test_an_accept_parses_one_address_however_many_connections_are_open(monkeypatch):
    """Each accept parsed the address of every open connection to count the newcomer's /64 (24 µs an IPv6
    address here): with 100 open, 2.4 ms of the interpreter per accept, which a flood of connections takes from the
    camera loop. The client's key is kept with its connection: one parse per accept."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from edge_agent.web import connections

    parsed: list[str] = []
    key = connections.address_key
    monkeypatch.setattr(connections, "address_key", lambda ip: parsed.append(ip) or key(ip))

    async def app(scope, receive, send):  # never called: no request is sent
        raise AssertionError

    config, state = Config(app, log_level="warning"), ServerState()
    config.load()
    protocol = bounded_h11(request_timeout_s=5.0)
    peers = [f"2001:db8:{n:x}::1" for n in range(70)] + ["2001:db8:0::2"] * (PER_CLIENT + 1)

    async def accept() -> list[_Transport]:
        out = []
        for peer in peers:
            t = _Transport(peer)
            protocol(config=config, server_state=state, app_state={}).connection_made(t)
            out.append(t)
        for c in list(state.connections):
            c._disarm()
        return out

    accepted = asyncio.run(accept())
    assert len(parsed) == len(peers)  # before: 3,900 (every open connection's, at every accept)
    assert [t.aborted for t in accepted] == [False] * (70 + PER_CLIENT - 1) + [True, True]  # the /64 still counts


def test_a_refusal_past_the_rate_is_in_the_users_language_and_the_installers_save_keeps_its_words(site):
    """The 429 was plain text in both languages for every client: the installer's Save (a fetch asking for JSON)
    showed "未保存: 429 Too Many Requests" (the browser's English status text, no word of when to retry, the drawing
    not kept for a reload), and a page opened past the rate was a text/plain screen. Now a browser gets the error
    page in its user's language and the Save the JSON its other refusals carry (``title``, ``message``), with
    Retry-After and the security headers as before; a script keeps the plain text."""
    from fastapi.testclient import TestClient

    from tests.web.test_api import HTML, token

    c = TestClient(site.app())
    assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token(c)},
                  follow_redirects=False).status_code == 303
    tok = token(c, "/bays")
    for _ in range(int(RATES["camera"].burst)):
        assert c.get("/installer").status_code == 200
    bays = [{"id": b["id"], "polygon": b["polygon"]} for b in c.app.state.ctx.cfg.model_dump()["bays"]]
    save = c.post("/installer", json={"bays": bays}, headers={"X-CSRF-Token": tok, "accept": "application/json"})
    assert save.status_code == 429 and save.headers["retry-after"] == str(int(1 / RATES["camera"].per_s))
    body = save.json()
    assert body["ok"] is False and body["status"] == 429 and body["title"] == "请求过于频繁"
    assert "2 秒" in body["message"] and "未做任何更改" in body["message"]
    page = c.get("/installer", headers=HTML)
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert "请求过于频繁" in page.text and "Too many" not in page.text
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["retry-after"] == "2"
    c.post("/lang", data={"lang": "en", "csrf": tok})
    save = c.post("/installer", json={"bays": bays}, headers={"X-CSRF-Token": tok, "accept": "application/json"})
    assert save.status_code == 429 and save.json()["title"] == "Too many requests"
    assert "Too many requests" in c.get("/installer", headers=HTML).text
    script = c.get("/installer")
    assert script.status_code == 429 and script.headers["content-type"].startswith("text/plain")
    assert site.control.reloads == []  # nothing was saved


@pytest.mark.parametrize(("path", "kind"), [("/evidence/x/frame.jpg", "image"), ("/stats.csv", "export"),
                                            ("/installer", "camera")])
def test_anyone_at_the_staffs_address_cannot_spend_the_staffs_rate(site, path, kind):
    """The buckets were the address's alone: anyone sharing it (one IPv4 behind a NAT, the office's /64 under
    SLAAC) sending requests without signing in — each a 401 — kept the signed-in staff at 429. Measured on the real
    agent over loopback: 1,100 such requests a second and the admin's evidence pictures were all 429. Requests
    that carry a signed-in session now draw on a bucket of their own."""
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        staff, _ = signed_in(srv.url, "127.0.0.2")
        anyone = httpx.Client(base_url=srv.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        codes = [anyone.get(path).status_code for _ in range(int(RATES[kind].burst) + 3)]
        assert codes[:-3] == [401] * int(RATES[kind].burst) and codes[-3:] == [429] * 3  # still limited
        assert staff.get(path).status_code != 429
        codes = [staff.get(path).status_code for _ in range(int(RATES[kind].burst))]
        assert codes[-1] == 429  # the staff's own bucket is still one: a signed-in flood is limited as before
        for c in (staff, anyone):
            c.close()


def test_a_login_flood_on_the_offices_64_leaves_a_known_browser_its_logins(site):
    """The per-name failure limit spares a browser that signed in before (``KnownDevices``), counting it by its own
    address, but the login bucket before it counted everyone on the /64 together: a neighbour on the office LAN
    sending 3 login posts a second (each refused unread) kept every member of staff at 429 for as long as it
    went on. A browser whose known-device cookie checks out now has a bucket of its own address; a forged cookie
    counts with the /64."""
    app = site.app()

    def client(address: str, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(address, 5000)),
                                 base_url="http://edge.example", follow_redirects=False, cookies=cookies)

    async def token(c: httpx.AsyncClient, path: str = "/login") -> str:
        return re.search(r'name="csrf" value="([^"]+)"', (await c.get(path)).text).group(1)

    async def run() -> tuple[list[int], int, int, int]:
        async with client("2001:db8:1:2::10") as staff:
            r = await staff.post("/login", data={"username": "admin", "password": PASSWORD,
                                                 "csrf": await token(staff)})
            assert r.status_code == 303 and "edge_known" in staff.cookies
            assert (await staff.post("/logout", data={"csrf": await token(staff, "/bays")})).status_code == 303
            forged = httpx.Cookies({"edge_known": "admin:" + "0" * 64})
            async with client("2001:db8:1:2::66") as neighbour, client("2001:db8:1:2::67", forged) as forger:
                flood = [(await neighbour.post("/login")).status_code for _ in range(int(RATES["login"].burst) + 1)]
                forged_code = (await forger.post("/login")).status_code
                other_code = (await neighbour.post("/login")).status_code
            r = await staff.post("/login", data={"username": "admin", "password": PASSWORD,
                                                 "csrf": await token(staff)})
            return flood, forged_code, other_code, r.status_code

    flood, forged_code, other_code, staff_code = asyncio.run(run())
    assert flood[0] == 403 and flood[-1] == 429  # no CSRF token: refused unread, then past the /64's rate
    assert forged_code == 429 and other_code == 429
    assert staff_code == 303


def test_a_known_browsers_cookie_cannot_rotate_ipv6_addresses_past_the_login_rate(site):
    """A known browser's login bucket was its own /128's: with one copied ``edge_known`` cookie a host took a fresh
    address of its /64 for each post and met no login rate at all (60 posts from 60 addresses, none refused),
    where everyone else on the /64 shares one bucket — each post a password check on a 2-core device. The bucket
    is now the /64's for that name: the known browsers of other names keep theirs."""
    app = site.app()

    def client(address: str, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(address, 5000)),
                                 base_url="http://edge.example", follow_redirects=False, cookies=cookies)

    async def run() -> list[int]:
        async with client("2001:db8:1:2::10") as staff:
            r = await staff.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": re.search(
                r'name="csrf" value="([^"]+)"', (await staff.get("/login")).text).group(1)})
            assert r.status_code == 303
            known = httpx.Cookies({"edge_known": staff.cookies["edge_known"]})
        codes = []
        for i in range(int(RATES["login"].burst) + 10):
            async with client(f"2001:db8:1:2::{i + 0x100:x}", known) as thief:
                codes.append((await thief.post("/login")).status_code)  # no CSRF token: refused unread
        return codes

    codes = asyncio.run(run())
    assert codes[0] == 403 and codes[-1] == 429, codes


def test_list_edits_past_a_clients_rate_get_429_and_write_nothing(site):
    """Each list edit rewrites ``overrides.yaml`` (and the agent's copy): one signed-in client alternating allow and
    deny on one violation wrote the file 82 times in 10 s over one connection (a real ``edge-agent review``)."""
    burst = int(RATES["lists"].burst)
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        c, tok = signed_in(srv.url, "127.0.0.2")
        before = len(site.control.list_calls)
        codes = [c.post("/violations/1/list", data={"which": ("allow", "deny")[i % 2], "csrf": tok}).status_code
                 for i in range(burst + 3)]
        assert codes == [303] * burst + [429] * 3
        assert len(site.control.list_calls) - before == burst
        site.clock.advance(1 / RATES["lists"].per_s)
        assert c.post("/violations/1/list", data={"which": "allow", "csrf": tok}).status_code == 303
        c.close()


def signed_in_as(url: str, source: str, name: str) -> tuple[httpx.Client, str]:
    """``signed_in`` for another user."""
    c = httpx.Client(base_url=url, follow_redirects=False, transport=httpx.HTTPTransport(local_address=source))
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": name, "password": PASSWORD, "csrf": tok}).status_code == 303
    return c, re.search(r'name="csrf" value="([^"]+)"', c.get("/violations").text).group(1)


@pytest.mark.parametrize(("kind", "path", "form"), [
    ("lists", "/violations/1/list", lambda i: {"which": ("allow", "deny")[i % 2]}),
    ("decide", "/violations/1/decide", lambda i: {"decision": ("confirmed", "open")[i % 2]})])
def test_list_edits_and_decisions_are_limited_per_user_not_per_address(site, kind, path, form):
    """Two reviewers behind one address (an office's NAT) shared one ``lists`` bucket: one listing plates kept the
    other at 429 (attacker35, review68). And decisions had no limit at all: each a write of the log and an audit row.
    Now each is counted per signed-in user: a second session of the same user shares that user's bucket (signing
    in again gives no fresh one), another user behind the same address has their own."""
    from edge_agent.web.auth import UsersFile

    UsersFile(site.root / "users.txt").set("reviewer2", PASSWORD, "reviewer")
    burst = int(RATES[kind].burst)
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        first, tok = signed_in(srv.url, "127.0.0.2")
        again, tok_again = signed_in(srv.url, "127.0.0.2")  # the same user in a second browser
        other, tok_other = signed_in_as(srv.url, "127.0.0.2", "reviewer2")  # another reviewer, same address
        codes = [first.post(path, data={**form(i), "csrf": tok}).status_code for i in range(burst + 2)]
        assert codes == [303] * burst + [429] * 2
        assert again.post(path, data={**form(1), "csrf": tok_again}).status_code == 429
        assert other.post(path, data={**form(0), "csrf": tok_other}).status_code == 303
        for c in (first, again, other):
            c.close()


@pytest.mark.parametrize(("kind", "path", "form"), [
    ("lists", "/violations/1/list", {"which": "deny"}),
    ("decide", "/violations/1/decide", {"decision": "confirmed"})])
def test_posts_no_one_signed_in_for_spend_no_users_bucket(site, kind, path, form):
    """A user's bucket is spent only by that user's own checked posts (review76). A forged post carrying the
    reviewer's cookie but no CSRF token is refused before the count. And a client behind a trusted proxy names
    itself in X-Forwarded-For, any text: named ``user:admin`` its anonymous posts drew on the address bucket of that
    name, which was the user admin's (one dict for both), and kept admin at 429 without a password."""
    burst = int(RATES[kind].burst)
    with WebServer(site.app(), "127.0.0.1", 0, trusted_proxies=["127.0.0.0/8"]) as srv:
        admin, tok = signed_in(srv.url, "127.0.0.2")
        for _ in range(burst + 2):
            assert admin.post(path, data=form).status_code == 403  # no token: a forged post
        with httpx.Client(base_url=srv.url) as anon:
            codes = {anon.post(path, data=form, headers={"X-Forwarded-For": "user:admin"}).status_code
                     for _ in range(burst + 2)}
            assert 429 in codes <= {401, 429}  # the anonymous bucket of the name it gave emptied
        assert admin.post(path, data={**form, "csrf": tok}).status_code == 303
        admin.close()


def test_many_partly_spent_buckets_are_swept_now_and_then_not_at_every_request():
    """Over SWEEP_AT clients each seen within its refill (10,001 /64s, or names a proxy forwards, posting once):
    every request rebuilt the whole table under the limiter's lock (review76), 11 ms a request here against 2 µs.
    A sweep now comes once the table has doubled since the last; the spent buckets are never forgotten."""
    from edge_agent.clock import FakeClock
    from edge_agent.web.auth import SWEEP_AT
    from edge_agent.web.ratelimit import TokenBuckets

    class Counted(dict):  # a sweep looks up each bucket's rate: the lookups count the buckets visited
        looked = 0

        def __getitem__(self, kind: str):  # noqa: ANN204
            Counted.looked += 1
            return super().__getitem__(kind)

    clock = FakeClock()
    buckets = TokenBuckets(clock)
    buckets.rates = Counted(buckets.rates)
    for i in range(SWEEP_AT + 1):
        buckets.take("lists", f"2001:db8:{i:x}::/64")  # 19 of 20 left: full again in 5 s
    Counted.looked = 0
    for _ in range(1000):
        buckets.take("image", "192.0.2.1")
    assert Counted.looked < 1000 + 3 * SWEEP_AT  # one sweep at most (1,000 sweeps before: 20 million lookups)
    assert len(buckets._buckets) == SWEEP_AT + 2  # none forgotten: each still 19 of 20
    for _ in range(int(RATES["lists"].burst) - 1):
        assert buckets.take("lists", "2001:db8:0::/64") == 0.0
    assert buckets.take("lists", "2001:db8:0::/64") > 0  # the first client's bucket kept its spending
    clock.advance(10)  # the others full again: the next sweep forgets them
    for i in range(SWEEP_AT + 3):
        buckets.take("image", f"198.51.{i // 256}.{i % 256}")
    assert [k for k in buckets._buckets if k[0] == "lists"] == [("lists", "2001:db8:0::/64")]  # 2 of 20 refilled
