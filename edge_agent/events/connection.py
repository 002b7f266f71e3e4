"""One paho-mqtt 2.x client: TLS, login, LWT, reconnect with backoff, broker failover.

paho's own loop (``connect_async`` + ``loop_start``) reconnects with exponential backoff
(``reconnect_delay_set``) and never raises when a broker is down. We add:
- failover: after a failed attempt or a lost connection the next attempt goes to the next
  broker in the list (``connect_async`` from the callback only re-targets the loop);
- a clear log line and a ``LinkStatus`` for every failure kind: refused login, TLS
  trouble, plain MQTT sent to a TLS port (closed before CONNACK), nothing listening;
- callbacks guarded so that a bug in one cannot kill paho's network thread.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent.config.mqtt import BrokerAddress, MqttConfig, MqttSecrets, TlsConfig
from edge_agent.events.schemas import SCHEMA_VERSION

log = logging.getLogger(__name__)


class _NotConnectedIsDebug(logging.Filter):
    """paho logs "Client is not connected" at ERROR on every retry while the broker is away, and "failed to
    receive on socket" at every connection the broker drops; our own connection-state lines already say that,
    with the reason and without repeating it, so demote them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(("Client is not connected",
                                                                            "failed to receive on socket")):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_PAHO_LOG = logging.getLogger(f"{__name__}.paho")
_PAHO_LOG.addFilter(_NotConnectedIsDebug())


# A broker that closes each connection soon after accepting it (mosquitto 2 does so, without a reason, when another
# client connects with the same client id: two devices with one device_id, a cloned SD card) reconnects every second
# or so: a "connected" and a "connection lost" line each time, ~7,000 lines an hour. After FLAPS such connections in
# a row the likely cause is said once, then the drops are debug, with a reminder every FLAP_REMIND_S.
FLAPS, FLAP_S, FLAP_REMIND_S = 3, 30.0, 600.0
INFLIGHT = 20  # QoS 1 messages sent before their PUBACKs (paho's default), unless the broker takes fewer

INCOMING_OVERHEAD = 64 * 1024  # a PUBLISH's header, topic and properties around the payload (topics ≤ 64 KiB)


class PacketTooLarge(ValueError):
    """Over the Maximum Packet Size the broker announced in its CONNACK (MQTT 5). paho does not
    check it: the broker would close the connection, and paho would send the same message first
    again after every reconnect, so nothing behind it would ever be delivered."""


def publish_packet_size(topic: str, payload: bytes, qos: int, props: Properties | None) -> int:
    """Bytes of the PUBLISH packet paho would write (fixed header, topic, packet id, properties, payload)."""
    props_len = len(props.pack()) if props is not None else 1  # type: ignore[no-untyped-call]
    remaining = 2 + len(topic.encode("utf-8")) + (2 if qos else 0) + props_len + len(payload)
    return 1 + len(VariableByteIntegers.encode(remaining)) + remaining  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class LinkStatus:
    """What the health page / doctor show: ``state`` is one of starting, connecting, connected,
    refused (login), tls_error, closed_early (no CONNACK), unreachable, stopped."""

    state: str = "starting"
    broker: str = ""
    last_error: str | None = None
    connects: int = 0
    failures: int = 0  # consecutive

    @property
    def connected(self) -> bool:
        return self.state == "connected"


