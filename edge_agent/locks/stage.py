"""Plug the locks into a running agent: commands, presence fusion, and the tick cadence.

``attach_locks(agent)`` builds the manager from the agent's config and wires it:
- ``agent.attach_lock_manager(manager)`` — remote ``lock`` / ``unlock`` reach the controller;
- ``agent.feed.set_sensor(bay, …)`` — each bay's presence sensor feeds occupancy (the feed
  outlives the bay monitor, so a config reload keeps the sensors);
- ``vision=agent.feed`` — the camera's evidence per bay, which every raise needs;
- a component that starts / stops the manager and, with ``thread=True`` (``edge-agent run``),
  ticks it every ``tick_s`` seconds on its own thread. Fake-clock loops (demo, tests) pass
  ``thread=False`` and call ``manager.tick()`` once per step instead.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any

from edge_agent.locks.manager import LockManager, build_locks

log = logging.getLogger(__name__)

DEFAULT_TICK_S = 0.1


class LockTicker:
    """Agent component: ``start`` reads the switches and ticks; ``stop`` halts and releases pins."""

    def __init__(self, manager: LockManager, tick_s: float = DEFAULT_TICK_S, thread: bool = True) -> None:
        self.manager, self.tick_s, self._use_thread = manager, tick_s, thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.manager.start()
        if self._use_thread:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="locks-tick", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.manager.tick()
            except Exception:  # a bug in one tick must not stop the timeouts of the next
                log.exception("lock tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.tick_s + 1)
            self._thread = None
        self.manager.stop()


def attach_locks(agent: Any, pin_factory: object | None = None, thread: bool = True,
                 tick_s: float = DEFAULT_TICK_S) -> LockManager:
    """Build the agent's locks and wire them in (see the module docstring). No locks → still a manager."""
    manager = build_locks(agent.cfg, agent.bus, agent.clock, pin_factory=pin_factory, vision=agent.feed)
    for bay in manager.bay_ids():
        agent.set_presence_sensor(bay, partial(manager.presence, bay))
    agent.attach_lock_manager(manager)
    agent.add_component(LockTicker(manager, tick_s, thread))
    return manager
