"""Bounds on the review page's TCP connections: a client must not starve the agent of file descriptors.

uvicorn keeps a connection that has not sent a whole request open for ever (its keep-alive timer
starts only after a response). ~1,000 idle sockets from one host on the site network used up the
1,024 descriptors systemd gives a service: the camera could no longer open a frame, the watchdog
stopped pinging, and asyncio logged every refused accept (140 MB of log in 90 s). So each
connection must deliver its request (headers and body) within ``request_timeout_s``, one client
(an IPv6 host by its /64) holds at most ``per_client`` connections, and all of them together at most
``max_connections``; a client that stops taking its answer for ``request_timeout_s`` is closed too (nginx's
``send_timeout``). A connection over its client's share is closed as soon as it is accepted; one that finds all
``max_connections`` taken makes room by closing the connection that has waited longest on its client (nginx's
rule for reusable connections), else, when every one has a request in hand, one of the client holding the most
if that is more than the newcomer's. Before, the newcomer was always the one closed: a host with 7 addresses
(IPv4 aliases, or IPv6 privacy addresses from its /64) trickling requests, or pipelining requests whose answers
it never read, held all 100, and staff got a reset at every try.
A trusted reverse proxy carries every visitor, so only the total bounds it.

With ``web.tls`` the connection is counted and timed from its TCP accept, and the TLS handshake runs inside
the same ``request_timeout_s`` (``loop.start_tls``). uvicorn's own ``ssl_certfile`` hands the protocol its
connection only once the handshake is done: a client that opened sockets and never sent a ClientHello was seen
by none of the bounds above, and asyncio held each for 60 s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Callable

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol

from edge_agent.web.auth import address_key

logger = logging.getLogger(__name__)
MAX_CONNECTIONS = 100  # far below 1,024 descriptors, far above a few staff (a browser opens ≤ 6 per host)
PER_CLIENT = 16
# asyncio accepts up to the listen backlog in one go, before any connection_made can close one over
# the bounds: uvicorn's 2,048 let a burst of 1,100 connections hit the descriptor limit all the same
BACKLOG = 32
STOP_GRACE_S = 3.0  # at the server's stop, what a TLS connection has to end before it is dropped (WebServer.stop: 5 s)
REQUEST_TIMEOUT_S = 20.0  # Apache's RequestReadTimeout gives headers 20 s; a request here is < 256 KiB
_RECEIVING = (h11.IDLE, h11.SEND_BODY)  # the client's side of a request still on its way


def with_mapped(trusted: list[str]) -> list[str]:
    """``trusted`` plus each IPv4 address or network as IPv6 sees it (``::ffff:127.0.0.1``). Why: a page bound to
    ``::`` (IPv4 and IPv6 on one socket) sees an IPv4 proxy as ``::ffff:…``, which ``127.0.0.1`` did not match:
    its X-Forwarded-For was ignored and every visitor shared the proxy's per-address login limit (5 wrong guesses
    by anyone refused everyone) and its 16 connections."""
    out = list(trusted)
    for item in trusted:
        net = ipaddress.ip_network(item, strict=False)
        if net.version == 4:
            out.append(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
    return out


def _exempt(trusted: list[str]) -> Callable[[str], bool]:
    nets = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def exempt(host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in n for n in nets)

    return exempt


def bounded_h11(max_connections: int = MAX_CONNECTIONS, per_client: int = PER_CLIENT,
                request_timeout_s: float = REQUEST_TIMEOUT_S, trusted_proxies: list[str] | None = None,
                tls: Callable[[], ssl.SSLContext] | None = None) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the bounds above (a class per server: no state shared between servers);
    ``tls``: the server's context as of each accept (a renewed certificate: ``certs.ServedCertificate``), each
    connection's handshake made here, under the bounds."""
    exempt = _exempt(list(trusted_proxies or []))
    plain_http_said = [False]  # per server: the first one is a warning, the rest debug

    def _plain_http(client: tuple[str, int] | None) -> None:
        """Why a line: someone typing http:// (or an old bookmark) got a reset and nothing in the log said why.
        Answered with a redirect it is not: asyncio has no way to look at the first byte before ``start_tls``
        takes the socket, and OpenSSL has read the request by the time it says so."""
        first, plain_http_said[0] = not plain_http_said[0], True
        logger.log(logging.WARNING if first else logging.DEBUG,
                   "%s sent plain HTTP to the page's HTTPS port: closed unanswered; the page is at https:// "
                   "only%s", client[0] if client else "a client", " (more of these at debug)" if first else "")

    class BoundedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _waiting_since = 0.0  # loop time its request (or the next on a kept-alive connection) began to be awaited
        _stall: asyncio.TimerHandle | None = None  # armed while the client takes none of its answer
        _stalled_since = 0.0
        _handshake: asyncio.Task[None] | None = None  # the TLS handshake under way (``tls``)
        _lost = False
        _ended = False  # aborted: its descriptor is freed at the loop's next turn
        _who: str | None = None  # the client as the bounds count it (``address_key``; None: exempt or unknown)
        _early = b""  # what came decrypted before start_tls returned (a TLS 1.3 client sends with its Finished)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            # a client as the login limits and the eviction below count it: an IPv6 host by its /64. By exact
            # address, a host with a /64 (2^64 addresses; privacy addresses rotate by themselves) had 16 per
            # address, and with them every one of the 100
            # (parsed once, here: parsing every open connection's address at each accept cost 2.4 ms of the
            # process's one interpreter per accept with 100 IPv6 connections open, and a flood of accepts took it
            # from the camera loop)
            self._who = who = None if host is None or exempt(host) else address_key(host)
            same = 0 if who is None else sum(1 for c in self.connections if getattr(c, "_who", None) == who)
            if same > per_client or not self._room():
                self._abort()  # the descriptor is freed now; no request is read
                return
            self._arm()  # with TLS: the handshake and the request within request_timeout_s, together
            if tls is not None:
                self._handshake = self.loop.create_task(self._start_tls(transport, tls()))

        async def _start_tls(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
            """Make the TLS handshake on the accepted connection, then speak HTTP through it. A failed, slow or
            dropped handshake (asyncio logs it at debug) just ends the connection."""
            try:
                secure = await self.loop.start_tls(raw, self, context, server_side=True,
                                                   ssl_handshake_timeout=request_timeout_s)
            except (OSError, asyncio.TimeoutError, asyncio.CancelledError) as exc:
                if isinstance(exc, ssl.SSLError) and exc.reason == "HTTP_REQUEST":
                    _plain_http(self.client)
                raw.abort()
                self.connection_lost(exc if isinstance(exc, Exception) else None)
                return
            finally:
                self._handshake = None
            if secure is None:  # the connection went while the handshake ended
                raw.abort()
                self.connection_lost(None)
                return
            self.transport = secure
            self.flow = FlowControl(secure)
            self.scheme = "https"
            if self._early:
                early, self._early = self._early, b""
                self.data_received(early)

        def _room(self) -> bool:
            """Whether this connection may stay under ``max_connections``: when all are taken, the one that has
            waited longest for its request is closed for it (a connection whose request is being answered never
            is). The newcomer was refused instead: whoever filled the server with slow requests kept it."""
            live = [c for c in self.connections if not c._ended]  # (the ones ended this turn go at the next)
            if len(live) <= max_connections:
                return True
            # a connection the page has closed still holds its descriptor until the client takes the close: with
            # TLS until its close_notify (asyncio waits 30 s), which a client that reads nothing never sends. Not
            # counted, clients from many addresses sending ``Connection: close`` held 12 for a bound of 4
            closing = [c for c in live if c is not self and c.transport.is_closing()]
            if closing:
                closing[0]._abort()  # its answer is given: the first to go
                return True
            open_ = live
            waiting = [(since, c) for c in open_ if c is not self and (since := c._waiting()) is not None]
            if waiting:
                min(waiting, key=lambda w: w[0])[1]._close()
                return True
            # every one has a request in hand: a client holding more than this one would (counted as the login
            # limits count, an IPv6 host by its /64) gives one up. Before, 7 addresses sending pipelined requests
            # they never read the answers of kept all 100 busy, and nobody else got in.
            held: dict[str, list[BoundedH11]] = {}
            for c in open_:
                if c._who is not None:
                    held.setdefault(c._who, []).append(c)
            mine = len(held.get(self._who, [])) if self._who is not None else 0
            most = max(held.values(), key=len, default=[])
            if len(most) <= mine:
                return False
            next(c for c in reversed(most) if c is not self)._close()
            return True

        def _abort(self) -> None:
            self._ended = True
            self.transport.abort()

        def _waiting(self) -> float | None:
            """Since when this connection waits on its client, for a request or to take an answer (None: it
            does not; its request is being answered)."""
            times = [t for t, armed in ((self._waiting_since, self._deadline), (self._stalled_since, self._stall))
                     if armed is not None]
            return min(times, default=None)

        def _close(self) -> None:
            self._disarm()
            self._unstall()
            self._abort()

        def pause_writing(self) -> None:
            """The client takes no more of its answer for now (the socket's buffers are full): it must take some
            within ``request_timeout_s``. Before, a client that sent requests and never read the answers (20,000
            pipelined GETs) held its connection for good, its request in hand: 7 addresses held all 100."""
            super().pause_writing()
            if self._stall is None:
                self._stalled_since = self.loop.time()
                self._stall = self.loop.call_later(request_timeout_s, self._answer_late)

        def resume_writing(self) -> None:
            super().resume_writing()
            self._unstall()

        def _unstall(self) -> None:
            if self._stall is not None:
                self._stall.cancel()
                self._stall = None

        def _answer_late(self) -> None:
            self._stall = None
            if not self.transport.is_closing():
                self._abort()

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since = self.loop.time()
            self._deadline = self.loop.call_later(request_timeout_s, self._request_late)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _request_late(self) -> None:
            self._deadline = None
            if self.conn.their_state in _RECEIVING and not self.transport.is_closing():
                self._abort()

        def data_received(self, data: bytes) -> None:
            if self._handshake is not None:  # decrypted already, but the TLS transport is not ours yet
                self._early += data
                return
            super().data_received(data)
            if self.conn.their_state not in _RECEIVING:
                self._disarm()  # the whole request is in: the handler may take its time

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state in _RECEIVING:
                self._arm()  # the next request on this keep-alive connection (or the rest of this body)

        def shutdown(self) -> None:
            """The server stops. With TLS an idle connection's close waits for the client's close_notify, which a
            client that reads nothing never sends: asyncio held it 30 s (``ssl_shutdown_timeout``), the stop gave up
            on the page's thread after 5 s and left it running. Dropped after ``STOP_GRACE_S`` now."""
            super().shutdown()
            if tls is not None and not self._lost:
                self.loop.call_later(STOP_GRACE_S, self._drop)

        def _drop(self) -> None:
            if not self._lost:
                self._abort()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._lost:  # a failed handshake is ended by _start_tls, and asyncio may say so too
                return
            self._lost = True
            self._disarm()
            self._unstall()
            super().connection_lost(exc)

    return BoundedH11