class PahoClient(mqtt.Client):
    """paho's loop swallows the OSError of a failed connect, and the TLS error of a failed read; keep them for
    the log line."""

    last_connect_error: OSError | None = None
    last_tls_read_error: ssl.SSLError | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_connect_error = exc
            raise

    def take_receive_maximum(self, announced: int | None) -> None:
        """Send at most ``announced`` QoS 1 messages before their PUBACKs (the CONNACK's Receive Maximum; absent:
        65,535), never more than paho's own 20. Why: paho ignores it, and a broker may close the connection for
        the excess (MQTT 5 §4.9, DISCONNECT 0x93; HiveMQ announces 10): the same 20 went again at every reconnect
        and the outbox never moved. Called from ``on_connect``, before paho re-sends what it holds on this
        connection, on every connection, the limit changed or not."""
        want = max(1, min(announced or 65_535, INFLIGHT))
        with self._out_message_mutex:
            self._max_inflight_messages = want
            # paho's reset at reconnect counts nothing (every held message is marked to send) and its CONNACK handler
            # then sends every one so marked: the 5 a broker took and the 55 waiting went out together after each
            # reconnect (review34). So all wait their turn, and as many as the limit allows are sent from here, as
            # PUBACKs free room; a message already sent on this connection (``on_connect``'s own) is counted.
            sent = (mqtt.mqtt_ms_wait_for_puback, mqtt.mqtt_ms_wait_for_pubrec, mqtt.mqtt_ms_wait_for_pubcomp)
            self._inflight_messages = sum(1 for m in self._out_messages.values() if m.qos and m.state in sent)
            for m in self._out_messages.values():
                if m.qos and m.state == mqtt.mqtt_ms_publish:
                    m.state = mqtt.mqtt_ms_queued
            self._update_inflight()

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        """A PUBACK whose reason code MQTT 5 does not allow there is still that message's refusal. mosquitto
        answers a message over its ``message_size_limit`` with PUBACK 0x95 (Packet too large, a DISCONNECT
        code); paho called it malformed and dropped the connection, then sent the same message first again after
        every reconnect: the outbox stalled behind it for ever, and the messages sent with it were delivered
        again at every reconnect, never acked. Now it is a failed PUBACK, held back like an ACL refusal."""
        packet = self._in_packet["packet"]
        if (cmd != "PUBACK" or self._protocol != mqtt.MQTTv5 or len(packet) < 3 or packet[2] < 0x80
                or _puback_code_ok(packet[2])):
            return super()._handle_pubackcomp(cmd)
        mid = int.from_bytes(packet[:2], "big")
        code = _refusal_code(packet[2])
        self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received PUBACK (Mid: %d) with reason %s, not a PUBACK reason", mid,
                       code)
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, code, Properties(PacketTypes.PUBACK))  # type: ignore[no-untyped-call]
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        # With TLS 1.3 the broker checks the client's certificate after the handshake has completed on our side:
        # its refusal is an alert read with the CONNACK's place, which paho logs as "failed to receive" and
        # turns into a lost connection
        try:
            return super()._sock_recv(bufsize)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            self.last_tls_read_error = exc
            raise


# TLS alerts by which a broker refuses the client's certificate (OpenSSL's reason names)
_CLIENT_CERT_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_EXPIRED",
                       "CERTIFICATE_REVOKED", "CERTIFICATE_UNKNOWN", "UNSUPPORTED_CERTIFICATE", "ACCESS_DENIED")


def closed_before_connack(tls: bool, tls_error: ssl.SSLError | None, cert_file: str | None,
                          v311: bool = False) -> tuple[str, str]:
    """(state, why) for a broker that closed the connection before its CONNACK, for the link and the doctor alike.
    On plain ``mqtt://`` the likely cause is a TLS port; on ``mqtts://`` a broker that requires or refuses a client
    certificate (TLS 1.3 says so only after the handshake) is named by its alert. With MQTT 3.1.1 (``v311``) a broker
    that refuses the agent's last will (mosquitto ``max_qos 0``, ``retain_available false``) closes the connection
    the same way, a CONNACK having no code for it: the line read "use mqtts://" alone (probe delivery35), and on
    ``mqtts://`` asked about a client certificate alone (review52)."""
    will = (" or, with MQTT 3.1.1, a broker that refuses QoS 1 or retained messages (the agent's last will: "
            "mosquitto max_qos / retain_available; MQTT 5 names the reason)") if v311 else ""
    if not tls:
        return "closed_early", ("connection closed before the broker answered: plain mqtt:// to a TLS port? (use "
                                f"mqtts://){will}")
    if tls_error is not None:
        why = tls_error.reason or tls_error
        return "tls_error", (describe_tls_alert(tls_error, cert_file)
                             or f"the broker ended the TLS session before answering ({why}): its log says why")
    # the alert may be lost: a reset discards it when the broker closed before our CONNECT was read
    ask = (f"does it refuse this device's client certificate mqtt.tls.cert_file={cert_file}?"
           if cert_file else "does it require a client certificate (mqtt.tls.cert_file and key_file)?")
    return "closed_early", (f"connection closed before the broker answered, after the TLS handshake: {ask}{will}; the "
                            "broker's log says why")


