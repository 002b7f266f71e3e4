"""Idle or half-sent connections cannot eat the agent's file descriptors (over real TCP, real uvicorn).

Before: uvicorn kept a connection that never finished its request open for ever, so ~1,000 idle
sockets from one host used up a systemd service's 1,024 descriptors: the camera could no longer
open a frame, the watchdog stopped, and asyncio logged every refused accept (140 MB in 90 s).
"""

from __future__ import annotations

import re
import socket
import time

import h11
import httpx
import pytest

from edge_agent.web.connections import PER_CLIENT
from edge_agent.web.server import WebServer

GET = b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n"


def connect(srv: WebServer, source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5, source_address=(source, 0))
    s.settimeout(5)
    return s


def closed_by_server(s: socket.socket) -> bool:
    """True when the server closed (or reset) the connection; a timeout means it is still held open."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def answers(s: socket.socket) -> bool:
    s.sendall(GET)
    try:
        return s.recv(12).startswith(b"HTTP/1.1 200")
    except (ConnectionResetError, TimeoutError):
        return False


def test_a_client_holds_at_most_its_share_of_connections(site):
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        held = [connect(srv) for _ in range(PER_CLIENT)]
        extra = connect(srv)
        assert closed_by_server(extra)  # one over the share: closed at once, no request read
        other = connect(srv, "127.0.0.2")  # another address still gets in
        assert answers(other) and answers(held[0])
        for s in held:
            s.close()
        deadline = time.monotonic() + 10  # the server notices the closes as they arrive
        while time.monotonic() < deadline:
            with connect(srv) as again:
                if answers(again):
                    break
        else:
            raise AssertionError("connections were not given back after the client closed them")
        other.close()


PARTIAL = b"GET /login HTTP/1.1\r\nHost: edge\r\n"  # a request whose end has not come (yet)


def test_all_clients_together_are_bounded(site):
    """When every connection is taken, a newcomer gets in by closing the one that has waited longest for its
    request; one being answered is never closed for it, and then the newcomer is."""
    with WebServer(site.app(), "127.0.0.1", 0, max_connections=4) as srv:
        held = [connect(srv, f"127.0.0.{i}") for i in range(2, 6)]
        for s in held:
            s.sendall(PARTIAL)
        newcomer = connect(srv, "127.0.0.9")
        assert answers(newcomer)
        assert closed_by_server(held[0])  # the longest waiting made room
        held[1].sendall(b"\r\n")  # the others were kept: their requests end and are answered
        assert held[1].recv(12).startswith(b"HTTP/1.1 200")
        for s in held + [newcomer]:
            s.close()


def test_slow_requests_from_many_addresses_do_not_keep_staff_out(site):
    """A host with 7 addresses (IPv4 aliases; IPv6 gives one host a /64 of them) trickling requests held all 100
    connections, each for the 20 s a request may take and again at once: every other client was reset at accept
    (curl: ``000``, exit 56), the page was gone for the staff for as long as the host kept at it."""
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        slow = []
        for i in range(2, 9):
            for _ in range(PER_CLIENT - 1):
                s = connect(srv, f"127.0.0.{i}")
                s.sendall(PARTIAL)
                slow.append(s)
        assert len(slow) == 105  # over the 100: the five last made room for themselves
        with connect(srv) as staff:
            assert answers(staff)
        with connect(srv) as staff:  # and again, while the slow ones still hold the rest
            assert answers(staff)
        assert closed_by_server(slow[0]) and closed_by_server(slow[5])  # the 5 over, then the first staff
        slow[-1].sendall(b"\r\n")  # the newest slow request was kept: it is answered once whole
        assert slow[-1].recv(12).startswith(b"HTTP/1.1 200")
        for s in slow:
            s.close()


def pipelined_unread(srv: WebServer, source: str, path: str = "/login", count: int = 200) -> socket.socket:
    """A client that sends ``count`` requests at once and reads none of the answers."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((source, 0))
    s.connect(("127.0.0.1", srv.port))
    s.setblocking(False)
    try:
        s.send(f"GET {path} HTTP/1.1\r\nHost: edge\r\n\r\n".encode() * count)
    except BlockingIOError:
        pass
    return s


def test_clients_that_never_read_their_answers_do_not_keep_others_out(site):
    """Pipelined requests whose answers are never read keep every connection busy with a request in hand, none of
    them waiting: 7 addresses doing so held all 100 for good (still at 35 s), and every other client was reset
    at accept. A full server now takes one from the client holding the most, if it holds more than the
    newcomer would."""
    with WebServer(site.app(), "127.0.0.1", 0, max_connections=8) as srv:
        flood = [pipelined_unread(srv, f"127.0.0.{2 + i % 2}", "/static/vendor/echarts/echarts.min.js", 20)
                 for i in range(8)]
        conns = srv._server.server_state.connections
        deadline = time.monotonic() + 20
        while sum(1 for c in list(conns) if c.conn.their_state == h11.DONE) < 8:  # each has its request in hand
            assert time.monotonic() < deadline, "the flood's requests did not arrive"
        with connect(srv) as staff:
            assert answers(staff)
        with connect(srv, "127.0.0.2") as more:  # one of the flooding addresses gets no more than its share
            assert closed_by_server(more) or answers(more)
        for s in flood:
            s.close()


