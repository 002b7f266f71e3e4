"""Bounds on the review page's TCP connections: a client must not starve the agent of file descriptors.

uvicorn keeps a connection that has not sent a whole request open for ever (its keep-alive timer
starts only after a response). ~1,000 idle sockets from one host on the site network used up the
1,024 descriptors systemd gives a service: the camera could no longer open a frame, the watchdog
stopped pinging, and asyncio logged every refused accept (140 MB of log in 90 s). So each
connection must deliver its request (headers and body) within ``request_timeout_s``, one client
address holds at most ``per_client`` connections, and all of them together at most
``max_connections``. A connection over its client's share is closed as soon as it is accepted; one that
finds all ``max_connections`` taken makes room by closing the connection that has waited longest for its
request (nginx's rule for reusable connections), and is closed itself only when every other one has a request
in hand. Before, the newcomer was always the one closed: a host with 7 addresses (IPv4 aliases, or IPv6
privacy addresses from its /64) trickling requests held all 100 for good, and staff got a reset at every try.
A trusted reverse proxy carries every visitor, so only the total bounds it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_CONNECTIONS = 100  # far below 1,024 descriptors, far above a few staff (a browser opens ≤ 6 per host)
PER_CLIENT = 16
# asyncio accepts up to the listen backlog in one go, before any connection_made can close one over
# the bounds: uvicorn's 2,048 let a burst of 1,100 connections hit the descriptor limit all the same
BACKLOG = 32
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
                ) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the bounds above (a class per server: no state shared between servers)."""
    exempt = _exempt(list(trusted_proxies or []))

    class BoundedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _waiting_since = 0.0  # loop time its request (or the next on a kept-alive connection) began to be awaited

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            same = 0 if host is None or exempt(host) else sum(
                1 for c in self.connections if getattr(c, "client", None) and c.client[0] == host)
            if same > per_client or not self._room():
                transport.abort()  # the descriptor is freed now; no request is read
                return
            self._arm()

        def _room(self) -> bool:
            """Whether this connection may stay under ``max_connections``: when all are taken, the one that has
            waited longest for its request is closed for it (a connection whose request is being answered never
            is). The newcomer was refused instead: whoever filled the server with slow requests kept it."""
            open_ = [c for c in self.connections if not c.transport.is_closing()]
            if len(open_) <= max_connections:
                return True
            waiting = [c for c in open_ if c is not self and getattr(c, "_deadline", None) is not None]
            if not waiting:
                return False
            min(waiting, key=lambda c: c._waiting_since)._close_waiting()
            return True

        def _close_waiting(self) -> None:
            self._disarm()
            self.transport.abort()

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
                self.transport.abort()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state not in _RECEIVING:
                self._disarm()  # the whole request is in: the handler may take its time

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state in _RECEIVING:
                self._arm()  # the next request on this keep-alive connection (or the rest of this body)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return BoundedH11