def describe_tls_alert(exc: ssl.SSLError, cert_file: str | None) -> str | None:
    """The text for a TLS alert by which the broker refused this client's certificate (or its lack of one),
    else None. Before, it read "plain mqtt:// to a TLS port? (use mqtts://)" on an mqtts:// link (TLS 1.3), or
    "is that port a TLS listener?" (TLS 1.2): nothing named the client certificate."""
    reason = str(exc.reason or exc)
    if "ALERT" not in reason.upper() or not any(a in reason.upper() for a in _CLIENT_CERT_ALERTS):
        return None
    if cert_file is None:
        return (f"the broker requires a client certificate ({reason}): set mqtt.tls.cert_file and "
                "mqtt.tls.key_file (mutual TLS)")
    return (f"the broker refused this device's client certificate mqtt.tls.cert_file={cert_file} ({reason}): is it "
            "signed by a CA the broker trusts (its cafile), unexpired and unrevoked?")


def _puback_code_ok(value: int) -> bool:
    try:
        ReasonCode(PacketTypes.PUBACK, identifier=value)
    except Exception:  # noqa: BLE001 - paho raises KeyError / ValueError for a name it has not for that packet
        return False
    return True


def _refusal_code(value: int) -> ReasonCode:
    """A failure code (0x80 and up) MQTT 5 does not allow in a PUBACK, named as MQTT names it for another packet
    (0x95: Packet too large)."""
    for packet_type in (PacketTypes.DISCONNECT, PacketTypes.CONNACK, PacketTypes.SUBACK):
        try:
            return ReasonCode(packet_type, identifier=value)
        except Exception:  # noqa: BLE001 - not named for that packet
            continue
    return ReasonCode(PacketTypes.PUBACK, "Unspecified error")


# What the agent needs of a broker, named when a CONNECT is refused for it (MQTT 5 CONNACK reason codes).
# Why: "broker refused the connection: QoS not supported" left the operator to find out that the agent's last will
# and events are QoS 1 and retained.
_CONNACK_HINTS = {
    0x9A: ": the agent's status (its last will), bay states and daily stats are retained messages; allow retain on "
          "the broker (mosquitto retain_available)",
    0x9B: ": the agent publishes at QoS 1 (its last will, events, bay states); allow QoS 1 on the broker "
          "(mosquitto max_qos)",
}

_KEEPALIVE_TIMEOUT = 0x8D  # the reason paho gives when it closes a connection the broker left unanswered

# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID / X509_V_ERR_CERT_HAS_EXPIRED
_CERT_TIME_CODES = (9, 10)


def describe_connect_error(exc: OSError, cert_file: str | None = None) -> tuple[str, str]:
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _CERT_TIME_CODES:
            # the hint sent the operator to the CA file, while a Pi without a real-time clock, before NTP has set it,
            # reads a time the broker's certificate is not valid at
            now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            return "tls_error", (f"TLS certificate check failed ({exc.verify_message} at this device's clock, {now}): "
                                 "is the clock right (NTP: `edge-agent doctor`)? If it is, the broker's certificate "
                                 "needs renewing")
        return "tls_error", f"TLS certificate check failed ({exc.verify_message}): check mqtt.tls.ca_file and the broker's name"
    if isinstance(exc, ssl.SSLError):
        if (text := describe_tls_alert(exc, cert_file)) is not None:
            return "tls_error", text
        return "tls_error", f"TLS handshake failed ({exc.reason or exc}): is that port a TLS listener?"
    if isinstance(exc, ConnectionRefusedError):
        return "unreachable", "connection refused: is the broker running on that port?"
    if isinstance(exc, socket.gaierror):
        return "unreachable", f"cannot resolve the host ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "unreachable", "connect timed out"
    return "unreachable", f"cannot connect ({exc.strerror or exc})"


