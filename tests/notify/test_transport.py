"""One deadline for the whole attempt: a resolver that never answers, or an endpoint trickling its
status line and headers, cannot hold a sink past ``timeout_s``. Real loopback servers; the
resolver is the system's ``socket.getaddrinfo`` held back by the test, or an injected one."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.notify.messages import Request
from edge_agent.notify.service import NotifyService
from edge_agent.notify.transport import DeadlineBackend, deadline_client, httpx_post, interleave
from tests.notify.helpers import config, violation

NAME = "hooks.plaza-7.example"


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy named on the test machine would take the sinks off the deadline client (as it should)."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def held_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """``socket.getaddrinfo`` that does not answer for NAME until the test sets the event (then: loopback)."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - socket's signature
        if host == NAME:
            release.wait(10)
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


def test_a_hung_name_lookup_ends_at_the_sinks_timeout(tmp_path, receiver, held_resolver):
    """Before: the lookup had no bound but the resolver's own; the sink's thread waited for it."""
    port = receiver.server.server_address[1]
    cfg = config(tmp_path, [{"name": "a", "kind": "webhook", "url": f"http://{NAME}:{port}/hook", "timeout_s": 0.3}])
    clock = FakeClock()
    svc = NotifyService(cfg, bus := EventBus(), clock)
    (d,) = svc.open()
    try:
        bus.publish(ev := violation(clock))
        wait = d.pump()
        assert not held_resolver.is_set() and receiver.requests == []  # gave up while the lookup still hangs
        assert wait == 2 and f"name lookup of {NAME} unanswered after 0.3 s" in d.last_error
        held_resolver.set()
        clock.advance(wait)
        d.pump()  # the resolver answers now: sent to its address, with the name as Host
    finally:
        svc.stop()
    assert receiver.order == [ev.event_id] and receiver.requests[0].headers["host"] == f"{NAME}:{port}"


def test_unanswered_lookups_are_bounded_and_freed_when_they_answer():
    release = threading.Event()

    def resolve(host: str, port: int) -> list[str]:
        release.wait(10)
        return ["127.0.0.1"]

    backend = DeadlineBackend(lambda: 0.0, resolve, max_lookups=2)
    with backend.until(0.05):
        for _ in range(2):
            with pytest.raises(httpcore.ConnectTimeout, match="unanswered after 0.05 s"):
                backend.connect_tcp("a.example", 9, timeout=5)
        with pytest.raises(httpcore.ConnectError, match="2 name lookups still unanswered"):
            backend.connect_tcp("a.example", 9, timeout=5)  # no third thread
    assert backend.lookups_running == 2
    release.set()
    for t in [t for t in threading.enumerate() if t.name == "notify-dns-a.example"]:
        t.join(5)
    assert backend.lookups_running == 0


def test_one_names_hung_lookups_do_not_take_the_slots_of_another(receiver):
    """Before: the slots were shared by every sink: a robot's internet name hanging (the uplink down) left
    ``MAX_LOOKUPS`` threads behind, and the LAN backend, whose name answers at once, failed at every attempt
    ("4 name lookups still unanswered") though nothing was wrong with it."""
    release = threading.Event()
    port = receiver.server.server_address[1]

    def resolve(host: str, port: int) -> list[str]:
        if host == "oapi.dingtalk.com":
            release.wait(10)
        return ["127.0.0.1"]

    backend = DeadlineBackend(lambda: 0.0, resolve, max_lookups=2)
    try:
        with backend.until(0.05):
            for _ in range(2):
                with pytest.raises(httpcore.ConnectTimeout, match="unanswered after 0.05 s"):
                    backend.connect_tcp("oapi.dingtalk.com", 443, timeout=5)
            with pytest.raises(httpcore.ConnectError, match="2 name lookups still unanswered"):
                backend.connect_tcp("oapi.dingtalk.com", 443, timeout=5)
        with backend.until(5.0):
            backend.connect_tcp("backend.plaza-7.lan", port, timeout=5).close()  # its own name: looked up
    finally:
        release.set()
    for t in [t for t in threading.enumerate() if t.name.startswith("notify-dns-")]:
        t.join(5)
    assert backend.lookups_running == 0


