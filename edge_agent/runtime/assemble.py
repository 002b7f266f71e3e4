"""The one place the agent is put together: build every component, start them, stop them.

Shaped like Frigate's ``app.py``: ``assemble`` is a readable list of ``_init_*`` steps; the
agent starts its camera and then the components in exactly that order, and ``Assembled.stop``
stops them in reverse. The order is the design:

1. MQTT link — first, so it stops last and can still publish ``offline`` after the others flushed;
2. daily statistics over MQTT (needs the link);
3. violation recorder — recording sinks start before anything that produces events;
4. review web page (reads the recorder's log, acts through the agent as ``AgentControl``);
5. notifications;
6. the caller's sinks (``run``: the JSON-lines event log, also handed what the start re-sends for a kill;
   ``replay``: its output file);
7. locks — last: they publish their position at start, and stop (motors off) first.

``run``, ``demo``, ``replay`` and the benchmarks all build through here, so the demo exercises
exactly what a device runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from edge_agent.camera.source import FrameSource
from edge_agent.clock import Clock, SystemClock, read_boot_id
from edge_agent.config.models import AgentConfig
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.locks.latches import LATCH_FILE, LatchFile
from edge_agent.locks.lgpio_dir import lgpio_workdir
from edge_agent.locks.manager import LockManager, build_locks
from edge_agent.locks.ticker import DEFAULT_TICK_S, LockTicker
from edge_agent.runtime.agent import Agent, Component
from edge_agent.runtime.sinks import JsonLinesSink

if TYPE_CHECKING:  # built lazily: paho, FastAPI and the notifiers load only when configured
    from edge_agent.events.mqtt_link import MqttLink
    from edge_agent.notify.service import NotifyService
    from edge_agent.ops.metrics import AgentMetrics
    from edge_agent.web.server import WebServer

MQTT_FLUSH_S = 3.0
log = logging.getLogger(__name__)


@dataclass
class Assembled:
    """The built agent and its named parts (None: not configured or not asked for)."""

    agent: Agent
    link: MqttLink | None = None
    recorder: ViolationRecorder | None = None
    web: WebServer | None = None
    notify: NotifyService | None = None
    locks: LockManager | None = None

    def start(self) -> None:
        """Camera first, then every component in the order ``assemble`` added them."""
        self.agent.start()

    def stop_sinks(self) -> None:
        """Every component but the MQTT link, in reverse order (locks first: motors off), then the camera."""
        self.agent.stop(keep=self.link)

    def stop_link(self, flush_s: float = MQTT_FLUSH_S) -> None:
        """Last: the link sends what the others left in its outbox and says ``offline``."""
        if self.link is not None:
            self.link.stop(flush_s=flush_s)

    def drain_photos(self, left: float) -> None:
        """After the loop and the sinks stopped, before ``close``: the evidence photos still queued written, within
        the stop plan's ``left`` seconds (``evidence/writer.py``)."""
        if not self.agent.drain_photos(left):
            log.warning("stop: %d evidence photo(s) not written within %.1f s", self.agent.photo_writer.pending
                        if self.agent.photo_writer else 0, left)

    def close(self) -> None:
        """After the link stopped: the databases the agent itself holds (the evidence index) closed, their WAL
        folded in. Not part of ``stop``: ``demo`` still reads the index for its summary after stopping."""
        self.agent.close()

    def stop(self) -> None:
        self.stop_sinks()
        self.stop_link()

    def export_metrics(self, metrics: AgentMetrics) -> None:
        """Feed every gauge and the latency histogram ``/metrics`` documents from the running parts.
        Bus events count themselves (``metrics.attach``); these figures live in the parts, and the
        camera's fps and the inference time were declared but never fed: 0 and empty on a busy camera."""
        agent = self.agent
        metrics.fps.set_function(lambda: agent.health.health().fps)  # 0 once frames stop (camera lost)
        agent.inference_observers.append(metrics.inference_seconds.observe)
        metrics.evidence_skipped.set_function(lambda: agent.evidence.space.skipped)
        metrics.evidence_failed.set_function(lambda: agent.photo_writer.errors if agent.photo_writer else 0)
        if self.link is not None:
            link = self.link
            metrics.outbox_depth.set_function(link.outbox_depth)
            metrics.outbox_dropped.set_function(link.outbox.dropped)
            metrics.outbox_lost.set_function(link.outbox.lost)


