"""An endpoint's answer cannot hold a sink or fill memory: it is cut at ``ANSWER_MAX_BYTES`` and must
arrive whole within the sink's timeout (httpx's own timeout is per read, so a trickle beat it).
Real loopback servers; the trickle is paced by the test's clock, not by sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from edge_agent.notify.messages import Request
from edge_agent.notify.transport import ANSWER_MAX_BYTES, httpx_post


def serve(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                answer(self)
            except OSError:
                pass  # the client hung up: what these tests want

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def request(url: str) -> Request:
    return Request(url, b"{}", {"Content-Type": "application/json", "X-Event-Id": "e1"})


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False) as c:
        yield c


def test_a_huge_answer_is_cut_and_not_read_to_the_end(client):
    total, written = 64 << 20, [0]

    def huge(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(total))
        h.end_headers()
        chunk = b"y" * (1 << 16)
        while written[0] < total:
            h.wfile.write(chunk)
            written[0] += len(chunk)

    for url in serve(huge):
        answer = httpx_post(client, lambda: 0.0)(request(url), 5.0)
        assert answer.status == 200 and len(answer.text) == ANSWER_MAX_BYTES
    assert written[0] < total // 2  # the connection was dropped, not drained (loopback buffers take a few MB)


def test_an_answer_trickling_past_the_timeout_is_a_timeout(client):
    step = threading.Semaphore(0)
    now = [0.0]

    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(100):  # one byte per look at the clock: each read beats httpx's per-read timeout
            h.wfile.write(b"x")
            h.wfile.flush()
            if not step.acquire(timeout=5):
                return

    def monotonic() -> float:
        step.release()
        now[0] += 0.4
        return now[0]

    for url in serve(trickle):
        with pytest.raises(TimeoutError, match="no whole answer in 1 s"):
            httpx_post(client, monotonic)(request(url), 1.0)
        for _ in range(100):
            step.release()  # let the server's handler finish
    assert now[0] < 5  # gave up after a few bytes, not after all 100
