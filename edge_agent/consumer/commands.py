"""``edge-agent consume``: run one member of a consumer group until SIGTERM / Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys
import threading
from urllib.parse import parse_qsl, urlsplit

from edge_agent.consumer.quota import MIB_PER_DAY
from edge_agent.consumer.store import EVENT_DAYS, HEALTH_DAYS, HEALTH_EVERY_S
from edge_agent.masking import mask_url_credentials


def _consume(args: argparse.Namespace) -> int:
    from edge_agent.config.mqtt import refuse_readable_by_all
    from edge_agent.consumer.quota import DeviceQuota
    from edge_agent.consumer.service import Consumer
    from edge_agent.consumer.store import open_store

    tls = [f"--{k}" for k in ("ca", "cert", "key") if getattr(args, k)]
    if tls and not args.broker.startswith("mqtts://"):
        print(f"consume: {' / '.join(tls)} need an mqtts:// --broker", file=sys.stderr)
        return 2
    if bool(args.cert) != bool(args.key):
        print("consume: --cert and --key go together (mutual TLS)", file=sys.stderr)
        return 2
    try:
        if args.key:
            refuse_readable_by_all(args.key)  # one rule for every private key: the agent's mqtt.tls.key_file's
    except ValueError as exc:
        print(f"consume: --key: {exc}", file=sys.stderr)
        return 2
    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and password is None:  # was an anonymous login the broker then refused, or let in
        print(f"consume: --password-env {args.password_env}: that environment variable is not set", file=sys.stderr)
        return 2
    try:
        store = open_store(args.db, health_every_s=args.health_every_s, health_days=args.health_days,
                           event_days=args.event_days)
    except Exception as exc:  # sqlite3 / psycopg / OSError: was their traceback; the database is outside the agent
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"consume: cannot open --db {mask_url_credentials(args.db)}: {mask_url_credentials(why)}",
              file=sys.stderr)
        return 1
    stop = threading.Event()
    try:
        consumer = Consumer(args.broker, store, group=args.group, client_id=args.client_id, root=args.root,
                            username=args.username, password=password, on_taken_over=stop.set,
                            ca_file=args.ca, cert_file=args.cert, key_file=args.key,
                            quota=DeviceQuota(args.device_mib_per_day))
    except (OSError, ssl.SSLError) as exc:  # a CA / certificate / key that cannot be read or is no PEM
        store.close()
        print(f"consume: --ca / --cert / --key: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    consumer.start()
    if _ready_unless_stopped(consumer, stop, 30):
        group = f"in group {args.group}" if args.group else "(no group)"
        print(f"consuming {args.root}/+/+ as {args.client_id} {group} into "
              f"{mask_url_credentials(args.db)}", flush=True)  # a PostgreSQL URL carries its password
    elif not stop.is_set():  # say so instead of waiting in silence: the log names why (unreachable, refused)
        print(f"consume: not subscribed at {args.broker} after 30 s; still trying", file=sys.stderr, flush=True)
    stop.wait()
    consumer.stop()
    c = consumer.counters
    print(f"stopped: {c.received} messages, {c.written} written, {c.rejected} rejected"
          + (f" ({c.over_quota} over a device's quota)" if c.over_quota else ""), flush=True)
    if consumer.taken_over.is_set():
        print(f"consume: another consumer connected as --client-id {args.client_id} and took this one's session; "
              "give each instance its own --client-id", file=sys.stderr, flush=True)
        return 1
    return 0


def _broker(text: str) -> str:
    """``mqtt[s]://host[:port]``, checked as ``mqtt.brokers`` is: ``broker:1883`` (no scheme) was read as no host
    and the consumer silently consumed from 127.0.0.1 instead."""
    from edge_agent.config.mqtt import parse_broker  # here: pydantic's config models, not in every command's start

    try:
        parse_broker(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("mqtt.username / mqtt.password_env",
                                                          "--username / --password-env")) from None
    return text


def _db(text: str) -> str:
    """The database, without a password in it: the process's arguments are every user's to read on this host
    (``ps``, ``/proc/PID/cmdline``) and stay in shell history; masking the start line hid it nowhere else.
    libpq takes it from ``PGPASSWORD`` (an ``EnvironmentFile`` under systemd) or ``~/.pgpass``, as the broker's
    password comes from ``--password-env``."""
    if text.startswith(("postgresql://", "postgres://")):
        u = urlsplit(text)
        if u.password is not None or any(k.lower() == "password" for k, _ in parse_qsl(u.query)):
            raise argparse.ArgumentTypeError(
                f"{mask_url_credentials(text.split('?', 1)[0])}: no password on the command line (every user on "
                "this host reads it with ps): leave it out and give it in PGPASSWORD or ~/.pgpass")
    return text


def _level(what: str):  # noqa: ANN202 - an argparse type
    """One topic level (``--group`` is the ``$share`` name, ``--root`` the prefix's first level): a ``/``, ``+``
    or ``#`` in it made a filter the broker refuses, and the consumer waited, subscribed to nothing."""

    def check(text: str) -> str:
        from edge_agent.events.topics import valid_topic_level

        if not valid_topic_level(text):
            raise argparse.ArgumentTypeError(f"{text!r}: {what} is one topic level (no '/', '+', '#')")
        return text

    return check


def _client_id(text: str) -> str:
    """The name of the persistent session that keeps a crashed instance's messages. Empty, the broker made up
    a new id at every connect (MQTT 5): the messages it held for the instance's last session were stranded
    there, and a restarted consumer never saw them, in silence."""
    if not text:
        raise argparse.ArgumentTypeError("'': the client id names this instance's session at the broker (which "
                                         "keeps its messages across a crash); give each instance a stable, unique one")
    if "\0" in text or len(text.encode("utf-8", "surrogatepass")) > 65535:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: an MQTT client id is UTF-8 text of at most 65535 bytes "
                                         "without U+0000")
    return text


