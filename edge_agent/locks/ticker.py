"""The locks' tick cadence as an agent component.

``LockTicker(manager)`` starts / stops the manager and, with ``thread=True`` (``edge-agent run``),
ticks it every ``tick_s`` seconds on its own thread. Fake-clock loops (demo, tests) pass
``thread=False`` and call ``manager.tick()`` once per step instead. Wiring the manager to the
agent (commands, presence sensors, camera evidence) is ``runtime/assemble.py``'s job.
"""

from __future__ import annotations

import logging
import threading

from edge_agent.locks.manager import LockManager

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

