"""A real HTTP receiver on loopback that can be told to fail, hang past the client's timeout, or
answer like a WeCom / DingTalk robot, or play a script of answers (status, headers, body); it records
every request and de-duplicates by X-Event-Id."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str | None:
        return self.headers.get("x-event-id")


@dataclass
class Receiver:
    mode: str = "ok"  # ok | fail | hang | robot_busy | echo (404 quoting the request line, as some proxies do)
    #                   | echo_headers (422 quoting the request's headers, as a debugging receiver does)
    hang_s: float = 0.6
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)  # answered first, in turn
    rule: Callable[[Received], tuple[int, dict[str, str], bytes] | None] | None = None  # answers as is, if not None
    requests: list[Received] = field(default_factory=list)
    unique: dict[tuple[str, str], Received] = field(default_factory=dict)  # (path, id): what a deduping consumer keeps
    order: list[str] = field(default_factory=list)
    taken: int = 0  # requests taken in (answered 200, or answered too late)
    lock: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> Receiver:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                r = Received(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body)
                with rec.lock:
                    rec.requests.append(r)
                    ruled = rec.rule(r) if rec.rule is not None else None
                    scripted = ruled or (rec.script.pop(0) if rec.script else None)
                    mode = rec.mode if scripted is None else ("ok" if 200 <= scripted[0] < 300 and ruled is None
                                                              else "scripted")
                    rec.taken += mode in ("ok", "hang")
                    if mode in ("ok", "hang") and r.event_id and (r.path, r.event_id) not in rec.unique:
                        rec.unique[(r.path, r.event_id)] = r  # taken in: a hang loses the answer, not the message
                        rec.order.append(r.event_id)
                    rec.lock.notify_all()
                if scripted is not None and mode == "scripted":
                    status, headers, payload = scripted
                    return self._answer(status, payload, headers)
                if mode == "echo":
                    return self._answer(404, f"no route for POST {self.path}".encode())
                if mode == "echo_headers":
                    quoted = {k: v for k, v in self.headers.items() if k.lower().startswith("x-edge-")}
                    return self._answer(422, f"invalid event; headers were {quoted}".encode())
                if mode == "fail":
                    return self._answer(503, b"down for maintenance")
                if mode == "robot_busy":
                    return self._answer(200, json.dumps({"errcode": 45009, "errmsg": "api freq out of limit"}).encode())
                if mode == "hang":
                    time.sleep(rec.hang_s)
                self._answer(200, json.dumps({"errcode": 0, "errmsg": "ok"}).encode())

            def _answer(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()  # stop() in 0.05 s
        return self

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        """Block until ``n`` distinct messages arrived (a condition, not a sleep)."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.unique) >= n, timeout)

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
