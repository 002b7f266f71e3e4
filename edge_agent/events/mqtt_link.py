"""The MQTT component: bus → durable outbox → broker, status/health out, commands in.

    link = build_mqtt(cfg, bus, control, clock, health)   # opens the outbox, joins the bus
    link.start()                                          # returns at once; connects in the background
    ...
    link.stop()                                           # flush, retained ``offline``, disconnect

Topic tree (prefix default ``edge/{site}/{device}``): ``status`` (retained; the LWT is the
offline document), ``bays/{bay}/state`` (retained), ``events`` (QoS 1), ``health``
(heartbeat), ``cmd/{name}`` in, replies to the MQTT 5 response topic / ``reply_to`` /
``reply``. Events and states go through the outbox (on disk first); status, health,
replies and discovery are about *now* and are published directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge_agent import __version__
from edge_agent.clock import Clock, iso
from edge_agent.config.load import ConfigError
from edge_agent.config.models import AgentConfig
from edge_agent.config.mqtt import MqttSecrets, SecretError, read_hmac_keys, read_secrets
from edge_agent.control import AgentControl
from edge_agent.durable import write_durably
from edge_agent.events.bus import EventBus
from edge_agent.events.command_handler import COMMAND_MAX_BYTES, Command, CommandHandler, Reply
from edge_agent.events.command_queue import URGENT, URGENT_MAX_BYTES, CommandQueue, lock_kind_too_big
from edge_agent.events.connection import Connection, LinkStatus, PacketTooLarge, TlsFileError
from edge_agent.events.discovery import discovery_messages
from edge_agent.events.health import HealthSource, cpu_temp_c, disk_use
from edge_agent.events.log_budget import LogBudget
from edge_agent.events.outbox import Outbox
from edge_agent.events.pump import OutboxPump
from edge_agent.events.refusals import RefusalLimiter
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.schemas import quote
from edge_agent.events.topics import Topics, valid_topic_level, valid_topic_name
from edge_agent.events.types import BayState, Event, EventType, OutboxSeen
from edge_agent.events.unsent import LoggedEvents, missing_events, note_start
from edge_agent.plates import normalise_plate

log = logging.getLogger(__name__)

OVERFLOW_EVENT = "outbox_overflow"
LOST_EVENT = "outbox_lost"
#: the shortest wait for a PUBACK before a connection that acknowledges nothing is made again (2 × keepalive if longer)
ACK_WAIT_MIN_S = 60.0
REPLAY_FILE = "command-replay.sqlite"  # beside the outbox: signed commands already received
HA_FILE = "ha-discovery.json"  # beside the outbox: the Home Assistant config topics published last
BAYS_FILE = "mqtt-bays.json"  # beside the outbox: the bays whose state this device has published retained
OPEN_RETRY_S = 5.0  # an outbox a full disk kept closed is tried again this often (and at every write)
# Payload bytes the command queue may hold: a count alone let 1,000 queued commands of 20 MB each hold 20 GB.
# One command of any allowed size always fits in an empty queue.
COMMAND_QUEUE_BYTES = 32 * 2**20
# Replies beyond this many of the link's own replies waiting in paho's queue are dropped (counted
# ``replies_dropped``). Why: every command gets a reply, a busy or malformed one too, and paho holds each in memory
# until the broker acknowledges it (20 in flight): a flood of 8,000 garbage commands a second, within mosquitto's
# defaults, grew a real ``run`` from 197 to 768 MB in 100 s, and a real command's reply waited behind the flood's tens
# of thousands (23 of 24 never came). Events go out of the outbox a window at a time and so wait behind at most this
# many replies. Only replies count: a bound on paho's whole queue dropped every reply, a done lock command's too,
# while the outbox drained (``outbox.window`` up to 10,000) or a reconnect said the retained states again.
REPLY_BACKLOG = 500
# Commands dear to serve that may wait at once, each; more are told ``busy`` (``command_queue.py``: 1,000 queued
# snapshots held a real run's command thread over 60 s, and the ``unlock`` behind them was refused ``stale``).
SNAPSHOTS_WAITING = 16
DEAR_WAITING = {"snapshot": SNAPSHOTS_WAITING, "set-lists": 4, "reload-config": 4}
REPLY_LOG_BURST, REPLY_LOG_EVERY_S = 5, 60.0
# ``set-lists`` that come within this many seconds of the last one written are held, then applied together with one
# write of ``overrides.yaml`` (the last to name a list wins) and each answered; more than LISTS_HELD held are ``busy``.
# Why: a flood rewrote the file (fsync, rename) at the rate the command thread served them: an SD card's wear.
LISTS_EVERY_S = 2.0
LISTS_HELD = 100
# At stop, how long the commands already queued may still run (their replies go out before the disconnect): a lock
# move takes seconds. At most: the stop's own ``flush_s`` bounds the drain and the flush together (``stop``).
COMMANDS_DRAIN_S = 5.0
FLUSH_KEPT_S = 0.5  # of the stop's time, kept for the outbox's flush (the drained commands' events among it)
OFFLINE_MIN_S = 0.2  # the least wait for the offline status's PUBACK once the stop's time is spent


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _names_in(path: Path, unread: str) -> list[str]:
    """The strings of the JSON list an earlier run wrote to ``path`` (what it published retained); none when
    there is no file, or it cannot be read (logged with ``unread``: what may then stay on the broker)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s (%s): %s", path, exc, unread)
        return []
    return [n for n in doc if isinstance(n, str)] if isinstance(doc, list) else []


