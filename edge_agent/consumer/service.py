"""MQTT consumer: one instance on a plain subscription, or several in one group (``$share``) splitting the messages.

Without a group the subscription is a plain one, which mosquitto (2.0.11, measured) keeps in an offline session
over its own restart; a ``$share`` subscription it does not: what the agents published between the broker's
restart and the member's reconnect reached no member and was gone (probe chaos34: 314 of 906 events). So a single
instance subscribes plainly, and a group is the choice for load, with that caveat.

Exactly once per ``event_id`` in the database, from at-least-once delivery:
1. the session is persistent (MQTT 5 ``clean_start=False`` + session expiry) and the client id stable, so
   messages sent to an instance that was killed wait for it at the broker;
2. paho runs with ``manual_ack``: a message is acknowledged only after the transaction holding it committed,
   so a crash between receive and commit means redelivery, never loss;
3. the store's writes are idempotent (``ON CONFLICT``), so a redelivery never becomes a second row.

A message the database refuses for its content (DB-API ``DataError`` / ``IntegrityError``: PostgreSQL
takes no U+0000) is set aside — logged, counted as rejected, acknowledged — once the batch has been
retried message by message: held, it would be retried for ever and stop every device's messages
behind it. Any other error (the database is down) holds the whole batch, as above.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.clock import parse_iso
from edge_agent.consumer.quota import DeviceQuota
from edge_agent.consumer.store import Record, Store
from edge_agent.events.log_budget import LogBudget
from edge_agent.events.schemas import SCHEMA_VERSION
from edge_agent.jsondepth import too_deep, unique_names

log = logging.getLogger(__name__)

#: MQTT 5 DISCONNECT reason: another client connected with the same client id
SESSION_TAKEN_OVER = 142
#: FLAPS connections in a row that the broker closed within FLAP_S of accepting them: a client id in use twice
FLAPS, FLAP_S = 3, 5.0
#: a write the database keeps refusing is said again this often (its first failure with the traceback)
SAY_EVERY_S = 60.0

KINDS = {"events": "event", "health": "health", "status": "status"}
_VERSION = re.compile(r"(\d{1,6})\.(\d{1,6})\.(\d{1,6})")
#: (site, device, version) pairs already said newer than this consumer's contract, at most this many
_SAID_MAX = 4096
#: a bay state whose ``since`` is further ahead of the consumer's clock than this is refused
FUTURE_SINCE_S = 86400.0
#: messages waiting for the writer past which a QoS 0 one (a heartbeat) is dropped on arrival
QUEUE_MAX = 10_000
#: the largest document stored. The agent's are a few kB (a heartbeat ~1.5 kB, an event under 64 kB with every
#: field at its cap); a device's credentials stored three 100 MB events in 3 s (the broker's default limit is
#: 256 MB a message). Told to the broker as the Maximum Packet Size (MQTT 5), with room for topic and properties
MAX_DOCUMENT_BYTES = 1 << 20
PACKET_OVERHEAD = 64 * 1024
#: refused messages in the log: a burst of this many lines, then one more every REFUSAL_LOG_EVERY_S (the rest at
#: debug, counted in the next line), as the agent logs refused commands. Why: each was an ERROR line, and a
#: device's credentials sent 171,696 one-byte heartbeats in 5 s: 45,204 lines, 10.7 MB, ~2 MB of log a second
REFUSAL_LOG_BURST, REFUSAL_LOG_EVERY_S = 20, 60.0
#: the longest text (UTF-8 bytes) taken for a value the store indexes: the topic's site, device and bay levels, an
#: event's ``event_id`` and ``ts``, a heartbeat's ``ts``. The agent's are at most 64 (ids) and ~30 (times); three of
#: these make one index entry (``events (site, device, ts)``), and PostgreSQL refuses an entry over 2,704 bytes
#: (``program_limit_exceeded``, which no retry gets past): one event whose ``event_id`` was 8,000 characters held
#: every device's messages behind it for ever, and again after each restart (it was never acknowledged)
MAX_KEY_BYTES = 256


def schema_version(msg: mqtt.MQTTMessage) -> str | None:
    """The ``schema-version`` user property (MQTT 5; every publish of the agent carries one), if it is a version."""
    for key, value in getattr(getattr(msg, "properties", None), "UserProperty", None) or []:
        if key == "schema-version" and isinstance(value, str) and _VERSION.fullmatch(value):
            return value
    return None


def newer_contract(version: str, ours: str = SCHEMA_VERSION) -> bool:
    """A contract this consumer was not written for: another major, or a later minor (new fields, new types)."""
    (major, minor, _), (our_major, our_minor, _) = (tuple(int(n) for n in v.split(".")) for v in (version, ours))
    return major != our_major or minor > our_minor


def subscriptions(group: str | None, root: str = "edge") -> list[str]:
    """The filters a consumer subscribes: plain ones without a group (the broker keeps them, and the messages for
    them, in the session over its restart); with one, shared (``$share`` splits each message to one member)."""
    base = f"$share/{group}/{root}/+/+" if group else f"{root}/+/+"
    return [f"{base}/events", f"{base}/bays/+/state", f"{base}/health", f"{base}/status"]


#: the group every instance joined by default until 2026-12-06 (0.23.0 and older)
OLD_DEFAULT_GROUP = "edge-consumers"


def stale_subscriptions(group: str | None, root: str = "edge") -> list[str]:
    """The filters an earlier run under the same client id may have left in its persistent session that this one
    must not keep: the plain ones when in a group, the old default group's when not (or in another group). Why: the
    session keeps every filter ever subscribed; upgraded from the old default, an instance got each event twice,
    and instances that ran plainly and were then given a group each still received every message: the group split
    nothing."""
    stale = subscriptions(OLD_DEFAULT_GROUP, root) if group != OLD_DEFAULT_GROUP else []
    return stale + (subscriptions(None, root) if group else [])


def parse(topic: str, payload: bytes, now: float | None = None) -> Record | None:
    """``{root}/{site}/{device}/…`` → a Record; None for anything that is not one of ours or not JSON."""
    found = read(topic, payload, now)
    return found if isinstance(found, Record) else None


def read(topic: str, payload: bytes, now: float | None = None) -> Record | str:
    """:func:`parse`, saying why a message is refused. Never raises, whatever the payload: it runs on the
    MQTT client's network thread, and an exception there stopped the consumer in silence (a document nested
    100,000 deep, an integer of 5,000 digits), and the unacknowledged message stopped it again at each start.

    ``now`` (epoch seconds, the consumer's clock): a bay state whose ``since`` is more than FUTURE_SINCE_S
    ahead of it is refused. The newest ``since`` wins in ``bay_states``, so one state from a device whose clock
    ran to 2099 (or from anyone posing as it) held the bay's row for ever: every true state after it was older."""
    if len(payload) > MAX_DOCUMENT_BYTES:  # before any parse: a broker that ignores the Maximum Packet Size
        return f"{len(payload)} bytes, over the {MAX_DOCUMENT_BYTES} bytes any document of the agent's fits in"
    parts = topic.split("/")
    if len(parts) < 4:
        return "not a device topic"
    site, device, rest = parts[1], parts[2], parts[3:]
    if not site or not device:  # ``edge//dev/status``: no device publishes there (``+`` matches an empty level)
        return "not a device topic (an empty site or device level)"
    long = _too_long(("site", site), ("device", device), *((("bay", rest[1]),) if len(rest) == 3 else ()))
    if long:
        return f"the topic's {long}"
    if len(rest) == 3 and rest[0] == "bays" and rest[2] == "state":
        kind, bay = "state", rest[1]
    elif len(rest) == 1 and rest[0] in KINDS:
        kind, bay = KINDS[rest[0]], None
    else:
        return "not a topic the consumer stores"
    if kind == "state" and not payload:  # the device cleared the retained state: the bay left its config
        return Record(site, device, "state_cleared", bay, {})
    if too_deep(payload):  # refused before the parser runs the stack to its limit (jsondepth)
        return "not standard JSON in UTF-8 (nested too deeply)"
    try:
        # a name given twice: which value counts is each parser's choice, and the agent never writes one
        doc = json.loads(payload, parse_constant=_no_constant, object_pairs_hook=unique_names)
        # the store writes the document back as UTF-8 JSON: text no UTF-8 can hold (a lone surrogate
        # escape, "\ud800") was refused by the driver at every retry, and every message behind it waited
        json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")  # 1e400 reads as inf
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeError and the rest are ValueErrors
        return f"not standard JSON in UTF-8 ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(doc, dict):
        return "not a JSON object"
    wrong = [k for k, rule in _COLUMNS[kind].items() if not _fits(doc, k, rule)]
    if wrong:
        return f"{', '.join(wrong)} missing or of the wrong type for a {kind}"
    long = _too_long(*((k, doc.get(k)) for k in _KEYS.get(kind, ())))
    if long:
        return f"the {kind}'s {long}"
    if kind == "state":
        for key in ("since", "ts"):  # the store keeps both in UTC: one past its range stopped every write
            if _ahead_s(doc.get(key), 0.0) is None:
                return f"{key} {str(doc[key])[:40]!r} is past the range of UTC times"
        ahead = _ahead_s(doc.get("since"), now) if now is not None else None
        if ahead is not None and ahead > FUTURE_SINCE_S:
            return (f"since {str(doc['since'])[:40]!r} is {ahead / 3600:.0f} h ahead of this consumer's clock (is the "
                    "device's clock wrong?): kept, it would hold the bay's row against every later state")
    return Record(site, device, kind, bay, doc)


def _ahead_s(stamp: object, now: float) -> float | None:
    """How far an aware ISO-8601 ``stamp`` is ahead of ``now``; 0 for anything else (the store uses the time
    it received those instead); None for one no UTC time can hold (``0001-01-01T00:00:00+14:00``)."""
    if not isinstance(stamp, str):
        return 0.0
    try:
        when = parse_iso(stamp)
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        return 0.0
    try:
        return when.astimezone(timezone.utc).timestamp() - now
    except (OverflowError, ValueError):
        return None


def _no_constant(name: str) -> Any:
    """NaN and ±Infinity are no JSON (RFC 8259): PostgreSQL's JSONB refuses them and any other reader of
    a stored SQLite document would too."""
    raise ValueError(f"{name} is not a JSON number")


# what the store keeps in columns: "str" required, "str?" absent / null / a string, "str-" absent or a string
# (the store fills a default), "object-" absent or an object
_COLUMNS = {
    "event": {"event_id": "str", "type": "str", "ts": "str", "bay_id": "str?", "visit_id": "str?",
              "evidence_id": "str?", "data": "object-"},
    "state": {"state": "str-", "since": "str-"},
    "health": {"ts": "str-"},
    "status": {"state": "str?"},
}


# the document's values the store indexes (MAX_KEY_BYTES)
_KEYS = {"event": ("event_id", "ts"), "health": ("ts",)}


def _too_long(*named: tuple[str, object]) -> str:
    """The first of ``named`` (name, value) whose text is over MAX_KEY_BYTES in UTF-8, said; "" when none is."""
    for name, value in named:
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            return f"{name} is {len(value)} characters, over the {MAX_KEY_BYTES} bytes a key the store indexes may be"
    return ""


def _fits(doc: dict[str, Any], key: str, rule: str) -> bool:
    if key not in doc:
        return rule != "str"
    value = doc[key]
    if value is None:
        return rule == "str?"
    return isinstance(value, dict if rule.startswith("object") else str)


@dataclass
class Counters:
    received: int = 0
    written: int = 0
    rejected: int = 0
    dropped: int = 0  # QoS 0 messages not queued: QUEUE_MAX were waiting for the writer
    over_quota: int = 0  # refused (and counted in ``rejected``): their device was over its quota
    batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Consumer:
    """One consumer (a member of a group with ``group``). ``start()``, then ``stop()``; ``counters`` for the curious."""

    def __init__(self, broker_url: str, store: Store, group: str | None = None, client_id: str = "consumer-1",
                 root: str = "edge", username: str | None = None, password: str | None = None,
                 batch_max: int = 500, session_expiry_s: int = 86400,
                 on_taken_over: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None,
                 wall: Callable[[], float] = time.time, quota: DeviceQuota | None = None) -> None:
        u = urlparse(broker_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or (8883 if u.scheme == "mqtts" else 1883)
        self.store, self.group, self.root = store, group, root
        self.batch_max = batch_max
        self.queue_max = QUEUE_MAX
        self._dropping = False  # said once per run of drops
        self.retry_s = 2.0  # between writes while the database refuses them
        self.counters = Counters()
        self._q: queue.Queue[tuple[int, int, Record | None] | None] = queue.Queue()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, name="consumer-writer", daemon=True)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        if u.scheme == "mqtts":  # a site broker's own CA (deploy/mosquitto/mosquitto-tls.conf), mutual TLS
            c.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file)
        if username:
            c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        self.client_id = client_id
        self.taken_over = threading.Event()
        self._on_taken_over = on_taken_over
        self._clock = clock
        # a device sending junk must not fill the log (one line a message)
        self._refusals = LogBudget(log, clock, REFUSAL_LOG_BURST, REFUSAL_LOG_EVERY_S, logging.ERROR,
                                   "refused message(s)")
        self._wall = wall  # epoch seconds: how far ahead a bay state's `since` is
        self.quota = quota if quota is not None else DeviceQuota()
        self._quota_log = LogBudget(log, clock, REFUSAL_LOG_BURST, REFUSAL_LOG_EVERY_S, logging.WARNING,
                                    "quota line(s)")
        self._connected_at: float | None = None
        self._flaps, self._flap_said = 0, False
        self._said_newer: set[tuple[str, str, str]] = set()
        self._unreachable = False  # logged once per run of failed attempts
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.reconnect_delay_set(1, 30)
        self._session_expiry = session_expiry_s
        self.client = c

    def start(self) -> "Consumer":
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry
        props.MaximumPacketSize = MAX_DOCUMENT_BYTES + PACKET_OVERHEAD  # the broker drops a bigger one unsent
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self._worker.start()
        self.client.loop_start()
        return self

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        """Write what was received, acknowledge it, disconnect (unacked messages stay with the session;
        a batch the database still refuses is left unacknowledged, so the broker delivers it again)."""
        self._stopping.set()
        self._q.put(None)
        self._worker.join(30)
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()

    # -- paho thread ------------------------------------------------------------------------------
    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        if not self._unreachable:
            self._unreachable = True
            log.warning("consumer: cannot connect to the broker at %s:%d; retrying (up to every 30 s)",
                        self.host, self.port)

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _flags: Any, rc: Any, _p: Any) -> None:
        """Two instances on one client id take the session from each other for ever: each reconnect kicks the
        other off, and each acknowledges message ids of the other's connection. A broker that says so (MQTT 5
        reason 142, "session taken over") stops this instance: reconnecting would only take the session back.
        One that just closes the socket (mosquitto 2.0.11) shows as connections the broker accepts and then
        drops within seconds, again and again: that is logged once, as the likely cause, and kept trying
        (either instance could be the one to stop, and a consumer group must not lose both)."""
        if getattr(rc, "value", None) == SESSION_TAKEN_OVER:
            log.error("consumer: another client connected as %r and took this one's session; stopping "
                      "(give each instance its own --client-id)", self.client_id)
            client.disconnect()  # no automatic reconnect
            self.taken_over.set()
            if self._on_taken_over is not None:
                self._on_taken_over()
            return
        if self._stopping.is_set() or self._connected_at is None:
            return
        short = self._clock() - self._connected_at < FLAP_S
        self._connected_at = None
        self._flaps = self._flaps + 1 if short else 0
        if self._flaps == FLAPS and not self._flap_said:
            self._flap_said = True
            log.error("consumer: the broker closed %d connections in a row within %.0f s of accepting them: another "
                      "client is probably connected as %r (give each instance its own --client-id)",
                      FLAPS, FLAP_S, self.client_id)

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, rc: Any, _p: Any) -> None:
        self._unreachable = False
        if rc.is_failure:
            log.warning("consumer: broker refused the connection: %s", rc)
            return
        self._connected_at = self._clock()
        client.unsubscribe(stale_subscriptions(self.group, self.root))  # before: none of its messages arrive after
        client.subscribe([(f, 1) for f in subscriptions(self.group, self.root)])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        """Ready only once the broker granted the subscriptions: a message published before that is not ours."""
        if all(not getattr(rc, "is_failure", False) for rc in codes):
            self._ready.set()
        else:
            log.error("consumer: broker refused a subscription: %s", codes)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """Queue every message, a refused one too (it is acknowledged in its batch), and say why it is refused.

        A QoS 0 message (the heartbeats) arriving while ``queue_max`` wait is dropped: QoS 1 ones are bounded by
        the broker's in-flight window (nothing is acknowledged while the database is down), QoS 0 ones by nothing,
        and a database down overnight held every device's heartbeats in memory (500 devices at the default 60 s:
        30,000 an hour, ~2.4 kB each for a 1.5 kB document), as did any client flooding a health topic at QoS 0
        faster than the database wrote."""
        if msg.qos == 0 and self._q.qsize() >= self.queue_max:
            with self.counters.lock:
                self.counters.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.error("consumer: %d messages wait for the database; QoS 0 messages (heartbeats) dropped until "
                          "fewer wait (QoS 1 ones are kept)", self.queue_max)
            return
        if self._dropping and self._q.qsize() < self.queue_max // 2:
            self._dropping = False
            log.warning("consumer: the database caught up; %d QoS 0 messages dropped so far", self.counters.dropped)
        try:
            found = read(msg.topic, bytes(msg.payload), self._wall())
        except Exception as exc:  # noqa: BLE001 - read never raises; the network thread must not die if it did
            found = f"{type(exc).__name__}: {exc}"
        if isinstance(found, str):
            self._refusals.say("consumer: refused a message on %s (%d bytes): %s; set aside", msg.topic[:200],
                               len(msg.payload), found)
            self._q.put((msg.mid, msg.qos, None))
            return
        if not self._within_quota(found, len(msg.payload)):
            self._q.put((msg.mid, msg.qos, None))
            return
        version = schema_version(msg)
        if version is not None:
            found = replace(found, schema=version)
            if newer_contract(version) and (found.site, found.device, version) not in self._said_newer \
                    and len(self._said_newer) < _SAID_MAX:
                self._said_newer.add((found.site, found.device, version))
                log.warning("consumer: %s/%s sends contract %s, this consumer knows %s: stored as received "
                            "(events.schema_version says which), fields it does not know kept in the document",
                            found.site, found.device, version, SCHEMA_VERSION)
        self._q.put((msg.mid, msg.qos, found))

    def _within_quota(self, r: Record, nbytes: int) -> bool:
        """Whether the device may have this stored (``quota``): every message costs but a cleared bay state (a row
        deleted) and a heartbeat within ``health_every_s`` of the last that cost (it only updates the device's row).
        A status costs too: on a broker that leaves the site level open, each made-up site was a ``devices`` row."""
        if r.kind == "state_cleared":
            return True
        every = max(0.0, float(getattr(self.store, "health_every_s", 0.0))) if r.kind == "health" else None
        ok, refused, refused_bytes = self.quota.take((r.site, r.device), nbytes, self._clock(), every)
        if ok:
            if refused:
                self._quota_log.say("consumer: %s/%s is within its quota again; %d message(s) (%.1f MiB) were "
                                    "refused while it was over", r.site[:64], r.device[:64], refused,
                                    refused_bytes / (1 << 20))
            return True
        with self.counters.lock:
            self.counters.over_quota += 1
        if refused == 1:
            self._quota_log.say("consumer: %s/%s is over its quota of %g MiB a day (--device-mib-per-day): its "
                                "messages are refused (acknowledged, not stored) until it "
                                "sends less; other devices are not affected", r.site[:64], r.device[:64],
                                self.quota.size / (1 << 20))
        return False

    # -- writer thread ----------------------------------------------------------------------------
    def _work(self) -> None:
        done = False
        while not done:
            item = self._q.get()
            batch = [item]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                done = True
                batch = [b for b in batch if b is not None]
            self._commit([b for b in batch if b is not None])

    def _commit(self, batch: list[tuple[int, int, Record | None]]) -> None:
        if not batch:
            return
        records = [r for _, _, r in batch if r is not None]
        failing_since = said_at = None
        while True:
            try:
                refused = self._write(records)
                break
            except Exception as exc:  # database down: hold the acks (the broker keeps the messages) and retry
                # said once with its traceback, then a line a minute: a traceback every 2 s filled the journal
                # with 1,800 of them an hour while the database was down
                now = self._clock()
                if failing_since is None or said_at is None:
                    failing_since = said_at = now
                    log.exception("consumer: write failed; retrying every %g s, acknowledging nothing meanwhile",
                                  self.retry_s)
                elif now - said_at >= SAY_EVERY_S:
                    said_at = now
                    log.error("consumer: writes still failing after %.0f s: %s", now - failing_since,
                              (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200])
                if self._stopping.wait(self.retry_s):
                    return  # stopping: leave the batch unacknowledged for redelivery
        if failing_since is not None:
            log.warning("consumer: written again after %.0f s of failed writes", self._clock() - failing_since)
        for mid, qos, _ in batch:
            if qos > 0:
                self.client.ack(mid, qos)
        with self.counters.lock:
            self.counters.received += len(batch)
            self.counters.written += len(records) - refused
            self.counters.rejected += len(batch) - len(records) + refused
            self.counters.batches += 1

    def _write(self, records: list[Record]) -> int:
        """Write the batch; when the database refuses it for its content, write it message by message
        and set aside those it refuses alone. Returns how many were set aside; raises otherwise."""
        try:
            self.store.write(records)
            return 0
        except Exception as exc:
            if not refuses_content(exc):
                raise
        refused = 0
        for r in records:
            try:
                self.store.write([r])
            except Exception as exc:
                if not refuses_content(exc):
                    raise
                refused += 1
                self._refusals.say("consumer: the database refused a %s from %s/%s (%s); set aside: %s", r.kind,
                                   r.site, r.device, str(exc).splitlines()[0][:200],
                                   json.dumps(r.doc, ensure_ascii=True)[:300])
        return refused


def refuses_content(exc: BaseException) -> bool:
    """The DB-API says the data itself is wrong (``DataError``, ``IntegrityError``), in sqlite3 and
    psycopg alike; ``OperationalError`` and the rest are the database's own trouble, worth a retry. PostgreSQL's
    class 54, a limit exceeded (an index entry too large), is an ``OperationalError`` to psycopg, but it is the
    value's: no retry ever gets past it (``MAX_KEY_BYTES`` keeps the known ones out before the database)."""
    if str(getattr(exc, "sqlstate", None) or "").startswith("54"):
        return True
    return any(c.__name__ in ("DataError", "IntegrityError") for c in type(exc).__mro__)
