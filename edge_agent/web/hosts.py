"""Which names the page answers to: a request naming another host in its ``Host`` header is refused (400).

Why: DNS rebinding. A web site that anyone on the site network (or a wall display on the device) opens points its
own name at the device's address once its script is loaded; that script is then "same origin" with the page and
reads its answers. Until 2026-12-06 a page on the internet, with no access to the site network, read the login page
(and its CSRF token) through a staff member's browser and posted password guesses from it: five wrong guesses at
``admin`` and every browser behind that address that had not signed in before (the office's NAT) met 429 for
``login_window_s``, again every five minutes. The browser sends the attacker's name as ``Host``: a name that is not
the device's is refused before any page is made.

Answered: an IP address (no name to rebind), ``localhost``, this machine's host name (bare, as given, and
``NAME.local``: mDNS), the host of ``web.public_url``, the names in ``web.hostnames``, and any name the public DNS
cannot serve (``private_name``): the attacker's page was loaded by the victim's browser under its name, so that name
resolves in the public DNS; a single-label name or one under ``.local``, ``.lan``, ``.home.arpa``… does not. Until
2026-12-06 those were refused too, and an upgrade met 400 under the router's DNS name (``parking-cam.lan``), a name
Avahi renamed (``jetson-2.local``) and a compose service's name (``edge-agent``, a scraper in the next container). Checked only where the page
answers plain HTTP to the network itself: bound to a loopback address (an HTTPS proxy beside it) it is the proxy
that is reached by the site's names and answers only its own, and so for a request whose connection comes from one
of ``web.trusted_proxies`` (the proxy's address, ``PEER``: uvicorn puts the visitor's from ``X-Forwarded-For`` in
``client``); a browser reaching the page's own port past such a proxy is checked (until 2026-12-06
``trusted_proxies`` switched the check off for every request, and a rebound browser went round the proxy); with
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
PEER = "edge_agent.peer"  # scope key: the connection's own address, before X-Forwarded-For is believed (``mark_peer``)
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


# suffixes no public DNS serves: mDNS (RFC 6762), RFC 6761's localhost, RFC 8375's home.arpa, ICANN's .internal
# (2024), and what routers hand out that ICANN never delegated (OpenWrt's .lan; .home; .localdomain)
PRIVATE_SUFFIXES = ("local", "localhost", "home.arpa", "internal", "lan", "home", "localdomain")


def private_name(name: str) -> bool:
    """Whether no public DNS can resolve ``name`` (as ``host_name`` leaves it): a single label (``edge-agent``, a
    compose service; ``jetson``, a router's bare name) or a name under ``PRIVATE_SUFFIXES``. Only a name the public
    DNS answers can carry a rebinding attacker's page into a browser."""
    return "." not in name or any(name == s or name.endswith("." + s) for s in PRIVATE_SUFFIXES)


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

    def __init__(self, app: ASGIApp, names: frozenset[str], enabled: bool = True, proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.names = names
        self.enabled = enabled
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in proxies]  # their requests: the proxy checked
        self._said: set[str] = set()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or not _network_client(scope) or self._via_proxy(scope):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
        name = host_name(header.decode("latin-1")) if header is not None else ""
        if not name or name in self.names or _address(name) or private_name(name):  # no Host: HTTP/1.0, no browser
            await self.app(scope, receive, send)
            return
        shown = ascii(name)[1:-1][:100]
        self._say(shown)
        here = _reached(scope)
        text = (f"this page is not served under the name {shown} (the request's Host): reach it by this device's "
                f"address{f' ({here})' if here else ''} or a name in web.hostnames (another site's name pointed at "
                "this device is refused)")
        await PlainTextResponse(text, status_code=400)(scope, receive, send)

    def _via_proxy(self, scope: Scope) -> bool:
        peer = scope.get(PEER) or scope.get("client")
        try:
            ip = ipaddress.ip_address(peer[0]) if peer else None
        except ValueError:
            return False
        return ip is not None and any(ip in net for net in self.proxies)

    def _say(self, name: str) -> None:
        with self._lock:
            first = name not in self._said and len(self._said) < SAID_MAX
            if first:  # bounded: a client sending a new name a request must not grow it
                self._said.add(name)
        log.log(logging.WARNING if first else logging.DEBUG,
                "review page: a request for the host name %s refused (400); if people reach the page by that name, "
                "add it to web.hostnames and restart the agent (web settings apply at start)", name)


def _reached(scope: Scope) -> str:
    """The URL by the address the request reached (the connection's own, not the bind's ``0.0.0.0``): what staff
    meeting the 400 can open now; "" when the server did not say it."""
    server = scope.get("server")
    try:
        ip = ipaddress.ip_address(server[0]) if server else None
    except ValueError:
        return ""
    if ip is None or ip.is_unspecified:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # bound to ``::``: an IPv4 visitor
        ip = ip.ipv4_mapped
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"http://{host}:{server[1]}/" if server[1] else f"http://{host}/"


def _network_client(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        ipaddress.ip_address(client[0])
    except ValueError:  # no IP address: not a network client
        return False
    return True


def mark_peer(app: ASGIApp) -> ASGIApp:
    """``app`` with the connection's own address kept under ``PEER``: put outside the middleware that believes
    ``X-Forwarded-For`` (which rewrites ``client``), so ``HostCheck`` can tell a trusted proxy's request apart."""
    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[PEER] = scope.get("client")
        await app(scope, receive, send)
    return marked