def _number(low: float, high: float, low_open: bool = False):  # noqa: ANN202 - an argparse type
    """A finite number in [``low``, ``high``] (``low_open``: above ``low``): ``nan`` or ``inf`` is no bound."""

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (low < value <= high if low_open else low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text!r}: a number {'over' if low_open else 'from'} {low:g}, "
                                             f"at most {high:g}")
        return value

    return check


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("consume", help="reference backend consumer: MQTT events into PostgreSQL or SQLite")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", type=_broker,
                   help="mqtt://host:port or mqtts://host:port (default: %(default)s)")
    p.add_argument("--db", default="edge-events.sqlite", type=_db,
                   help="postgresql://user@host/db (needs the consumer extra; the password in PGPASSWORD or "
                        "~/.pgpass, never here) or a SQLite file path")
    p.add_argument("--group", default=None, type=_level("a share name"),
                   help="shared-subscription group: instances split the load (mosquitto drops a group's messages "
                        "published between its restart and a member's reconnect); left out, a plain "
                        "subscription, which the broker keeps over its restart: one instance")
    p.add_argument("--client-id", default="consumer-1", type=_client_id, help="stable per instance and unique: its session keeps its messages, and a second instance with the same id takes the session (then the first stops, exit 1) (default: %(default)s)")
    p.add_argument("--root", default="edge", type=_level("the root"), help="first topic level of the agents' prefix")
    p.add_argument("--ca", metavar="FILE", help="PEM CA bundle for an mqtts:// broker signed by a CA of its own "
                   "(as mqtt.tls.ca_file); default: the system's trust store")
    p.add_argument("--cert", metavar="FILE", help="client certificate for mutual TLS (with --key)")
    p.add_argument("--key", metavar="FILE", help="client key for mutual TLS (with --cert)")
    p.add_argument("--username")
    p.add_argument("--password-env", help="environment variable holding the password")
    p.add_argument("--health-every-s", type=_number(0, 86400), default=HEALTH_EVERY_S,
                   help="store at most one heartbeat per device this often, 0: every one (the latest is always in "
                        "devices.last_health) (default: %(default)s)")
    p.add_argument("--health-days", type=_number(0, 3650, low_open=True), default=HEALTH_DAYS,
                   help="keep stored heartbeats this many days after they were received (default: %(default)s)")
    p.add_argument("--event-days", type=_number(0, 3650, low_open=True), default=EVENT_DAYS,
                   help="delete stored events this many days after they were received (default: keep them for ever)")
    p.add_argument("--device-mib-per-day", type=_number(0, 1_000_000, low_open=True), default=MIB_PER_DAY,
                   help="what one device may have stored, in MiB a day and at once (its messages' sizes, each plus "
                        "512 bytes); past it, its messages are refused until it sends less (an agent sends a few MB a "
                        "day) (default: %(default)s)")
    p.set_defaults(func=_consume)


def _ready_unless_stopped(consumer, stop: threading.Event, seconds: int) -> bool:  # noqa: ANN001 - Consumer
    """Wait for the subscriptions, in one-second steps so that Ctrl-C or SIGTERM meanwhile stops at once: one
    wait of 30 s went on through them (a broker that cannot be reached: Ctrl-C did nothing for half a minute)."""
    for _ in range(seconds):
        if stop.is_set():
            return False
        if consumer.wait_ready(1):
            return True
    return False
