"""Host names and addresses in the config, checked with the config rather than when the agent first dials or binds.

``mqtt://h ost:1883`` passed check-config and then failed to resolve on every reconnect for ever; ``web.host:
not a host`` passed it and stopped ``run``. A host is an IP address or a DNS name (an internationalised name
is taken in its ASCII form); a bind address may also be empty, which means every interface.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")  # \Z: Python's $ also matches before a last line end


def host_problem(host: str) -> str | None:
    """Why ``host`` is no IP address or host name, or None when it is one."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty or over-long label, a character IDNA refuses
        name = ""
    labels = name.removesuffix(".").split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(x) for x in labels) or labels[-1].isdigit():
        return f"{host!r} is not a host name or IP address"  # the last test: 999.1.1.1 is no name either
    return None


def bind_host(host: str) -> str:
    """A field validator's body for a listening address: '' (every interface), an IP address or a name."""
    problem = host_problem(host) if host else None
    if problem:
        raise ValueError(f"{problem} (a bind address such as 127.0.0.1, 0.0.0.0 or ::)")
    return host
