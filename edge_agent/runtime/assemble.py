"""Build the whole agent from one config: camera → perception → bays, plus the sinks.

``run`` and ``demo`` share this so the demo exercises exactly what a device runs:
the MQTT link (when enabled) is added first so it stops last and can still publish
``offline`` after the other sinks flushed; recording sinks (the review log, ``sinks``)
start before anything that produces events (the locks publish their position at start);
the locks attach their presence sensors and commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edge_agent.clock import Clock
from edge_agent.config.models import AgentConfig
from edge_agent.runtime.agent import Agent


@dataclass
class Assembled:
    agent: Agent
    link: Any = None  # MqttLink when mqtt.enabled
    locks: Any = None  # locks.manager.LockManager when locks are configured
    review: Any = None  # ReviewComponent (violation log + web page when enabled)


def assemble(cfg: AgentConfig, *, clock: Clock | None = None, source: Any = None,
             pin_factory: Any = None, lock_thread: bool = True, config_path: str | Path | None = None,
             review: bool = True, sinks: Callable[[Agent], list[Any]] | None = None) -> Assembled:
    """Compose an agent with every configured sink (nothing is started yet)."""
    from edge_agent.events.mqtt_link import build_mqtt
    from edge_agent.locks.stage import attach_locks
    from edge_agent.web.server import ReviewComponent

    agent = Agent(cfg, clock=clock, source=source)
    out = Assembled(agent)
    if cfg.mqtt.enabled:
        out.link = agent.add_component(build_mqtt(cfg, agent.bus, agent, agent.clock, agent.health_figures))
        if review:  # the review component keeps the event log the figures come from
            from zoneinfo import ZoneInfo

            from edge_agent.stats.daily import DailyStats

            agent.add_component(DailyStats(out.link, agent.evidence.db_path, [b.id for b in cfg.bays],
                                           ZoneInfo(cfg.site.timezone), agent.clock, cfg.site.device_id))
    if review:
        out.review = agent.add_component(ReviewComponent(agent, str(config_path) if config_path else None))
    if cfg.notify.sinks:
        from edge_agent.notify.service import NotifyService

        notify = agent.add_component(NotifyService(cfg, agent.bus, agent.clock))
        agent.health_extras["notify"] = notify.status  # per sink: waiting, delivered, last error
    for sink in sinks(agent) if sinks else ():
        agent.add_component(sink)
    if cfg.locks:
        out.locks = attach_locks(agent, pin_factory=pin_factory, thread=lock_thread)
    return out