def test_a_lookup_thread_that_cannot_start_frees_its_slot(monkeypatch: pytest.MonkeyPatch):
    """A Pi out of memory or threads: ``Thread.start`` raises. Before, the slot stayed counted (after
    ``MAX_LOOKUPS`` of them every lookup failed until a restart) and a RuntimeError, no transport error,
    left ``httpx_post``."""
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("notify-dns-"):
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    backend = DeadlineBackend(lambda: 0.0, lambda host, port: ["127.0.0.1"], max_lookups=1)
    with backend.until(5.0):
        for _ in range(2):
            with pytest.raises(httpcore.ConnectError, match="can't start new thread"):
                backend.connect_tcp("a.example", 9, timeout=5)
    assert backend.lookups_running == 0


class NoContent(BaseHTTPRequestHandler):
    """An endpoint that takes every POST: 204."""

    def log_message(self, *a: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_next_address_is_tried_when_one_refuses():
    for port in serve(NoContent):
        client, backend = deadline_client(lambda: 0.0, lambda host, p: ["127.0.0.2", "127.0.0.1"])  # .2: refused
        with client:
            answer = httpx_post(client, lambda: 0.0, backend=backend)(
                Request(f"http://{NAME}:{port}/hook", b"{}", {"X-Event-Id": "e1"}), 2.0)
        assert answer.status == 204


def blackhole(host: str, port: int) -> list[socket.socket]:
    """A listener on ``host:port`` whose backlog is full, so a connect's SYN is dropped: an address that does
    not answer (a broken route). Empty when this kernel answers such a connect after all (then: skip)."""
    hole = socket.socket()
    hole.bind((host, port))
    hole.listen(0)
    held = [hole]
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        held.append(s)
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect((host, port))
    except TimeoutError:
        return held + [probe]
    except OSError:
        pass
    for s in held + [probe]:
        s.close()
    return []


def test_an_address_that_does_not_answer_leaves_time_for_the_next():
    """Before: the first address (a broken IPv6 route under a dual-stack name, here a dropped SYN) took the
    whole deadline and every attempt failed, though the next address answered at once."""
    for port in serve(NoContent):
        held = blackhole("127.0.0.2", port)
        if not held:
            pytest.skip("this kernel does not drop a connect to a full backlog")
        try:
            client, backend = deadline_client(time.monotonic, lambda host, p: ["127.0.0.2", "127.0.0.1"])
            with client:
                answer = httpx_post(client, time.monotonic, backend=backend)(
                    Request(f"http://{NAME}:{port}/hook", b"{}", {"X-Event-Id": "e1"}), 2.5)
            assert answer.status == 204
        finally:
            for s in held:
                s.close()


def test_address_families_alternate_as_rfc_8305_asks():
    v6, v4 = ["2001:db8::1", "2001:db8::2", "fe80::1%eth0"], ["192.0.2.1", "192.0.2.2"]
    assert interleave(v6 + v4) == ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "fe80::1%eth0"]
    assert interleave(v4 + v6) == ["192.0.2.1", "2001:db8::1", "192.0.2.2", "2001:db8::2", "fe80::1%eth0"]
    assert interleave(["127.0.0.2", "127.0.0.1"]) == ["127.0.0.2", "127.0.0.1"] and interleave([]) == []