def assemble(cfg: AgentConfig, *, clock: Clock | None = None, source: FrameSource | None = None,
             pin_factory: object | None = None, lock_thread: bool = True, config_path: str | Path | None = None,
             review: bool = True, sinks: Callable[[Agent], list[Component]] | None = None,
             photo_thread: bool = False) -> Assembled:
    """Compose an agent with every configured component (nothing is started yet).

    ``review=False`` (replay, benchmarks) leaves out the violation log and the web page. ``photo_thread``
    (``run``): evidence photos written off the frame loop (``evidence/writer.py``), and the run ledger's minute mark
    (``evidence/runs.AliveMarks``).
    """
    agent = Agent(cfg, clock=clock, source=source, photo_thread=photo_thread)
    out = Assembled(agent)
    if cfg.mqtt.enabled:
        out.link = _init_mqtt(agent)
        if review:  # its figures come from the recorder's event log
            _init_daily_stats(agent, out.link)
    # Components stop newest first: the sinks (push, and the caller's: run's events.jsonl) go in before every part
    # that publishes events (the recorder, the page and its certificate notices, the locks), so what those say as
    # they stop is still carried. Added after the page, they stopped before its certificate notices' worker: a
    # notice published at the stop went to MQTT (stopped last, by its owner) and to no push sink nor events.jsonl.
    if cfg.notify.sinks:
        out.notify = _init_notify(agent)
    for sink in sinks(agent) if sinks else ():
        agent.add_component(sink)
        if out.link is not None and isinstance(sink, JsonLinesSink):  # after the outbox on the bus: what a kill
            out.link.resending.append(sink.resent)  # kept from the outbox it never wrote either
    if review:
        out.recorder = agent.add_component(ViolationRecorder(agent.evidence.db_path, agent.clock, agent.bus,
                                                                     cfg.evidence.history_days,
                                                                     cfg.evidence.review_days,
                                                                     cfg.evidence.max_age_days,
                                                                     cfg.evidence.open_days or None,
                                                                     mark_thread=photo_thread))
        if out.link is not None:  # events the log took and a kill kept from the outbox go out before any ending
            out.recorder.unsent = out.link.put_missing
            out.recorder.outbox_check = out.link.check_outbox  # an outbox the last run used that vanished
            out.recorder.runs.outbox_state = out.link.outbox_seen
        agent.on_started.append(out.recorder.close_previous_run)  # with MQTT and notify listening
        agent.every_minute.append(out.recorder.mark_alive)
        if cfg.web.enabled:
            out.web = _init_web(agent, out.recorder, config_path, out.link)
    if cfg.locks:
        out.locks = attach_locks(agent, pin_factory=pin_factory, thread=lock_thread)
    return out


def _init_mqtt(agent: Agent) -> MqttLink:
    from edge_agent.events.mqtt_link import build_mqtt

    link = agent.add_component(build_mqtt(agent.cfg, agent.bus, agent, agent.clock, agent.health_figures))
    agent.on_reload.append(link.config_applied)
    return link


def _init_daily_stats(agent: Agent, link: MqttLink) -> None:
    from edge_agent.stats.daily import DailyStats

    cfg = agent.cfg
    agent.add_component(DailyStats(link, agent.evidence.db_path, [b.id for b in cfg.bays],
                                   ZoneInfo(cfg.site.timezone), agent.clock, cfg.site.device_id))


def _init_web(agent: Agent, recorder: ViolationRecorder, config_path: str | Path | None,
              link: MqttLink | None) -> WebServer:
    from edge_agent.web.cert_notices import CertificateNotices
    from edge_agent.web.certs import ServedCertificate
    from edge_agent.web.server import build_web

    web = agent.add_component(build_web(agent.cfg, agent.evidence, recorder.log, agent, agent.lists, agent.bus,
                                        agent.clock, config_path or agent.cfg.source_path))
    agent.on_reload.append(web.app.state.ctx.config_applied)  # the installer shows (and saves over) what runs
    agent.on_reload.append(web.config_applied)  # a renewed certificate (web.tls) is served from now
    agent.every_minute.append(web.app.state.ctx.views.flush_due)  # the coalesced looks, at most a minute behind
    if isinstance(web.tls, ServedCertificate):
        # looked at every minute, not only as connections come: a page nobody opens for weeks still tells the
        # backend (and the log) that its certificate is near its end
        agent.every_minute.append(web.tls.reload)
        # a component after MQTT, the push sinks and the page: stopped before them, its last notices out first
        notices = agent.add_component(CertificateNotices(web.tls, agent.bus, agent.clock))
        agent.on_started.append(notices.started)  # with MQTT and the sinks listening
        if link is not None:
            link.status_fields.append(notices.status)
            notices.on_status.append(link.republish_status)
    return web


def _init_notify(agent: Agent) -> NotifyService:
    from edge_agent.notify.service import NotifyService

    notify = agent.add_component(NotifyService(agent.cfg, agent.bus, agent.clock))
    agent.health_extras["notify"] = notify.status  # per sink: waiting, delivered, last error
    agent.every_hour.append(lambda: notify.expire_dead(agent.cfg.evidence.max_age_days))  # the evidence's age
    return notify


def attach_locks(agent: Agent, pin_factory: object | None = None, thread: bool = True,
                 tick_s: float = DEFAULT_TICK_S) -> LockManager:
    """Build the agent's locks and wire them in; no locks configured → an empty manager.

    - ``vision=agent.feed``: the camera's evidence per bay, which every raise needs;
    - ``{data_dir}/lock-latches.json``: a FAULT or maintenance mode from before a restart holds again;
    - each bay's presence sensor into ``agent.feed`` (it outlives the bay monitor, so a reload keeps it);
    - ``agent.attach_lock_manager``: remote ``lock`` / ``unlock`` reach the controllers;
    - a ``LockTicker`` component: starts / stops the manager and ticks it (``thread=False``: the caller ticks).
    """
    # the boot the monotonic clock counts in: only the system's clock is this boot's (a demo's or a replay's fake
    # clock is not), and within one boot the saved motor starts are aged on it exactly (``locks/latches.py``)
    boot = read_boot_id() if isinstance(agent.clock, SystemClock) else None
    latches = LatchFile.open(agent.data_dir / LATCH_FILE, [lk.id for lk in agent.cfg.locks], agent.clock, boot)
    # gpiozero's default factory (lgpio) makes its pipe in a writable folder: the data dir, when `run` was
    # started from one this user may not write (locks/lgpio_dir.py)
    with lgpio_workdir(agent.data_dir) if pin_factory is None else nullcontext():
        manager = build_locks(agent.cfg, agent.bus, agent.clock, pin_factory=pin_factory, vision=agent.feed,
                              latches=latches)
    for bay in manager.bay_ids():
        agent.set_presence_sensor(bay, partial(manager.presence, bay))
    agent.attach_lock_manager(manager)
    agent.add_component(LockTicker(manager, tick_s, thread))
    return manager