class TlsFileError(OSError):
    """A CA, certificate or key file that cannot be loaded; the text names its key and path."""


def _tls_file_error(tls: TlsConfig | None, exc: OSError) -> TlsFileError:
    """Which of the TLS files failed, and why. Why: ssl says ``[Errno 2] No such file or directory`` without
    the file's name, so ``run`` and the doctor's broker row left the operator guessing which of three files."""
    files = [("ca_file", tls.ca_file), ("cert_file", tls.cert_file), ("key_file", tls.key_file)] if tls else []
    for key, path in files:
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            return TlsFileError(f"mqtt.tls.{key}: cannot read {path} ({e.strerror or e})")
    if tls is not None and tls.ca_file is not None:
        try:
            ssl.create_default_context().load_verify_locations(cafile=tls.ca_file)
        except (OSError, ValueError) as e:
            return TlsFileError(f"mqtt.tls.ca_file: {tls.ca_file} is not a PEM CA bundle ({e})")
    if tls is not None and tls.cert_file is not None:
        return TlsFileError(f"mqtt.tls.cert_file / key_file: {tls.cert_file} and "
                            f"{tls.key_file or 'its own key'} do not load as a certificate and its key ({exc})")
    return TlsFileError(f"mqtt.tls: cannot load the TLS files ({exc})")