def test_headers_trickling_past_the_timeout_are_a_timeout():
    """Before: the deadline was looked at only between chunks of the body; an endpoint sending its
    status line and headers a byte at a time (each read within httpx's per-read timeout) held the sink."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"p" * 60 + b"\r\nContent-Length: 2\r\n\r\n{}"
    step, written, now = threading.Semaphore(0), [0], [0.0]

    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                for byte in head:  # a byte per look at the client's clock (or every 0.2 s without one)
                    step.acquire(timeout=0.2)
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    written[0] += 1
            except OSError:
                pass  # the client hung up: what this test wants
            self.close_connection = True

    def monotonic() -> float:
        step.release()
        now[0] += 0.1
        return now[0]

    for port in serve(Trickle):
        client, backend = deadline_client(monotonic)
        with client, pytest.raises(TimeoutError, match="no answer in 1 s"):
            httpx_post(client, monotonic, backend=backend)(Request(f"http://127.0.0.1:{port}/h", b"{}", {}), 1.0)
    assert written[0] < 20 < len(head)  # gave up a few bytes into the status line, as the clock said


def test_tls_checks_the_name_from_the_url_not_the_address_it_resolved_to(tmp_path):
    """The connection goes to the looked-up address; SNI and the certificate check must still use the name."""
    if not shutil.which("openssl"):
        pytest.skip("openssl makes the test certificate")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem",
                    "-days", "2", "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"],
                   cwd=tmp_path, check=True, capture_output=True)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    class Ok(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    server.socket = server_side.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    port = server.server_address[1]
    client, backend = deadline_client(lambda: 0.0, lambda host, p: ["127.0.0.1"],
                                      ssl.create_default_context(cafile=tmp_path / "c.pem"))
    post = httpx_post(client, lambda: 0.0, backend=backend)
    try:
        assert post(Request(f"https://{NAME}:{port}/hook", b"{}", {}), 5.0).text == "ok"
        with pytest.raises(ConnectionError, match="certificate"):  # same address, a name the certificate lacks
            post(Request(f"https://other.plaza-7.example:{port}/hook", b"{}", {}), 5.0)
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def test_a_proxy_from_the_environment_is_still_used(receiver, monkeypatch):
    """httpx honours HTTP(S)_PROXY only without a custom transport: with one named, the sinks keep httpx's client."""
    monkeypatch.setenv("HTTP_PROXY", receiver.url.rsplit("/", 1)[0])  # the receiver plays the proxy
    client, backend = deadline_client(lambda: 0.0, lambda host, p: pytest.fail("looked up by the proxy, not here"))
    with client:
        answer = httpx_post(client, lambda: 0.0, backend=backend)(
            Request(f"http://{NAME}/hook", b"{}", {"X-Event-Id": "e1"}), 2.0)
    assert backend is None and answer.status == 200
    assert receiver.requests[0].headers["host"] == NAME and receiver.requests[0].path == "/hook"


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Condition, list[socket.socket]]]:
    """Takes connections and never answers (a peer that went dark mid-request)."""
    srv = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []
    cond = threading.Condition()

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with cond:
                taken.append(conn)
                cond.notify_all()

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1], cond, taken
    srv.close()
    for conn in taken:
        conn.close()


def test_stopping_ends_attempts_in_flight_instead_of_waiting_out_their_timeout(tmp_path, silent_server, caplog):
    """Before: stop() joined each sink's thread 5 s in turn (15 s for three, systemd's whole stop budget), then
    closed their outboxes under threads still waiting 60 s for an answer."""
    from edge_agent.clock import SystemClock
    from edge_agent.events.outbox import Outbox

    port, cond, taken = silent_server
    sinks = [{"name": f"s{i}", "kind": "webhook", "url": f"http://127.0.0.1:{port}/hook", "timeout_s": 60,
              "events": ["violation_started"]} for i in range(3)]
    clock = SystemClock()
    bus = EventBus()
    svc = NotifyService(config(tmp_path, sinks), bus, clock)
    svc.start()
    bus.publish(violation(FakeClock()))
    with cond:
        assert cond.wait_for(lambda: len(taken) == 3, 10), "the sinks did not connect"
    threads = list(svc._threads)
    svc.stop()
    assert not any(t.is_alive() for t in threads)
    assert "failed" not in caplog.text  # no thread tripped over a file closed under it
    for i in range(3):  # not delivered: still queued for the next start
        box = Outbox(tmp_path / "data" / f"notify-s{i}.sqlite")
        assert box.depth() == 1
        box.close()


def test_stopping_gives_up_a_name_lookup_that_is_still_waited_for(tmp_path, monkeypatch):
    real = socket.getaddrinfo
    asked, release = threading.Event(), threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - socket's signature
        if host == NAME:
            asked.set()
            release.wait(10)
        return real("127.0.0.1" if host == NAME else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    from edge_agent.clock import SystemClock

    cfg = config(tmp_path, [{"name": "s", "kind": "webhook", "url": f"http://{NAME}/hook", "timeout_s": 60,
                             "events": ["violation_started"]}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, SystemClock())
    svc.start()
    try:
        bus.publish(violation(FakeClock()))
        assert asked.wait(10)
        threads = list(svc._threads)
        svc.stop()
        assert not any(t.is_alive() for t in threads)
    finally:
        release.set()