class MqttLink:
    def __init__(
        self,
        cfg: AgentConfig,
        bus: EventBus,
        control: AgentControl,
        clock: Clock,
        health: HealthSource,
        secrets: MqttSecrets,
        outbox_path: Path,
        command_queue: int = 1000,
        command_max_bytes: int = COMMAND_MAX_BYTES,
        queue_bytes: int = COMMAND_QUEUE_BYTES,
    ) -> None:
        m = cfg.mqtt
        self._cfg, self._m, self._clock, self._health = cfg, m, clock, health
        self._restart_needed: list[str] = []  # sections a reload read but only a restart applies
        # more of the online status: the page's certificate's dates (web/cert_notices), asked at each publish
        self.status_fields: list[Callable[[], dict[str, Any]]] = []
        # who else hears the events ``put_missing`` puts in (run's events.jsonl: ``assemble``), oldest first
        self.resending: list[Callable[[list[Event]], object]] = []
        self.site, self.device = cfg.site.site_id, cfg.site.device_id
        self.topics = Topics(m.prefix(self.site, self.device), m.home_assistant.discovery_prefix, m.topic_prefix)
        self.simulator = any(lk.driver == "simulator" for lk in cfg.locks)  # only then: {prefix}/sim/+
        self._protected = frozenset(m.outbox.protected_types)
        self._started_at = clock.now()
        self._started_mono = clock.monotonic()
        self._outbox_dir = outbox_path.parent  # the notices read its free space: the first while the outbox opens
        try:
            self.outbox = Outbox(
                outbox_path, m.outbox.max_rows, m.outbox.overflow, m.outbox.synchronous, notice=self._overflow_notice,
                reserve_bytes=int(m.outbox.reserve_mb * 1e6), lost_notice=self._lost_notice, on_lost=self._on_lost,
                lazy=True,  # consumers de-duplicate on event_id; every start publishes each retained document anew
                damage_notice=self._damage_notice,
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("mqtt", [f"mqtt.outbox.path: cannot open {outbox_path}: {exc}"]) from None
        self._command_max_bytes = command_max_bytes
        try:
            self.conn = Connection(
                m, secrets, m.client_id or self.device, (self.topics.status, _json(self._status_doc(False))),
                max_incoming=command_max_bytes,
                on_up=self._on_up, on_down=lambda: self.pump.connected(False),
                on_ack=lambda mid, ok: self.pump.acked(mid, ok), on_message=self._on_message,
            )  # fmt: skip
        except TlsFileError as exc:  # an unreadable CA / cert / key: the text names its key and file
            self.outbox.close()
            raise ConfigError("mqtt", [str(exc)]) from None
        except (OSError, ValueError) as exc:
            self.outbox.close()
            raise ConfigError("mqtt", [f"mqtt.tls: cannot load the TLS files: {exc}"]) from None
        self.pump = OutboxPump(self.outbox, self._publish_row, m.outbox.window, clock.monotonic)
        # a connection on which nothing is acknowledged this long is made again (``_check_acks``)
        self.ack_wait_s = max(ACK_WAIT_MIN_S, 2.0 * m.keepalive_s)
        self.acks_missed = 0  # connections dropped for it
        self._dropped_at: float | None = None
        replay = None
        if secrets.hmac_key is not None:
            replay_path = outbox_path.parent / REPLAY_FILE
            try:
                replay = ReplayMemory(replay_path, clock)
            except (OSError, sqlite3.Error) as exc:
                self.outbox.close()
                raise ConfigError("mqtt", [f"mqtt.outbox.path: cannot open {replay_path}: {exc}"]) from None
        self._control = control  # the held set-lists read the lists it runs (``kept_since``)
        self.commands = CommandHandler(control, self.topics, self.device, clock, m.command_max_age_s,
                                       secrets.hmac_key, replay, secrets.hmac_previous,
                                       m.command_device == "required", self.site, m.command_site == "required")
        self.refusals = RefusalLimiter(clock, m.outbox.repeat_refusal_s)
        self._cmd_q = CommandQueue(command_queue, queue_bytes, DEAR_WAITING)
        self._stop = threading.Event()
        self._next_beat: float | None = None  # monotonic; None until connected
        self._next_open_try = 0.0
        self._beat_lock = threading.Lock()
        self.heartbeats = 0
        self.heartbeats_too_large = 0  # over the broker's Maximum Packet Size: skipped
        self.commands_busy = 0  # counted from paho's thread (a full queue) and the command loop's (lists held): ``_busy``
        self._busy_lock = threading.Lock()
        # checked set-lists waiting for LISTS_EVERY_S: whom to answer (``reply_stub``), and the lists as the last of
        # them to name each gave it
        self._held_lists: list[tuple[Command, dict[str, Any]]] = []
        self._held_allow: list[str] | None = None
        self._held_deny: list[str] | None = None
        # each held list's base: the agent's (allow, deny), both, when the command naming it was held, and the number
        # of the page's last list edit then (``kept_since``)
        self._held_base: list[tuple[tuple[list[str], list[str]], int] | None] = [None, None]
        self._lists_next = clock.monotonic()  # when the next set-lists may be written (LISTS_EVERY_S after the last)
        self.commands_too_large = 0
        self.replies_dropped = 0  # over REPLY_BACKLOG of our replies waiting in paho's queue
        self._replies: set[int] = set()  # mids of the replies paho may still hold (pruned at each reply)
        # and those of lock commands the agent acted on: room of their own (``_send_reply``)
        self._lock_replies: set[int] = set()
        self._replies_lock = threading.Lock()  # replies go out from the command worker and paho's thread (busy)
        self._reply_log = LogBudget(log, clock.monotonic, REPLY_LOG_BURST, REPLY_LOG_EVERY_S, logging.WARNING,
                                    "dropped reply line(s)")
        self._threads: list[threading.Thread] = []
        self._ha_file = outbox_path.parent / HA_FILE
        self._discovery = self._published_discovery()  # HA config topics on the broker (this run's or a previous)
        self._ha_lock = threading.Lock()  # a reload (command thread) and a reconnect (paho's) may publish at once
        self._bays_file = outbox_path.parent / BAYS_FILE
        self._state_bays = self._published_bays()  # bays with a retained state on the broker (this run's or before)
        # the newest retained document handed to the outbox per topic (bay states, daily stats): said again at every
        # connect, like the status, since a broker restarted without persistence (mosquitto's default) forgot them
        self._retained: dict[str, bytes] = {}
        self._unstored: set[str] = set()  # of those, the topics whose newest document the outbox could not take
        self._retained_lock = threading.Lock()
        self._unsubscribe = [bus.subscribe(self._on_event), bus.subscribe_state(self._on_state)]

    # -- public API --------------------------------------------------------------------------
    def start(self) -> None:
        """Start publishing; never blocks on the broker and never raises when it is down."""
        self._clear_removed_bays()  # a bay taken out of the config while the agent was stopped
        self.pump.start()
        for name, target in (("mqtt-commands", self._command_loop), ("mqtt-ticker", self._tick_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self.conn.start()

    def stop(self, flush_s: float = 3.0) -> None:
        """Let the commands already queued run and answer them, deliver what the outbox holds, all within
        ``flush_s``; publish ``offline``, disconnect. Undelivered rows stay on disk for the next start. Safe to call
        twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        ends = time.monotonic() + flush_s  # real time: the threads are joined in it, whatever clock is injected
        self._cmd_q.close()  # the command thread ends once the commands already queued have run …
        # … and their replies go out before the disconnect, as does ``shutting_down`` to a command that comes
        # meanwhile: disconnected first, the queued commands ran with their replies lost, and a command that came
        # after the close waited for a thread that had ended. Never answered, nor redelivered: we connect with
        # clean start, so the broker forgets a message paho has acknowledged (on receipt) once we are gone.
        # Within ``flush_s`` (``run``'s stop plan gives the link what is left of ``ops.stop_timeout_s``): a fixed
        # 5 s here outlasted the plan's step, which moved on, and the process ended without the clean ``offline``.
        workers = [t for t in self._threads if t is not threading.current_thread()]  # reload-config may stop us
        for t in workers:
            if t.name == "mqtt-commands":
                t.join(max(0.0, min(COMMANDS_DRAIN_S, ends - FLUSH_KEPT_S - time.monotonic())))
                if t.is_alive():
                    # those not begun are answered, never run: run after the disconnect (the thread goes on), a
                    # lock move met a lock stage already stopped, and no reply told the backend whether it ran
                    left = self._cmd_q.take_all()
                    for cmd in left:
                        self._send_reply(self.commands.shutting_down(cmd))
                    log.warning("MQTT stop: a command still running at the stop's end, its reply may be lost; "
                                "%d queued answered shutting_down, not run", len(left))
        # the bus is heard until the drain is over: the events of the commands it ran go into the outbox (unheard,
        # they were lost: the recorder had stopped too, so not even the next start's ``put_missing`` found them)
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe = []
        if self.conn.status().connected and not self.pump.flush(max(FLUSH_KEPT_S, ends - time.monotonic())):
            log.warning("MQTT stop: %d message(s) left in the outbox for the next start", self.outbox.depth())
        # the offline status's PUBACK waited for within the stop's time too: a fixed 3 s after a flush that used it all
        # (a broker that acknowledges nothing) overran the stop plan's step, and "close databases" was skipped
        self.conn.stop(final=(self.topics.status, _json(self._status_doc(False, clean=True))),
                       timeout=max(OFFLINE_MIN_S, ends - time.monotonic()))
        for t in workers:
            if t.name != "mqtt-commands":  # joined above
                t.join(5)
        self.pump.stop()
        self.outbox.close()
        if self.commands.replay is not None:
            self.commands.replay.close()

    def outbox_depth(self) -> int:
        return self.outbox.depth()

    def status(self) -> LinkStatus:
        """Connection state for health pages, doctor and metrics (``state``, ``last_error``…)."""
        return self.conn.status()

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: outbox depth and drops, rows published / refused by the broker."""
        st = self.conn.status()
        return {
            "connected": st.connected,
            "state": st.state,
            "connects": st.connects,
            "outbox_depth": self.outbox.depth(),
            "outbox_dropped": self.outbox.dropped() if not self._stop.is_set() else None,
            "outbox_lost": self.outbox.lost() if not self._stop.is_set() else None,
            "published": self.pump.published,
            "rejected": self.pump.rejected,
            "held": self.pump.held,
            "subscriptions_refused": sorted(self.conn.refused_subscriptions()),
            "heartbeats": self.heartbeats,
            "refusals_suppressed": self.refusals.suppressed_total,
            "commands_busy": self.commands_busy,
            "commands_too_large": self.commands_too_large,
            "replies_dropped": self.replies_dropped,
        }

    def tick(self) -> None:
        """Publish the heartbeat when due on the injected clock (the ticker thread calls this); every
        ``OPEN_RETRY_S`` try again to open an outbox a full disk kept closed."""
        if self.outbox.unavailable is not None and self._clock.monotonic() >= self._next_open_try:
            self._next_open_try = self._clock.monotonic() + OPEN_RETRY_S
            if self.outbox.retry_open():
                self.pump.wake()
        if not self.conn.status().connected:  # a heartbeat is about now: none queued while offline
            return
        self.conn.note_stable()
        self._check_acks()
        with self._beat_lock:
            due = self._next_beat is not None and self._clock.monotonic() >= self._next_beat
            if due:
                self._next_beat = self._clock.monotonic() + self._m.heartbeat_s
        if due:
            self.publish_health()

    def _check_acks(self) -> None:
        """Messages in flight and no PUBACK for ``ack_wait_s`` on a connection that answers its pings (a broker whose
        persistence hangs, a proxy that swallows one direction): the connection is dropped and made again, and paho
        sends them again (DUP; consumers de-duplicate on ``event_id``). Why: paho resends only on a new connection, and
        the outbox stalled behind its 20 for as long as that one lasted — 90 s of a real run: 20 sent, 76 waiting, no
        line in the log (probe chaos41). Once per ``ack_wait_s`` at most."""
        since, now = self.pump.unacked_since, self._clock.monotonic()
        if since is None or now - max(since, self._dropped_at or since) < self.ack_wait_s:
            return
        self._dropped_at = now
        self.acks_missed += 1
        log.error("MQTT broker acknowledged none of the %d message(s) handed to the client for %.0f s: connecting "
                  "again (they are sent again; %d waiting in the outbox)", self.pump.in_flight, now - since,
                  self.outbox.depth())
        self.conn.drop()

    def publish_health(self) -> None:
        try:
            figures = self._health()
        except Exception:
            log.exception("health source failed")
            figures = None
        used_pct, free_mb = disk_use(self.outbox.path.parent)
        st = self.conn.status()
        doc = {
            "ts": iso(self._clock.now()),
            "device": self.device,
            "uptime_s": round(self._clock.monotonic() - self._started_mono, 1),
            "clock_synced": self._clock.synced(),
            "fps": figures.fps if figures else None,
            "inference_ms": figures.inference_ms if figures else None,
            "camera_ok": figures.camera_ok if figures else None,
            "outbox_depth": self.outbox.depth(),
            "outbox_dropped": self.outbox.dropped(),
            "outbox_lost": self.outbox.lost(),
            "disk_used_pct": used_pct,
            "disk_free_mb": free_mb,
            "cpu_temp_c": cpu_temp_c(),
            "mqtt": {"broker": st.broker, "connects": st.connects},
        }
        extra = dict(figures.extra) if figures and figures.extra else {}
        if self.outbox.unavailable is not None:
            extra["outbox_unavailable"] = f"disk full: {self.outbox.unavailable}"
        if self.pump.held:
            extra["outbox_refused"] = self.pump.held
        # what a command flood cost, since the start (the log only before: a backend could not tell a flooded
        # device from one whose commands were lost on the way)
        for name, count in (("commands_busy", self.commands_busy), ("commands_too_large", self.commands_too_large),
                            ("replies_dropped", self.replies_dropped)):
            if count:
                extra[name] = count
        if refused := self.conn.refused_subscriptions():
            extra["subscriptions_refused"] = sorted(refused)
        if extra:
            doc["extra"] = extra
        try:
            self.conn.publish(self.topics.health, _json(doc), qos=0)
        except PacketTooLarge as exc:  # a heartbeat is about now: skipped, never held
            # the first and every 100th: the broker's limit stays until someone changes it, and each heartbeat
            # (every heartbeat_s) was an error line of its own
            self.heartbeats_too_large += 1
            if self.heartbeats_too_large == 1 or self.heartbeats_too_large % 100 == 0:
                log.error("heartbeat not sent: %s (%d heartbeat(s) not sent so far; said again at every 100th)",
                          exc, self.heartbeats_too_large)
            return
        self.heartbeats += 1

    # -- bus → outbox --------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if event.type == EventType.CLOCK_STEPPED:
            self._clock_stepped(event.data.get("step_s"))
        admitted = self.refusals.admit(event)
        if admitted is None:  # the same refusal again within the interval: counted, not stored
            # nor sent by the next start as one a kill kept out (``put_missing``): every start after a flood of
            # refused commands sent the held-back copies (review52)
            self.outbox.note_taken(event.event_id)
            return
        event = admitted
        protected = event.type in self._protected
        self.outbox.put(self.topics.events, _json(event.to_dict()), qos=1, protected=protected, event_id=event.event_id)
        self.pump.wake()

    def put_missing(self, logged: LoggedEvents, previous_start: str | None, started: str) -> int:
        """At the start, before the previous run's open visits are ended: the events the previous run logged (the
        violation log, ``logged``, writes each before the outbox takes it) and the outbox never took are put in now,
        in order, not through the bus (nothing that heard them must hear them again), and handed to ``resending``
        (events.jsonl: it hears the bus after the outbox, so it never wrote them either). A kill between the two
        writes left the arrival in the log only: the start then published an ``agent_stopped`` departure for an
        arrival the backend never got. Only where the previous run (``previous_start``, the run ledger's) started
        with this outbox (``events/unsent.py``); ``started``: this run's start as the ledger records it. Returns how
        many were put."""
        missing = missing_events(self.outbox, logged, previous_start)
        # handed before the outbox takes them: a kill between leaves them missing, and the next start hands them
        # again (a sink writes only those it lacks: ``JsonLinesSink.resent``); handed after, such a kill lost them
        # from the sink for good
        # one that fails is logged and never keeps them from the outbox (the bus's rule): a line events.jsonl's tail
        # read could not parse raised here, and the start failed with the events a kill kept out never put in
        for hand in self.resending if missing else ():
            try:
                hand(missing)
            except Exception:  # noqa: BLE001 - any sink's fault; the outbox's puts come next regardless
                log.exception("the events re-sent at the start not handed to %r", hand)
        for ev in missing:
            self.outbox.put(self.topics.events, _json(ev.to_dict()), qos=1, protected=ev.type in self._protected,
                            event_id=ev.event_id)
        note_start(self.outbox, logged, started)  # after the puts: a kill before it leaves the next start to look
        if missing:
            log.warning("MQTT outbox: %d event(s) the violation log holds never reached the outbox (the agent was "
                        "stopped between the two writes): sent now (%s)", len(missing),
                        ", ".join(f"{ev.type} {ev.event_id}" for ev in missing[:5]))
            self.pump.wake()
        return len(missing)

    def outbox_seen(self) -> OutboxSeen | None:
        """What the run ledger notes of this run's outbox (at its start and each minute mark)."""
        return self.outbox.seen()

    def check_outbox(self, known: tuple[OutboxSeen, str] | None) -> bool:
        """At the start, before ``put_missing``: where the ledger remembers another outbox than this one (``known``:
        what the last mark saw, and when), that outbox vanished — a disk of its own that came back empty, a file
        deleted — and its waiting messages with it. Counted lost (those waiting at the mark, at least one: what came
        after is unknown) and told by an ``outbox_lost`` with ``reason: outbox_missing``, the newest event it took
        (a backend that has it got all before it) and when. Why: opened fresh in silence, nothing told the backend
        its events were gone (probe chaos41). Returns whether it said so."""
        now = self.outbox.seen()
        if known is None or now is None or known[0].identity == now.identity or self.outbox.loss_told(known[0].identity):
            return False  # the same outbox (salvaged without its name too), or its loss told already
        seen, at = known
        count = max(seen.waiting, 1)
        log.error("MQTT outbox %s is not the one the last run used (it held %d event(s) waiting at %s, the newest "
                  "event it took %s): that outbox is gone, its messages lost; the backend is told",
                  self.outbox.path, seen.waiting, at, seen.last_event_id)
        self.outbox.announce_missing(count, lambda total: self._missing_notice(total, seen, at), seen.identity)
        return True

    def _missing_notice(self, lost_total: int, seen: OutboxSeen, at: str) -> tuple[str, bytes]:
        data = {**self._lost_data(lost_total), "reason": "outbox_missing", "last_event_id": seen.last_event_id,
                "known_at": at}
        return self.topics.events, _json(Event.make(LOST_EVENT, self._clock, data=data).to_dict())

    def _on_state(self, state: BayState) -> None:
        if not valid_topic_level(state.bay_id):
            log.error("bay id %r cannot be a topic level; state not published", state.bay_id)
            return
        topic = self.topics.state(state.bay_id)
        # stamped as handed over (the bus hands a bay's states in order): a consumer ordering one bay's states
        # by `since` alone cannot order the republishes of one state (the lock moving, then down)
        doc = {**state.to_dict(), "ts": self._clock.now().isoformat(timespec="microseconds")}
        self._put_retained(topic, _json(doc))

    def publish_retained(self, topic: str, doc: dict[str, Any]) -> None:
        """A retained document through the durable outbox (a newer one for ``topic`` replaces a pending one)."""
        self._put_retained(topic, _json(doc))

    def _put_retained(self, topic: str, payload: bytes) -> None:
        with self._retained_lock:  # before the outbox: a connect meanwhile says this one, never an older one
            self._retained[topic] = payload
        stored = self.outbox.put(topic, payload, qos=1, retain=True, protected=True, key=topic) is not None
        with self._retained_lock:
            (self._unstored.discard if stored else self._unstored.add)(topic)
        # not stored (a full disk, no counted loss): said from memory. Left to the next connect, a link that stayed
        # connected kept the bay's previous state on the broker for hours, and a row of it still waiting went out in
        # its place (``_publish_row``) — ``free`` under a parked car, nothing told (probe review102). Whatever row of
        # the topic the outbox holds: one already sent, its PUBACK not yet handled, goes out never again (a loaded
        # CI); one still to go is sent with this one in its place
        if not stored and self.conn.status().connected:
            with contextlib.suppress(PacketTooLarge, ValueError):  # too large: as the connect's, held back
                self.conn.publish(topic, payload, qos=1, retain=True)
        self.pump.wake()

    def _reassert_retained(self) -> None:
        """At every connect, the newest retained document of each topic this run published (bay states, daily
        stats) is published again, as the status is. A broker restarted without persistence (mosquitto's
        default) has forgotten them: every backend or Home Assistant that subscribed afterwards had no state for
        any bay (an empty bay kept none for hours, until it next changed). A newer one still in the outbox
        follows it (the pump starts after this), so the broker keeps the newest; a topic with one waiting is left
        to it."""
        with self._retained_lock:
            docs = list(self._retained.items())
        waiting = self.outbox.pending_keys() if docs else set()
        for topic, payload in docs:
            if topic in waiting:
                continue
            try:
                self.conn.publish(topic, payload, qos=1, retain=True)
            except PacketTooLarge:  # the outbox holds it back and says so
                continue

    def _overflow_notice(self, dropped_total: int) -> tuple[str, bytes]:
        o = self._m.outbox
        data = {"dropped_total": dropped_total, "max_rows": o.max_rows, "policy": o.overflow}
        return self.topics.events, _json(Event.make(OVERFLOW_EVENT, self._clock, data=data).to_dict())

    def _lost_notice(self, lost_total: int) -> tuple[str, bytes]:
        """The durable notice, written with the first row that fits after a loss."""
        return self.topics.events, _json(Event.make(LOST_EVENT, self._clock, data=self._lost_data(lost_total)).to_dict())

    def _damage_notice(self, lost_total: int) -> tuple[str, bytes]:
        """The durable notice of the messages a damaged outbox's salvage lost (written as the outbox opens)."""
        data = {**self._lost_data(lost_total), "reason": "damaged_file"}
        return self.topics.events, _json(Event.make(LOST_EVENT, self._clock, data=data).to_dict())

    def _on_lost(self, lost_total: int) -> None:
        """At the moment of the loss, straight to the broker (the disk cannot hold it): about now,
        like the heartbeat; the durable notice follows once the outbox can write again."""
        if not self.conn.status().connected:
            return
        doc = Event.make(LOST_EVENT, self._clock, data={**self._lost_data(lost_total), "live": True}).to_dict()
        try:
            self.conn.publish(self.topics.events, _json(doc), qos=1)
        except Exception:  # noqa: BLE001 - best effort; the count is kept either way
            log.exception("publishing %s failed", LOST_EVENT)

    def _lost_data(self, lost_total: int) -> dict[str, Any]:
        used_pct, free_mb = disk_use(self._outbox_dir)
        return {"lost_total": lost_total, "disk_free_mb": free_mb, "reason": "disk_full"}

    def _publish_row(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        if retain:  # an older document of a topic whose newest the outbox could not take: the newest in its place
            with self._retained_lock:
                if topic in self._unstored:
                    payload = self._retained.get(topic, payload)
        return self.conn.publish(topic, payload, qos=qos, retain=retain)

    # -- connection ------------------------------------------------------------------------------
    def _on_up(self) -> None:
        self.conn.subscribe(self.topics.command_filter, qos=1)
        if self.simulator:
            self.conn.subscribe(self.topics.sim_filter, qos=1)
        self.conn.publish(self.topics.status, _json(self._status_doc(True)), qos=1, retain=True)
        self._reassert_retained()
        if self._m.home_assistant.enabled or self._discovery:  # also to remove them once it was turned off
            self._publish_discovery()
        self.pump.connected(True)
        with self._beat_lock:
            self._next_beat = self._clock.monotonic()  # a first heartbeat right away

    def config_applied(self, cfg: AgentConfig, restart_needed: list[str]) -> None:
        """After a reload: the retained status names the config that runs now, and what waits for a restart
        (it kept the start's ``config_hash`` until the next reconnect, so a backend could not see a reload)."""
        self._cfg, self._restart_needed = cfg, list(restart_needed)
        self._clear_removed_bays()
        self._reread_keys()
        self._republish_status()
        if (self._m.home_assistant.enabled or self._discovery) and self.conn.status().connected:  # else _on_up
            self._publish_discovery()  # bays added or removed by the reload: their entities come and go now

    def _clear_removed_bays(self) -> None:
        """Clear the retained state of bays the running config no longer has (an empty retained message, as MQTT
        clears one): the removed bay's last state (``free``, once its visit was closed ``bay_removed``) stayed on
        the broker for ever, and every backend that subscribed later was told a bay that no longer exists was
        free to park in. Through the outbox (``key``: it replaces a state of that bay still waiting), so a
        broker down at the reload is cleared once it is back; the set is kept in ``{data_dir}/mqtt-bays.json``
        so a bay removed while the agent was stopped is cleared at the next start."""
        current = {b.id for b in self._cfg.bays}
        for bay in sorted(self._state_bays - current):
            if not valid_topic_level(bay):  # never published (``_on_state`` refuses such a level)
                continue
            topic = self.topics.state(bay)
            log.info("bay %s is not in the running config: clearing its retained state %s", quote(bay, 80),
                     quote(topic, 200))
            # as a bay state: refused by a full disk, the clearing is said from memory, and in place of an older
            # state of the bay still waiting, which otherwise went out at the connect and stayed (probe chaos43)
            self._put_retained(topic, b"")
            with self._retained_lock:
                if topic in self._unstored:
                    current.add(bay)  # the outbox could not take it: kept, to be cleared again next time
                else:  # stored: cleared through the outbox, never said again at a connect
                    self._retained.pop(topic, None)
        if current != self._state_bays:
            self._state_bays = current
            try:
                write_durably(self._bays_file, json.dumps(sorted(current)).encode("utf-8"))
            except OSError as exc:
                log.warning("cannot write %s (%s): the retained state of a bay removed later may stay on the broker",
                            self._bays_file, exc)
        self.pump.wake()

    def _published_bays(self) -> set[str]:
        """The bays an earlier run published a retained state for (none when it never did or the file is
        unreadable: then nothing is cleared, which loses nothing)."""
        return set(_names_in(self._bays_file, "the retained state of removed bays may stay"))

    def _publish_discovery(self) -> None:
        """The retained HA discovery configs of the running config's bays. Those published before (this run,
        or an earlier one: ``{data_dir}/ha-discovery.json``) for bays or locks the config no longer has, or all
        of them once ``home_assistant.enabled`` is off, are cleared: an empty retained message is how HA
        removes an entity, which it shows for ever otherwise."""
        with self._ha_lock:
            self._publish_discovery_locked()

    def _publish_discovery_locked(self) -> None:
        messages: list[tuple[str, dict[str, Any]]] = []
        if self._m.home_assistant.enabled:
            locked = set(self._cfg.lock_bays().values())  # locks[].bay or bays[].lock_id: either pairs them
            bays = [(b.id, b.id in locked) for b in self._cfg.bays]
            messages = discovery_messages(self.topics, self.site, self.device, bays,
                                          self._m.home_assistant.discovery_prefix)  # fmt: skip
        current = {t for t, _ in messages}
        gone, self._discovery = self._discovery - current, current
        for topic, config in messages:
            try:
                self.conn.publish(topic, _json(config), qos=1, retain=True)
            except PacketTooLarge as exc:  # skipped, like a heartbeat: it must not stop the events (on connect)
                log.error("Home Assistant config %s not sent: %s", quote(topic, 200), exc)
        for topic in sorted(gone):
            log.info("Home Assistant: removing %s (not in the running config)", quote(topic, 200))
            self.conn.publish(topic, b"", qos=1, retain=True)
        try:
            write_durably(self._ha_file, json.dumps(sorted(current)).encode("utf-8"))
        except OSError as exc:
            log.warning("cannot write %s (%s): entities removed from the config later may stay in Home Assistant",
                        self._ha_file, exc)

    def _published_discovery(self) -> set[str]:
        """The config topics an earlier run published (none when it never did or the file is unreadable)."""
        doc = _names_in(self._ha_file, "Home Assistant entities of removed bays may stay")
        # only discovery config topics (also under an earlier discovery_prefix), never one of ours or a wildcard
        return {t for t in doc if t.endswith("/config") and valid_topic_name(t)
                and not t.startswith(self.topics.prefix + "/")}

    def _clock_stepped(self, step_s: object) -> None:
        """The wall clock jumped (NTP after a boot without a real-time clock): the start moves with it, and the
        retained status says so. It kept the boot clock's reading, a 1970 or last-shutdown ``started`` for the
        whole run. (The last will keeps the old one until the next reconnect.)"""
        if not isinstance(step_s, (int, float)) or not math.isfinite(step_s):
            return
        self._started_at += timedelta(seconds=float(step_s))
        self._republish_status()

    def _reread_keys(self) -> None:
        """A rotated signing key applies at a reload: the key file is read again (the old key ran on until a
        restart, and every command signed with the new one was ``bad_signature``). Turning signing on or off
        is a change of ``mqtt``: a restart. A key file that cannot be read keeps the keys that run."""
        if self.commands.hmac_key is None:
            return
        try:
            key, previous = read_hmac_keys(self._m)
        except SecretError as exc:
            log.error("reload: %s; command signing keeps the keys it had", exc)
            return
        if key is None:
            return
        if (key, previous) != (self.commands.hmac_key, self.commands.hmac_previous):
            self.commands.set_keys(key, previous)
            log.warning("reload: command signing keys re-read from %s: %s", self._m.hmac_secret_file,
                        "the new key and the previous one accepted" if previous else "one key accepted")

    def republish_status(self) -> None:
        """The online status again (what it says changed: the page's certificate renewed or near its end)."""
        self._republish_status()

    def _republish_status(self) -> None:
        if self.conn.status().connected:  # else _on_up publishes it
            self.conn.publish(self.topics.status, _json(self._status_doc(True)), qos=1, retain=True)

    def _status_doc(self, online: bool, clean: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {"state": "online" if online else "offline", "site": self.site, "device": self.device,
                               "started": iso(self._started_at)}  # fmt: skip
        if online:
            doc.update(version=__version__, config_hash=self._config_hash(), protocol=self._m.protocol)
            if self._restart_needed:
                doc["restart_needed"] = self._restart_needed
            for more in self.status_fields:
                try:
                    doc.update(more())
                except Exception:  # noqa: BLE001 - the status goes out without it
                    log.exception("a status field failed")
            doc["ts"] = iso(self._clock.now())
        else:
            doc["clean"] = clean
            if clean:
                doc["ts"] = iso(self._clock.now())
        return doc

    def _config_hash(self) -> str:
        """The loaded file's hash; for a config built in code, a hash of its validated content."""
        return self._cfg.config_hash or hashlib.sha256(self._cfg.model_dump_json().encode()).hexdigest()[:16]

    # -- commands --------------------------------------------------------------------------------
    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        namespace, name = "cmd", self.topics.command_name(msg.topic)
        if name is None and self.simulator:
            namespace, name = "sim", self.topics.command_name(msg.topic, "sim")
        if name is None:
            return
        if not msg.payload:  # how MQTT deletes a retained message: the broker forwards the empty clear to us
            log.info("command topic %s: empty payload (a retained command being cleared) ignored", quote(msg.topic, 100))
            return
        props = getattr(msg, "properties", None)
        cmd = Command(
            name=name,
            payload=bytes(msg.payload),
            response_topic=getattr(props, "ResponseTopic", None),
            correlation=getattr(props, "CorrelationData", None),
            namespace=namespace,
            retained=bool(msg.retain),
        )
        size = len(cmd.payload)
        if size > self._command_max_bytes:  # no command is this big: refused unread (MQTT 3.1.1; 5 never gets one)
            self.commands_too_large += 1
            self._send_reply(self.commands.too_large(cmd, self._command_max_bytes))
            return
        if lock_kind_too_big(cmd):  # no lock command is this big either: queued, it would wait out of its order
            self.commands_too_large += 1
            self._send_reply(self.commands.too_large(cmd, URGENT_MAX_BYTES))
            return
        # bounded in count, in bytes (a flood of big payloads must not eat the memory) and per dear command; a lock
        # command goes first (``command_queue.py``)
        if not self._cmd_q.offer(cmd):  # a flood must not grow memory without bound; the sender still learns it
            if self._cmd_q.closed:  # stopping: the sender learns it, and sends it again to the next start
                self._send_reply(self.commands.shutting_down(cmd))
                return
            busy = self._busy()
            if busy == 1 or busy % 100 == 0:
                log.warning("command %s dropped (busy reply): %d commands already waiting; %d dropped so far",
                            quote(name, 60), self._cmd_q.qsize(), busy)
            self._send_reply(self.commands.busy(cmd))

    def _busy(self) -> int:
        """One more command answered ``busy``; the count now. Under a lock: two threads count them."""
        with self._busy_lock:
            self.commands_busy += 1
            return self.commands_busy

    def _command_loop(self) -> None:
        """Commands run one at a time off paho's thread: a lock move may take seconds."""
        while True:
            if self._held_lists and self._clock.monotonic() >= self._lists_next:
                self._apply_lists()
            wait = 0.5 if not self._held_lists else min(0.5, max(0.01, self._lists_next - self._clock.monotonic()))
            cmd = self._cmd_q.get(timeout=wait)
            if cmd is None:
                # closed and nothing left (one offered between a timed-out ``get`` and the close is still run)
                if self._cmd_q.closed and not self._cmd_q.qsize():
                    if self._held_lists:  # stopping: applied and answered now, before the disconnect
                        self._apply_lists()
                    return
                continue
            if cmd.namespace == "cmd" and cmd.name == "set-lists":
                self._take_lists(cmd)
            else:
                self._run(cmd)

    def _take_lists(self, cmd: Command) -> None:
        """A ``set-lists`` runs at once when none was written within ``LISTS_EVERY_S``; else it is held and applied
        with the others that come until then, once (``LISTS_EVERY_S``: a flood rewrote ``overrides.yaml`` as fast
        as they were served)."""
        body, refused = self.commands.check(cmd)
        if refused is not None:
            self._send_reply(refused)
            return
        if self._held_lists and len(self._held_lists) >= LISTS_HELD:
            self._busy()
            self._send_reply(self.commands.busy(cmd))
            return
        self._held_lists.append(self.commands.reply_stub(cmd, body))
        at_once = len(self._held_lists) == 1 and self._clock.monotonic() >= self._lists_next
        base = None
        if not at_once:
            with self._control.lists_lock():  # not halfway through the page's edit
                base = self._control.plate_lists(), self._control.plate_words(None)[0]
        if "allow" in body:
            self._held_allow = body["allow"]
            self._held_base[0] = base
        if "deny" in body:
            self._held_deny = body["deny"]
            self._held_base[1] = base
        if at_once:
            self._apply_lists()

    def _apply_lists(self) -> None:
        held, allow, deny = self._held_lists, self._held_allow, self._held_deny
        # the read, the merge and the write as one: a page edit landing between them was overwritten (review76)
        with self._control.lists_lock():
            if allow is not None or deny is not None:
                running = self._control.plate_lists()
                allow, deny = (mine if base is None else
                               kept_since(mine, base[0], running, which, self._control.plate_words(base[1])[1])
                               for which, (mine, base) in enumerate(zip((allow, deny), self._held_base, strict=True)))
            self._held_lists, self._held_allow, self._held_deny, self._held_base = [], None, None, [None, None]
            replies = self.commands.set_lists_together(held, allow, deny)
        for reply in replies:
            self._send_reply(reply)
        self._lists_next = self._clock.monotonic() + LISTS_EVERY_S

    def _run(self, cmd: Command) -> None:
        reply = self.commands.handle(cmd)
        # a lock command the agent acted on (checked, then done or refused by it): its reply is what the backend
        # acts on, and a flood's busy replies, made as fast as messages are read, filled the 500 and dropped it (a
        # real unlock ran with no reply behind 1,000 snapshots). Bounded apart: as many again, never the flood's.
        self._send_reply(reply, lock=reply.acted and cmd.namespace == "cmd" and cmd.name in URGENT)

    def _send_reply(self, reply: Reply, lock: bool = False) -> None:
        with self._replies_lock:
            waiting = self._lock_replies if lock else self._replies
            waiting &= self.conn.still_waiting(waiting)
            if len(waiting) >= REPLY_BACKLOG:  # a flood's replies must not fill the memory (REPLY_BACKLOG)
                self.replies_dropped += 1
                self._reply_log.say("reply %s to %s dropped: %d replies already waiting to go out; %d dropped so far",
                                    quote(str(reply.body.get("code")), 40), quote(reply.topic, 100),
                                    len(waiting), self.replies_dropped)
                return
            props = self.conn.reply_properties(reply.correlation) if self.conn.v5 else None
            try:
                waiting.add(self.conn.publish(reply.topic, _json(reply.body), qos=1, props=props))
            except ValueError as exc:
                log.error("reply to %s not sent: %s", quote(reply.topic, 100), exc)

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.tick()
            except Exception:
                log.exception("MQTT heartbeat failed")


def kept_since(held: list[str] | None, base: tuple[list[str], list[str]] | None,
               running: tuple[list[str], list[str]], which: int,
               words: list[tuple[str, str]] | tuple[()] = ()) -> list[str] | None:
    """A held ``set-lists``'s list ``which`` (0 allow, 1 deny) with the edits made elsewhere since it was held (the
    page's list edits: ``running`` against ``base``, the agent's (allow, deny) then) kept on top, as if it had been
    applied when it came. Why: applied whole at the window's end, it removed a plate a reviewer had listed meanwhile,
    on the agent and in ``overrides.yaml``. A plate put on the other list since comes off this one: the page's edit
    takes it off the other list, and kept on a held deny, the plate a reviewer had just allowed stayed denied (deny
    wins, ``PlateLists.lookup``; review76). Compared as the agent keeps plates (``normalise_plate``). Then the page's
    own words since (``words``: (plate, "allow" / "deny"), in order), each as it said: the lists alone do not show
    the listing of a plate that was there already (or was moved away and back), which the held list taking it off
    overrode."""
    if held is None or base is None or (running == base and not words):
        return held
    was, now = ([{normalise_plate(p) for p in lst} for lst in pair] for pair in (base, running))
    added, removed, moved = now[which] - was[which], was[which] - now[which], now[1 - which] - was[1 - which]
    kept = ({normalise_plate(p) for p in held} - removed - moved) | added
    for plate, on in words:
        if on == ("allow", "deny")[which]:
            kept.add(plate)
        else:
            kept.discard(plate)
    return sorted(kept)


def build_mqtt(cfg: AgentConfig, bus: EventBus, control: AgentControl, clock: Clock, health: HealthSource,
               command_queue: int = 1000, command_max_bytes: int = COMMAND_MAX_BYTES,
               queue_bytes: int = COMMAND_QUEUE_BYTES) -> MqttLink:
    """Create the link from the validated config (raises ``ConfigError`` for a missing secret,
    an unreadable TLS file or an unusable outbox path — exit 2 material)."""
    m = cfg.mqtt
    try:
        secrets = read_secrets(m)
    except SecretError as exc:
        raise ConfigError("mqtt", [str(exc)]) from None
    path = Path(m.outbox.path) if m.outbox.path else Path(cfg.data_dir) / "mqtt-outbox.sqlite"
    return MqttLink(cfg, bus, control, clock, health, secrets, path, command_queue, command_max_bytes, queue_bytes)