def test_a_full_server_of_requests_in_hand_gives_a_newcomer_the_busiest_clients_place():
    """Every connection has a request being answered (none waits on its client): the client holding the most
    gives one up to a newcomer holding fewer (an IPv6 host counted by its /64, as the login limits count it)."""
    import threading

    from fastapi import FastAPI

    app, release = FastAPI(), threading.Event()

    @app.get("/slow")
    def slow() -> str:
        release.wait(30)
        return "late"

    @app.get("/login")
    def quick() -> str:
        return "ok"

    with WebServer(app, "127.0.0.1", 0, max_connections=6) as srv:
        busy = []
        for i in range(6):
            s = connect(srv, f"127.0.0.{2 + i // 4}")  # 4 from .2, 2 from .3
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: edge\r\n\r\n")
            busy.append(s)
        conns = srv._server.server_state.connections
        deadline = time.monotonic() + 20
        while sum(1 for c in list(conns) if c.conn.their_state == h11.DONE) < 6:
            assert time.monotonic() < deadline, "the slow requests did not arrive"
        try:
            with connect(srv) as newcomer:
                assert answers(newcomer)
                held = [c.client[0] for c in list(conns) if c.client[0] != "127.0.0.1" and not c.transport.is_closing()]
                assert sorted(held) == ["127.0.0.2"] * 3 + ["127.0.0.3"] * 2  # the busiest gave one up
        finally:
            release.set()
            for s in busy:
                s.close()


def test_an_answer_the_client_stops_taking_ends_its_connection(site):
    """A client that stops reading (its buffers full, the server's send paused) held its connection for good
    once its request was whole; now it must take some of its answer within the request timeout."""
    with WebServer(site.app(), "127.0.0.1", 0, request_timeout_s=0.3) as srv:
        stuck = pipelined_unread(srv, "127.0.0.2", "/static/vendor/echarts/echarts.min.js", 20)  # 20 MB unread
        conns = srv._server.server_state.connections

        def stalled() -> bool:
            return any(c.client and c.client[0] == "127.0.0.2" and c.flow.write_paused for c in list(conns))

        deadline = time.monotonic() + 20
        while not stalled():  # its first answer fills the buffers: the server waits on the client
            assert time.monotonic() < deadline, "the client's buffers never filled"
            with connect(srv) as fine:  # a request of another client paces the look
                assert answers(fine)
        while stalled():
            assert time.monotonic() < deadline, "a connection whose answer is not taken was kept"
            with connect(srv) as fine:  # others are answered meanwhile
                assert answers(fine)
        stuck.close()


def test_a_trusted_proxy_is_not_held_to_one_clients_share(site):
    """Behind a reverse proxy every visitor arrives from the proxy's address."""
    with WebServer(site.app(), "127.0.0.1", 0, trusted_proxies=["127.0.0.0/8"]) as srv:
        held = [connect(srv) for _ in range(PER_CLIENT + 2)]
        assert answers(held[-1])
        for s in held:
            s.close()


def test_a_request_not_sent_in_time_is_closed(site):
    with WebServer(site.app(), "127.0.0.1", 0, request_timeout_s=0.3) as srv:
        silent = connect(srv)
        trickle = connect(srv)
        trickle.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n")  # and the rest never comes
        body = connect(srv)
        body.sendall(b"POST /login HTTP/1.1\r\nHost: edge\r\nContent-Length: 1000\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=")
        assert closed_by_server(silent) and closed_by_server(trickle)
        assert closed_by_server(body)  # headers whole, the body never completes
        with connect(srv) as fine:  # a whole request in time is answered as usual
            assert answers(fine)


def test_malformed_requests_are_one_warning_through_the_agents_log(site, caplog, capfd):
    """200 requests that are no HTTP (a scanner, a client speaking TLS to the plain port): uvicorn wrote
    "WARNING:  Invalid HTTP request received." for each, with its own stderr handler (no time, past the secret
    filter, the JSON format and the journal priority). Now the first is one warning through the agent's log."""
    import logging

    with caplog.at_level(logging.DEBUG):
        with WebServer(site.app(), "127.0.0.1", 0) as srv:
            for _ in range(200):
                with connect(srv) as s:
                    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
                    while s.recv(4096):  # its 400, then the close: the server has dealt with it
                        pass
            with connect(srv) as s:  # the server still answers
                assert answers(s)
    said = [r for r in caplog.records if r.name == "uvicorn.error" and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in said] == ["Invalid HTTP request received. (a client's request; more of these "
                                              "at debug)"]
    out, err = capfd.readouterr()
    assert "Invalid HTTP request" not in out + err


def dual_stack() -> bool:
    """Whether a socket bound to "::" here also takes IPv4 (Linux's default; not where IPv6 is off)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", 0))
            s.listen(1)
            socket.create_connection(("127.0.0.1", s.getsockname()[1]), timeout=2).close()
        return True
    except OSError:
        return False


def test_a_page_bound_to_both_ip_versions_knows_its_ipv4_proxy(site):
    """``web.host: "::"`` serves IPv4 and IPv6 on one socket, where an IPv4 proxy arrives as ``::ffff:127.0.0.1``:
    ``trusted_proxies: [127.0.0.1]`` did not match it, so every visitor behind the proxy was the proxy (one
    per-address login limit for all, audited as ``::ffff:127.0.0.1``) and shared its 16 connections."""
    if not dual_stack():
        pytest.skip("no dual-stack IPv6 socket on this machine")
    with WebServer(site.app(), "::", 0, trusted_proxies=["127.0.0.1"]) as srv:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}") as c:
            tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            for visitor in ("198.51.100.7", "198.51.100.8"):
                r = c.post("/login", data={"username": "admin", "password": "wrong", "csrf": tok},
                           headers={"X-Forwarded-For": visitor})
                assert r.status_code == 401
        assert [a["ip"] for a in site.log.audit_entries()[:2]] == ["198.51.100.8", "198.51.100.7"]
        held = [connect(srv) for _ in range(PER_CLIENT + 2)]
        assert answers(held[-1])  # the proxy carries every visitor: only the total bounds it
        for s in held:
            s.close()