def apply_tls_and_login(client: mqtt.Client, cfg: MqttConfig, password: str | None) -> None:
    """The config's credentials and TLS on a paho client (also for one-off probes such as doctor).
    Raises :class:`TlsFileError` (naming the key and the file) when a CA, certificate or key cannot be loaded."""
    if cfg.username:
        client.username_pw_set(cfg.username, password)
    if cfg.broker_addresses()[0].tls:
        tls = cfg.tls
        try:
            client.tls_set(
                ca_certs=tls.ca_file if tls else None,
                certfile=tls.cert_file if tls else None,
                keyfile=tls.key_file if tls else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except OSError as exc:  # ssl.SSLError is one
            raise _tls_file_error(tls, exc) from None
        if tls is not None and not tls.check_hostname:
            client.tls_insecure_set(True)


class Connection:
    def __init__(
        self,
        cfg: MqttConfig,
        secrets: MqttSecrets,
        client_id: str,
        will: tuple[str, bytes],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_ack: Callable[[int, bool], None],
        on_message: Callable[[mqtt.MQTTMessage], None],
        max_incoming: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cfg = cfg
        self.client_id = client_id
        self._monotonic = monotonic
        self._up_since: float | None = None  # this connection's CONNACK (monotonic)
        self._flaps = 0  # connections in a row the broker closed within FLAP_S
        self._flap_told: float | None = None  # when the flapping was last said at warning or above
        self._flap_drops = 0  # drops since then
        # MQTT 5: told to the broker in CONNECT (Maximum Packet Size), which then never sends a bigger message:
        # paho would read each one whole into memory (a broker's default limit is 256 MB) before we could refuse it
        self._max_incoming = max_incoming
        self._brokers: list[BrokerAddress] = cfg.broker_addresses()
        self._index = 0
        self._v5 = cfg.protocol == "5"
        self._cert_file = cfg.tls.cert_file if cfg.tls is not None else None
        self._on_up, self._on_down, self._on_ack, self._on_msg = on_up, on_down, on_ack, on_message
        self._lock = threading.Lock()
        self._status = LinkStatus(broker=str(self._brokers[0]))
        self._stopping = False
        self._connack = False
        self._answered: set[int] = set()  # brokers (by index) that sent a CONNACK in this run: no TLS port
        self._max_packet: int | None = None  # the broker's Maximum Packet Size (MQTT 5 CONNACK), if it sets one
        self._refusals = 0  # failed PUBACKs on this connection (logged the first and every 100th)
        self._sub_mids: dict[int, str] = {}  # SUBSCRIBE mid -> its filter, until its SUBACK
        self._subs_refused: dict[str, str] = {}  # filter -> why the broker refused it (this connection)
        self._subs_told: dict[str, str] = {}  # filter -> the refusal last said at error (kept across reconnects)
        # the last failure said for each broker: with a failover list the brokers' causes alternate (one refuses,
        # one is down), and a single "last text" made every attempt news, each a warning
        self._last_text: dict[str, str] = {}
        self._auth_hint = (
            f"mqtt.username={cfg.username!r} and the password from "
            + (f"${cfg.password_env}" if cfg.password_env else cfg.password_file or "nowhere (none configured)")
            if cfg.username
            else "no mqtt.username is configured (anonymous login)"
        )
        c = PahoClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else True,
        )
        c.suppress_exceptions = True  # and logged through enable_logger
        c.enable_logger(_PAHO_LOG)
        apply_tls_and_login(c, cfg, secrets.password)
        if cfg.username and secrets.password and (plain := [str(b) for b in self._brokers
                                                              if not b.tls and not b.loopback]):
            # as loud as the name check below: the password crossed the network readable by anyone on the path
            log.warning("MQTT: the password of mqtt.username=%r goes unencrypted to %s: anyone on the network path "
                        "can read it and log in as this device; use mqtts://", cfg.username, ", ".join(plain))
        if self._brokers[0].tls and cfg.tls is not None and not cfg.tls.check_hostname:
            # it was silent: a config carried over from a test bench left every device open to impersonation
            log.warning("MQTT: mqtt.tls.check_hostname is false: the broker's certificate is not checked against "
                        "its name, so any certificate the CA signed (another device's, a copied one) can pose as "
                        "the broker and receive this device's password and events")
        will_props = None
        if self._v5:
            will_props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
            will_props.ContentType = "application/json"
            will_props.UserProperty = ("schema-version", SCHEMA_VERSION)
        c.will_set(will[0], will[1], qos=1, retain=True, properties=will_props)
        c.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        c.on_pre_connect = self._guard(self._pre_connect)
        c.on_connect = self._guard(self._connected)
        c.on_connect_fail = self._guard(self._connect_failed)
        c.on_disconnect = self._guard(self._disconnected)
        c.on_publish = self._guard(lambda _c, _u, mid, rc, _p: self._published(mid, rc))
        c.on_subscribe = self._guard(lambda _c, _u, mid, codes, _p: self._subscribed(mid, codes))
        c.on_message = self._guard(lambda _c, _u, msg: self._on_msg(msg))
        self.client = c

    @property
    def v5(self) -> bool:
        return self._v5

    def status(self) -> LinkStatus:
        with self._lock:
            return self._status

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._target(self._brokers[self._index])
        self.client.loop_start()

    def stop(self, final: tuple[str, bytes] | None = None, timeout: float = 3.0) -> bool:
        """Publish ``final`` (retained, QoS 1) if connected, disconnect cleanly, stop the loop.
        Returns whether ``final`` was acked."""
        delivered = False
        with self._lock:
            self._stopping = True
            connected = self._status.connected
        if final is not None and connected:
            info = self.client.publish(final[0], final[1], qos=1, retain=True,
                                       properties=self.payload_properties() if self._v5 else None)
            try:
                info.wait_for_publish(timeout)  # returns silently on timeout …
                delivered = info.is_published()  # … hence this check
            except (RuntimeError, ValueError):  # lost the connection meanwhile: the LWT speaks for us
                delivered = False
        self.client.disconnect()
        self.client.loop_stop()
        self._set(state="stopped")
        return delivered

    def drop(self) -> None:
        """Close the connection under paho's loop: it finds it lost and connects again (its backoff), then sends again
        what it holds unacknowledged (DUP) — the only resend MQTT allows (§4.4). Nothing if not connected."""
        shutdown = getattr(self.client.socket(), "shutdown", None)  # none when not connected
        if shutdown is None:
            return
        try:
            shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, props: Properties | None = None) -> int:
        """Publish; with MQTT 5 every message says which payload contract it follows (``schema-version``).
        Raises ``PacketTooLarge`` for a message over the broker's announced Maximum Packet Size."""
        if self._v5:
            props = props or self.payload_properties()
            limit = self._max_packet
            if limit is not None and (size := publish_packet_size(topic, payload, qos, props)) > limit:
                raise PacketTooLarge(f"{size} bytes, over the broker's maximum packet size of {limit} bytes")
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=props if self._v5 else None).mid

    def still_waiting(self, mids: Iterable[int]) -> set[int]:
        """Those of ``mids`` paho still holds (not yet acknowledged). A membership test per mid, atomic under the
        GIL: iterating paho's dict from another thread while its network thread changes it would raise."""
        out = self.client._out_messages
        return {mid for mid in mids if mid in out}

    @staticmethod
    def payload_properties() -> Properties:
        """JSON content type and the contract's version, so a consumer can tell payload versions apart."""
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = "application/json"
        props.UserProperty = ("schema-version", SCHEMA_VERSION)
        return props

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe; the broker's SUBACK is checked in :meth:`_subscribed` (a refusal is no exception)."""
        with self._lock:  # under the lock: the SUBACK may be read before paho's subscribe() returns
            if self._v5:  # retain as published: a command published with retain is told apart also when it arrives live
                _rc, mid = self.client.subscribe(topic_filter, options=SubscribeOptions(qos=qos, retainAsPublished=True))
            else:
                _rc, mid = self.client.subscribe(topic_filter, qos=qos)
            if mid is not None:
                self._sub_mids[mid] = topic_filter

    def refused_subscriptions(self) -> dict[str, str]:
        """Topic filters the broker refused on this connection (SUBACK 0x80 and up), with its reason: nothing
        published there reaches the agent (the heartbeat's ``extra.subscriptions_refused``)."""
        with self._lock:
            return dict(self._subs_refused)

    @staticmethod
    def reply_properties(correlation: bytes | None) -> Properties:
        props = Connection.payload_properties()
        if correlation is not None:
            props.CorrelationData = correlation
        return props

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _target(self, broker: BrokerAddress) -> None:
        if self._v5:
            props = None
            if self._max_incoming is not None:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.MaximumPacketSize = self._max_incoming + INCOMING_OVERHEAD
            self.client.connect_async(broker.host, broker.port, self._cfg.keepalive_s, clean_start=True,
                                      properties=props)
        else:
            self.client.connect_async(broker.host, broker.port, self._cfg.keepalive_s)
        self._set(broker=str(broker))

    def _pre_connect(self, _c: object, _u: object) -> None:
        self._connack = False
        self.client.last_connect_error = None
        self.client.last_tls_read_error = None
        if self._status.state == "starting":
            self._set(state="connecting")

    def _connected(self, _c: object, _u: object, _flags: object, rc: ReasonCode, props: object) -> None:
        self._connack = True
        self._answered.add(self._index)
        self._max_packet = getattr(props, "MaximumPacketSize", None) if self._v5 else None
        if self._v5 and not rc.is_failure:
            self.client.take_receive_maximum(getattr(props, "ReceiveMaximum", None))
        self._refusals = 0
        with self._lock:  # this connection's SUBACKs say again what the broker takes
            self._sub_mids.clear()
            self._subs_refused.clear()
        if rc.is_failure:
            login = rc.value in (0x86, 0x87, 4, 5)  # v5 bad credentials / not authorised; v3 codes 4, 5
            hint = f": check {self._auth_hint}" if login else _CONNACK_HINTS.get(rc.value, "")
            self._fail("refused" if login else "closed_early", f"broker refused the connection: {rc}{hint}")
            return
        with self._lock:
            self._status = replace(
                self._status, state="connected", last_error=None, failures=0, connects=self._status.connects + 1
            )
        self._last_text = {}
        self._up_since = self._monotonic()
        (log.debug if self._flaps >= FLAPS else log.info)("MQTT %s: connected (MQTT %s)", self._status.broker,
                                                          self._cfg.protocol)
        self._on_up()

    def _connect_failed(self, _c: object, _u: object) -> None:
        self._flaps = 0  # the broker was not there: a run of short connections was its restarts, not a clone's
        exc = self.client.last_connect_error
        state, text = describe_connect_error(exc, self._cert_file) if exc else ("unreachable", "connect failed")
        self._fail(state, text)
        self._failover()

    def _disconnected(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        was_up = self._status.connected
        if was_up:
            self._on_down()
        if self._stopping:
            return
        if was_up:
            if self._flapping():
                return
            self._fail("connecting", f"connection lost ({rc}); reconnecting")
        elif not self._connack:
            self._closed_before_connack(rc)
        self._failover()

    def _closed_before_connack(self, rc: ReasonCode) -> None:
        """The broker closed the connection before its CONNACK. On plain ``mqtt://`` the likely cause is a TLS port;
        on ``mqtts://`` that hint was wrong, and a broker that requires or refuses a client certificate (TLS 1.3
        says so only after the handshake) read as one: the TLS alert is named instead. A listener that accepts the
        connection and never answers (a hung broker, something else on that port, a proxy that swallows it) was
        "plain mqtt:// to a TLS port?" too, though paho had closed it itself after ``keepalive_s``; and so was a
        proxy (HAProxy, a load balancer) closing each reconnect while the broker behind it restarted, on an address
        that had answered MQTT before."""
        self._flaps = 0  # no broker to take over a session: short connections before were its restarts (``_flapping``)
        if rc.value == _KEEPALIVE_TIMEOUT:
            self._fail("unreachable", f"no answer to CONNECT within keepalive_s ({self._cfg.keepalive_s} s): is it an "
                                      "MQTT broker on that port, and is it hung or overloaded?")
        elif not self._brokers[self._index].tls and self._index in self._answered:
            # it spoke MQTT on this plain port before: a proxy whose broker is down (it accepts and closes), not TLS
            self._fail("closed_early", "connection closed before the broker answered; it answered on this address "
                                       "before: is the broker restarting, or down behind a proxy?")
        else:
            self._fail(*closed_before_connack(self._brokers[self._index].tls, self.client.last_tls_read_error,
                                              self._cert_file, not self._v5))

    def _published(self, mid: int, rc: ReasonCode) -> None:
        if rc.is_failure:
            self._refusals += 1
            if self._refusals == 1 or self._refusals % 100 == 0:
                hint = ("the broker's message size limit (mosquitto message_size_limit / max_packet_size)"
                        if rc.value == 0x95 else "the broker ACL for this device")
                log.error("MQTT broker refused message %d (%s), %d refused since connecting: check %s", mid, rc,
                          self._refusals, hint)
        self._on_ack(mid, not rc.is_failure)

    def _subscribed(self, mid: int, codes: list[ReasonCode]) -> None:
        """The broker's SUBACK. A refused subscription (no read access to ``cmd/+``: EMQX, HiveMQ, mosquitto's
        dynamic-security plugin answer 0x80 / 0x87; its ``acl_file`` grants it and filters at delivery) was silent: the agent said "connected", looked healthy, and no command ever arrived."""
        with self._lock:
            topic_filter = self._sub_mids.pop(mid, "?")
        code = codes[0] if codes else None
        if code is None:
            return
        if code.is_failure:
            with self._lock:
                self._subs_refused[topic_filter] = str(code)
            told = self._subs_told.get(topic_filter) == str(code)
            (log.debug if told else log.error)(
                "MQTT %s: the broker refused the subscription to %s (%s): nothing sent there reaches this agent; "
                "check the broker ACL (this device needs read access to it)", self._status.broker, topic_filter, code)
            self._subs_told[topic_filter] = str(code)
            return
        with self._lock:
            self._subs_refused.pop(topic_filter, None)
        if self._subs_told.pop(topic_filter, None) is not None:
            log.warning("MQTT %s: the broker grants the subscription to %s again", self._status.broker, topic_filter)

    def note_stable(self) -> None:
        """Called now and then while connected: a connection that outlasted ``FLAP_S`` ends a run of short ones
        (said when the run was)."""
        up = self._up_since
        if self._flaps == 0 or up is None or self._monotonic() - up < FLAP_S:
            return
        flaps, told = self._flaps, self._flap_told
        self._flaps, self._flap_told, self._flap_drops = 0, None, 0
        if told is not None:
            log.info("MQTT %s: connected for %.0f s: the broker keeps the connection again (after %d short ones)",
                     self._status.broker, FLAP_S, flaps)

    def _flapping(self) -> bool:
        """Count a connection the broker closed; True when it was one more of a run of short ones (said here:
        the likely cause once, then a reminder every ``FLAP_REMIND_S``) rather than news for ``_fail``. A connect
        refused or closed before the CONNACK ends a run: a clone takes the session over from a broker that stays up,
        and a broker stopped and started every few seconds was called a cloned SD card at error level (probe
        chaos39). A broker back before any connect failed still reads as a clone: nothing on the wire tells them
        apart (mosquitto closes without a DISCONNECT when it stops)."""
        now = self._monotonic()
        lasted = None if self._up_since is None else now - self._up_since
        short = lasted is not None and lasted < FLAP_S
        self._up_since = None
        self._flaps = self._flaps + 1 if short else 0
        if self._flaps < FLAPS:
            self._flap_told, self._flap_drops = None, 0
            return False
        with self._lock:
            self._status = replace(self._status, state="connecting", last_error=(
                f"the broker closes each connection within {FLAP_S:g} s ({self._flaps} in a row)"))
        self._flap_drops += 1
        if self._flap_told is None:
            log.error("MQTT %s: the broker closed %d connections in a row within %.0f s of accepting them: another "
                      "client probably connects with this client id %r (each device needs its own "
                      "site.device_id / mqtt.client_id: a cloned SD card?; the broker's log says why it closes them); "
                      "said again every %.0f min while it goes on", self._status.broker, self._flaps, FLAP_S,
                      self.client_id, FLAP_REMIND_S / 60)
            self._flap_told, self._flap_drops = now, 0
        elif now - self._flap_told >= FLAP_REMIND_S:
            log.warning("MQTT %s: still closed by the broker soon after each connect: %d times in %.0f s (%d in a "
                        "row)", self._status.broker, self._flap_drops, now - self._flap_told, self._flaps)
            self._flap_told, self._flap_drops = now, 0
        else:
            log.debug("MQTT %s: connection closed by the broker %.1f s after it was accepted (%d in a row)",
                      self._status.broker, lasted or 0.0, self._flaps)
        return True

    # -- helpers ---------------------------------------------------------------------------
    def _fail(self, state: str, text: str) -> None:
        with self._lock:
            failures = self._status.failures + 1
            self._status = replace(self._status, state=state, last_error=text, failures=failures)
        broker = self._status.broker
        level = logging.WARNING if text != self._last_text.get(broker) or failures % 10 == 0 else logging.DEBUG
        self._last_text[broker] = text
        log.log(
            level,
            "MQTT %s: %s (attempt %d; retrying with backoff up to %d s)",
            self._status.broker, text, failures, self._cfg.reconnect_max_s,
        )

    def _failover(self) -> None:
        if len(self._brokers) > 1 and not self._stopping:
            self._index = (self._index + 1) % len(self._brokers)
            self._target(self._brokers[self._index])

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **kw)

    @staticmethod
    def _guard(fn: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object) -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("MQTT callback %s failed", getattr(fn, "__name__", fn))

        return call
