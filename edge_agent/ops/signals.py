"""SIGHUP → reload, SIGTERM/SIGINT → graceful stop, and a shutdown plan that always ends in time.

Why callbacks run on a worker thread, not in the handler: Python runs signal handlers on the main
thread between bytecodes, possibly while that thread holds a lock the callback needs (bus, outbox,
lock controller) — a deadlock. The handler only enqueues the signal (``SimpleQueue.put`` is
reentrant) and a small thread calls the callbacks.

Why a ``ShutdownPlan``: systemd and operators expect ``exit 0`` within a few seconds, but a flush or a
lock move can hang (broker gone, motor stalled). Each step runs in its own thread, bounded by
what is left of the overall budget; a step that overruns is logged and skipped, never waited on.
The step order is the safety order: stop taking frames → stop the sinks (the lock stage stops its
motors and releases the pins) → flush the outbox and publish ``offline`` → close.

Runtime hooks (as ``edge-agent run`` adds them, edge_agent/runtime/commands.py)::

    plan = ShutdownPlan(budget_s=cfg.ops.stop_timeout_s)
    plan.add("stop frames", agent.source.stop, timeout_s=1.0)
    plan.add("stop sinks", stop_all_but_the_link, timeout_s=1.5)  # locks, web, …
    plan.add("mqtt flush + offline", lambda left: link.stop(flush_s=max(left - 1.0, 0.5)))  # gets its time left
    signals = install_signal_handlers(on_reload=agent.reload_config, on_stop=stop_event.set)
    ... main loop until stop_event ...
    report = plan.run(); signals.restore(); return 0
"""

from __future__ import annotations

import inspect
import logging
import queue
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class EarlyHangups:
    """SIGHUP before ``run`` installs its handlers (while it loads models and opens the camera: about 1 s here,
    longer on a Pi) killed the process — Python leaves SIGHUP at the system's default, terminate — with exit 129
    and no log line. Held from the first line of ``run`` instead, and handed to :class:`SignalHandlers` as one
    reload when they are installed: the edit that asked for it may have come after the file was read."""

    def __init__(self) -> None:
        self.seen = False
        self._previous: object = None

    def install(self) -> "EarlyHangups":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGHUP, self._note)
        return self

    def restore(self) -> None:
        """The handler from before (a test process that called ``cli.main(["run", …])`` keeps its own)."""
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)  # type: ignore[arg-type]
            self._previous = None

    def _note(self, _signum: int, _frame: object) -> None:
        self.seen = True


def hold_early_hangups() -> EarlyHangups:
    """Hold a SIGHUP that comes before the real handlers (see :class:`EarlyHangups`)."""
    return EarlyHangups().install()


class SignalHandlers:
    """Installed handlers; ``restore()`` puts the previous ones back (tests, nested runs)."""

    def __init__(self, on_reload: Callable[[], object] | None, on_stop: Callable[[], object]) -> None:
        self.on_reload = on_reload
        self.on_stop = on_stop
        self.stop_requested = threading.Event()
        self.stopped_by: int | None = None  # the signal that asked for the stop (for an exit code of 128 + it)
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._previous: dict[int, object] = {}
        self._worker = threading.Thread(target=self._serve, name="signal-callbacks", daemon=True)

    def install(self) -> "SignalHandlers":
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        self._worker.start()
        for sig in (signal.SIGHUP, *STOP_SIGNALS):
            self._previous[sig] = signal.signal(sig, self._handle)
        early = getattr(self._previous[signal.SIGHUP], "__self__", None)
        if isinstance(early, EarlyHangups) and early.seen:
            log.info("SIGHUP came during start-up: reloading now")
            self._queue.put(signal.SIGHUP)
        return self

    def restore(self) -> None:
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)  # type: ignore[arg-type]
        self._previous.clear()
        self._queue.put(None)

    def _handle(self, signum: int, _frame: object) -> None:
        self._queue.put(signum)

    def _serve(self) -> None:
        while True:
            signum = self._queue.get()
            if signum is None:
                return
            name = signal.Signals(signum).name
            try:
                if signum == signal.SIGHUP:
                    if self.on_reload is None:
                        log.info("%s: no reload handler, ignored", name)
                        continue
                    log.debug("%s: reloading config", name)  # the outcome is logged in one line by the callback
                    self.on_reload()
                elif self.stop_requested.is_set():
                    log.warning("%s again: already stopping", name)
                else:
                    log.info("%s: stopping", name)
                    self.stopped_by = signum
                    self.stop_requested.set()
                    self.on_stop()
            except Exception:  # a failed reload keeps the running config; the agent stays up
                log.exception("%s handler failed", name)


