"""Which names the page answers to: a request naming another host in its ``Host`` header is refused (400).

Why: DNS rebinding. A web site that anyone on the site network (or a wall display on the device) opens points its
own name at the device's address once its script is loaded; that script is then "same origin" with the page and
reads its answers. Until 2026-12-06 a page on the internet, with no access to the site network, read the login page
(and its CSRF token) through a staff member's browser and posted password guesses from it: five wrong guesses at
``admin`` and every browser behind that address that had not signed in before (the office's NAT) met 429 for
``login_window_s``, again every five minutes. The browser sends the attacker's name as ``Host``: a name that is not
the device's is refused before any page is made.

Answered: an IP address (no name to rebind), ``localhost``, this machine's host name (bare, as given, and
``NAME.local``: mDNS), the host of ``web.public_url`` and the names in ``web.hostnames``. Checked only where the page
answers plain HTTP to the network itself: bound to a loopback address (an HTTPS proxy beside it) or with
``web.trusted_proxies`` it is the proxy that is reached by the site's names and answers only its own; with
``web.tls`` the browser checks the name against the page's certificate, which names no attacker's site (and staff
reach it by the certificate's names, which a list here would have to repeat). A client without an IP address (an
in-process test client) is not checked.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Iterable

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
SAID_MAX = 100  # refused names said at warning, one line each; the rest at debug (a flood writes no journal)


def loopback(host: str) -> bool:
    """Whether a bind address is reachable only from this machine (an HTTPS proxy beside it)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "" (every interface) or a name: reachable from the network
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header: without its port, in lower case, without a trailing dot; an IPv6 literal
    without its brackets."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def _address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def own_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """``localhost``, this machine's host name (bare, as given and ``.local``) and ``extra``, as ``host_name``
    leaves them."""
    names = {"localhost"}
    given = socket.gethostname().lower().rstrip(".")
    if given:
        short = given.split(".", 1)[0]
        names |= {given, short, f"{short}.local"}
    return frozenset(names | {host_name(n) for n in extra if n})


class HostCheck:
    """ASGI middleware: a request naming a host that is not this page's gets 400 (``enabled``: see above)."""

    def __init__(self, app: ASGIApp, names: frozenset[str], enabled: bool = True) -> None:
        self.app = app
        self.names = names
        self.enabled = enabled
        self._said: set[str] = set()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or not _network_client(scope):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
        name = host_name(header.decode("latin-1")) if header is not None else ""
        if not name or name in self.names or _address(name):  # no Host at all: HTTP/1.0, never a browser
            await self.app(scope, receive, send)
            return
        shown = ascii(name)[1:-1][:100]
        self._say(shown)
        text = (f"this page is not served under the name {shown} (the request's Host): reach it by this device's "
                "address or a name in web.hostnames (another site's name pointed at this device is refused)")
        await PlainTextResponse(text, status_code=400)(scope, receive, send)

    def _say(self, name: str) -> None:
        with self._lock:
            first = name not in self._said and len(self._said) < SAID_MAX
            if first:  # bounded: a client sending a new name a request must not grow it
                self._said.add(name)
        log.log(logging.WARNING if first else logging.DEBUG,
                "review page: a request for the host name %s refused (400); if people reach the page by that name, "
                "add it to web.hostnames", name)


def _network_client(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        ipaddress.ip_address(client[0])
    except ValueError:  # no IP address: not a network client
        return False
    return True
