"""Doctor's broker row: a short paho connect per configured broker, with the config's TLS and credentials.

Why its own client id (``<client_id>-doctor``): a broker disconnects the older session when a
second client connects with the same id, so reusing the agent's would knock the running agent
off the broker every time someone runs ``doctor``. Nothing is published or subscribed.
"""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from edge_agent.config.mqtt import BrokerAddress, SecretError, read_secrets
from edge_agent.events.connection import PahoClient, TlsFileError, apply_tls_and_login, closed_before_connack
from edge_agent.ops.checks import Check, with_timeout

if TYPE_CHECKING:
    from edge_agent.config.models import AgentConfig


def check_brokers(cfg: "AgentConfig") -> list[Check]:
    m = cfg.mqtt
    if not m.enabled:
        return [Check("broker", "skip", "mqtt.enabled is false")]
    try:
        password = read_secrets(m).password
    except SecretError as exc:
        return [Check("broker", "fail", str(exc))]
    timeout = cfg.ops.doctor.broker_timeout_s
    rows = []
    for addr in m.broker_addresses():
        name = f"broker {addr}"
        rows.append(with_timeout(lambda a=addr, n=name: _probe(cfg, a, password, timeout, n), timeout + 2, name,
                                 "connect"))
    return rows


def check_commands(cfg: "AgentConfig") -> list[Check]:
    """How commands are bound, from the config alone (a row beside the brokers'; none with MQTT off): WARN when
    ``command_device`` / ``command_site`` is required without a signing key, which holds nothing unsigned."""
    m = cfg.mqtt
    if not m.enabled:
        return []
    unbound = m.unbound_requirements()
    if unbound:
        return [Check("commands", "warn", unbound)]
    if not m.signing:
        return [Check("commands", "pass", "unsigned: the broker's ACL alone decides who may command this device")]
    return [Check("commands", "pass", f"signed; device {m.command_device}, site {m.command_site}")]


def _probe(cfg: "AgentConfig", addr: BrokerAddress, password: str | None, timeout: float, name: str) -> Check:
    m = cfg.mqtt
    v5 = m.protocol == "5"
    client = PahoClient(  # keeps the TLS alert a broker sends after the handshake (a client certificate refused)
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"{m.client_id or cfg.site.device_id}-doctor",
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
    )
    client.connect_timeout = timeout
    try:
        apply_tls_and_login(client, m, password)  # exactly what the agent's own connection does
    except TlsFileError as exc:  # the agent would not start either (mqtt_link refuses it as a config error)
        return Check(name, "fail", str(exc))
    how = []
    if addr.tls:
        how.append("TLS" + (" + client cert" if m.tls and m.tls.cert_file else "")
                   + (" WITHOUT the name check (mqtt.tls.check_hostname: false)" if m.tls and not m.tls.check_hostname
                      else ""))
    if m.username:
        how.append(f"user {m.username}")
    result: dict[str, object] = {}
    client.on_connect = lambda c, u, flags, rc, props=None: result.setdefault("rc", rc)
    try:
        client.connect(addr.host, addr.port, keepalive=max(m.keepalive_s, 5))
    except ssl.SSLCertVerificationError as exc:
        return Check(name, "fail", f"TLS: certificate verify failed ({exc.verify_message}); check mqtt.tls.ca_file")
    except ssl.SSLError as exc:
        return Check(name, "fail", f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return Check(name, "fail", f"cannot connect: {exc.strerror or exc}")
    deadline = time.monotonic() + timeout
    try:
        while "rc" not in result and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS and "rc" not in result:
                return Check(name, "fail", closed_before_connack(addr.tls, client.last_tls_read_error,
                                                                  m.tls.cert_file if m.tls else None,
                                                                  m.protocol == "3.1.1")[1])
        rc = result.get("rc")
        if rc is None:
            return Check(name, "fail", f"no CONNACK within {timeout:g} s")
        if rc.is_failure:  # type: ignore[attr-defined]
            return Check(name, "fail", f"refused: {rc} ({', '.join(how) or 'anonymous'})")
        return Check(name, "pass", f"connected, MQTT {m.protocol}" + (f", {', '.join(how)}" if how else ", anonymous"))
    finally:
        client.disconnect()