def install_signal_handlers(
    on_reload: Callable[[], object] | None, on_stop: Callable[[], object]
) -> SignalHandlers:
    """SIGHUP calls ``on_reload``; the first SIGTERM/SIGINT calls ``on_stop`` (later ones are logged)."""
    return SignalHandlers(on_reload, on_stop).install()


@contextmanager
def stop_on_signals() -> Iterator[SignalHandlers]:
    """For the commands that play something and end (``replay``, ``demo``): SIGTERM and SIGINT set
    ``stop_requested`` so the loop ends between frames and the command stops cleanly and writes its
    summary (exit ``128 + stopped_by``) instead of dying mid-write; SIGHUP is ignored (logged)."""
    handlers = install_signal_handlers(on_reload=None, on_stop=lambda: None)
    try:
        yield handlers
    finally:
        handlers.restore()


@dataclass
class StepResult:
    name: str
    status: str  # "ok", "failed", "timeout", "skipped"
    seconds: float
    error: str = ""


@dataclass
class ShutdownPlan:
    """Ordered stop steps under one time budget. A step taking one argument receives the seconds left."""

    budget_s: float = 5.0
    monotonic: Callable[[], float] = time.monotonic
    steps: list[tuple[str, Callable, float | None, bool]] = field(default_factory=list)

    def add(self, name: str, fn: Callable, timeout_s: float | None = None, always: bool = False) -> "ShutdownPlan":
        """Append a step; ``timeout_s`` caps it so later steps (publish ``offline``) keep some budget. ``always``: run
        within its ``timeout_s`` even when the budget is spent (closing the databases: short, and what a step that
        overran must not cost)."""
        if always and timeout_s is None:
            raise ValueError(f"stop step {name!r}: a step run always needs its own timeout")
        self.steps.append((name, fn, timeout_s, always))
        return self

    def run(self) -> list[StepResult]:
        start = self.monotonic()
        results: list[StepResult] = []
        for name, fn, cap, always in self.steps:
            remaining = self.budget_s - (self.monotonic() - start)
            if always and cap is not None:
                remaining = max(remaining, cap)
            if remaining <= 0:
                results.append(StepResult(name, "skipped", 0.0, "stop budget spent"))
                log.error("shutdown: %s skipped, stop budget of %.1fs spent", name, self.budget_s)
                continue
            results.append(self._run_step(name, fn, min(remaining, cap) if cap else remaining))
        return results

    def _run_step(self, name: str, fn: Callable, remaining: float) -> StepResult:
        outcome: dict[str, BaseException] = {}
        wants_budget = _takes_one_arg(fn)

        def target() -> None:
            try:
                fn(remaining) if wants_budget else fn()
            except BaseException as exc:  # reported below; shutdown goes on
                outcome["error"] = exc

        t0 = self.monotonic()
        worker = threading.Thread(target=target, name=f"shutdown:{name}", daemon=True)
        worker.start()
        worker.join(timeout=remaining)
        took = self.monotonic() - t0
        if worker.is_alive():
            log.error("shutdown: %s still running after %.1fs, moving on", name, took)
            return StepResult(name, "timeout", took)
        if "error" in outcome:
            log.error("shutdown: %s failed: %r", name, outcome["error"])
            return StepResult(name, "failed", took, repr(outcome["error"]))
        log.info("shutdown: %s done in %.2fs", name, took)
        return StepResult(name, "ok", took)


def _takes_one_arg(fn: Callable) -> bool:
    try:
        params = [
            p for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        return False
    return len(params) == 1
