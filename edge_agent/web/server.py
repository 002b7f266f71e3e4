"""Run the review app with uvicorn in a background thread, as one component of the agent.

The socket is bound in ``start()`` (port 0 picks a free one), so a port clash is an error at
start-up, not a silent thread death, and tests can read the real port from ``.port``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any

import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from edge_agent.clock import Clock
from edge_agent.config.errors import ListenError
from edge_agent.config.models import AgentConfig
from edge_agent.web.auth import lower_priority
from edge_agent.web.certs import ServedCertificate, fixed
from edge_agent.web.connections import BACKLOG, MAX_CONNECTIONS, REQUEST_TIMEOUT_S, bounded_h11, with_mapped
from edge_agent.web.hosts import loopback, mark_peer

logger = logging.getLogger(__name__)

# What uvicorn warns about for every request a client gets wrong: the first of each is worth a line (a proxy or a
# browser speaking HTTPS to the plain port shows as the first), the rest are whoever sends them.
CLIENT_NOISE = ("Invalid HTTP request received.", "Unsupported upgrade request.",
                "No supported WebSocket library detected.")


class _ClientNoiseOnce(logging.Filter):
    """Each of ``CLIENT_NOISE`` once at warning per server, then debug. Why: anyone who could reach the port wrote
    a warning line per malformed request into the journal (200 in well under a second), with uvicorn's own handler:
    no time, past the secret filter and the configured format."""

    def __init__(self) -> None:
        super().__init__()
        self._said: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        noise = next((n for n in CLIENT_NOISE if text.startswith(n)), None)
        if noise is None or record.levelno < logging.WARNING:
            return True
        with self._lock:
            first = noise not in self._said
            self._said.add(noise)
        if first:
            record.msg, record.args = f"{record.getMessage()} (a client's request; more of these at debug)", None
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class WebServer:
    """``start()`` / ``stop()`` around a uvicorn server on ``host:port``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8080, nice: int = 10,
                 trusted_proxies: list[str] | None = None, max_connections: int = MAX_CONNECTIONS,
                 request_timeout_s: float = REQUEST_TIMEOUT_S, behind_tls: bool = False,
                 tls: ssl.SSLContext | ServedCertificate | None = None) -> None:
        self.app = app
        self.tls = tls  # web.tls: the page speaks HTTPS itself (a ServedCertificate: renewals served without a restart)
        self.behind_tls = behind_tls or tls is not None  # or web.secure_cookies: the operator put HTTPS in front
        self.host = host
        self.port = port
        # uvicorn by default believes X-Forwarded-For from 127.0.0.1, which let one client dodge the
        # per-IP login limit; here only the configured proxies are believed, and none by default
        self.trusted_proxies = with_mapped(list(trusted_proxies or []))  # as a socket bound to "::" sees them too
        self.nice = nice  # the page's threads yield the CPU to the camera loop when both want it
        # idle and half-sent connections are bounded and timed out (connections.py): else they ate the
        # process's file descriptors, and with them the camera's
        self.protocol = bounded_h11(max_connections, request_timeout_s=request_timeout_s,
                                    trusted_proxies=self.trusted_proxies,
                                    tls=None if tls is None else tls.context if isinstance(tls, ServedCertificate)
                                    else fixed(tls))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._noise: _ClientNoiseOnce | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (it checks the proto);
        # without it every response waits ~40 ms for a delayed ACK (Nagle)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:  # port taken, address not ours, a name that does not resolve
            sock.close()
            raise ListenError("web", self.host, self.port, exc) from None
        self.port = sock.getsockname()[1]
        self._sock = sock
        # log_config=None: uvicorn's records go to the agent's handler (its format, time, secret filter, journal
        # priority) instead of a stderr handler of uvicorn's own
        # uvicorn's own proxy-header middleware, outside which ``mark_peer`` keeps the connection's address (the Host
        # check lets a trusted proxy's requests through, and ``client`` is the visitor's once X-Forwarded-For is read)
        app = mark_peer(ProxyHeadersMiddleware(self.app, trusted_hosts=self.trusted_proxies)) \
            if self.trusted_proxies else self.app
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http=self.protocol,
                                log_config=None, backlog=BACKLOG, proxy_headers=False, server_header=False)
        self._server = uvicorn.Server(config)
        self._noise = _ClientNoiseOnce()
        logging.getLogger("uvicorn.error").addFilter(self._noise)
        self._thread = threading.Thread(target=self._serve, args=(self._server, sock), name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"web server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        logger.info("review page on %s%s", self.url,
                    " (HTTPS only: http:// to this port is closed unanswered)" if self.tls else "")
        if not self.behind_tls and not loopback(self.host):
            # said at every start: the page itself speaks plain HTTP, and the site network (a car park's Wi-Fi)
            # is where its users' passwords and session cookies travel
            logger.warning("review page on %s:%d in clear text: anyone on the site network can read the passwords "
                           "and session cookies sent to it; serve it behind an HTTPS reverse proxy on this host "
                           "(web.host: 127.0.0.1) and set web.secure_cookies: true, or give it a certificate "
                           "(web.tls; docs/web.md#https)",
                           self.host or "*", self.port)

    def config_applied(self, cfg: AgentConfig, restart: list[str]) -> None:
        """At a config reload (SIGHUP, MQTT ``reload-config``, the installer's Save): a renewed certificate, or the
        pair at the paths ``web.tls`` names now, is served to the next connections (``reload.web_as_running``).
        Turning TLS on or off waits for a restart, as the rest of ``web``."""
        if not isinstance(self.tls, ServedCertificate):
            return
        tls = cfg.web.tls
        if tls is not None and (str(tls.cert_file), str(tls.key_file)) != (self.tls.cert_file, self.tls.key_file):
            self.tls.switch(str(tls.cert_file), str(tls.key_file))
        else:
            self.tls.reload()

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        lower_priority(self.nice)  # inherited by the request threads this loop starts
        server.run(sockets=[sock])

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        ctx = getattr(getattr(self.app, "state", None), "ctx", None)
        views = getattr(ctx, "views", None)
        if views is not None:  # the looks coalesced in memory (``views.py``), written before the log closes
            views.flush()
        sessions = getattr(ctx, "sessions", None)
        if sessions is not None:
            # its connection to the evidence index, never closed before: every clean stop left evidence.db-wal
            try:
                sessions.close()
            except Exception:  # the rest of the stop goes on; the next start reads the WAL back
                logger.exception("closing the page's sessions table failed")
        if self._sock is not None:
            self._sock.close()
        if self._noise is not None:
            logging.getLogger("uvicorn.error").removeFilter(self._noise)
        self._server = self._thread = self._sock = self._noise = None

    def __enter__(self) -> "WebServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_web(cfg: AgentConfig, *parts: Any, **kw: Any) -> WebServer:
    """The review page as an agent component (not started yet), bound to ``cfg.web.host:port``.

    Takes exactly ``create_app``'s arguments: ``(cfg, store, log, control, lists, bus, clock, config_path)``.
    """
    from edge_agent.web.app import create_app

    web = cfg.web
    clock: Clock = parts[5] if len(parts) > 5 else kw["clock"]
    tls = ServedCertificate(str(web.tls.cert_file), str(web.tls.key_file), clock=clock.monotonic,
                             now=clock.now) \
        if web.tls is not None else None
    return WebServer(create_app(cfg, *parts, **kw), web.host, web.port,
                     trusted_proxies=web.trusted_proxies, behind_tls=web.cookies_secure, tls=tls)

