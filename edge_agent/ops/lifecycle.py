"""The ops side of one agent process, built from the config: sd_notify + watchdog, metrics, signals, stop plan.

Why one object: the runtime should need a handful of calls, not to know the systemd protocol, the
Prometheus registry and the signal rules. Everything here is also usable on its own (see each module).

    setup_logging(cfg.ops.logging, secrets=read_secrets(cfg.mqtt).values())   # first, right after load_config
    ops = OpsRuntime(cfg, agent.bus, clock)
    ops.plan.add("stop frames", agent.source.stop)
    ops.plan.add("stop sinks", parts.stop_sinks)         # the assembly's order: locks stop their motors first
    ops.plan.add("mqtt flush + offline", lambda left: parts.stop_link(flush_s=max(left - 1, 0.5)))
    ops.metrics.outbox_depth.set_function(link.outbox_depth)
    ops.start(on_reload=agent.reload_config)      # main thread: installs SIGHUP/SIGTERM, sends READY=1
    agent.run_forever(sleep=ops.stop_requested.wait, until=ops.stop_requested,    # the agent's loop, ops hooks
                      on_turn=lambda got: ops.loop_turn(got, agent.source.reconnects))
    ops.finish()                                  # STOPPING=1, runs the plan within ops.stop_timeout_s
    return 0
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Mapping

from edge_agent.clock import Clock, SystemClock
from edge_agent.config.errors import ListenError
from edge_agent.config.models import AgentConfig
from edge_agent.control import ControlError, ControlResult
from edge_agent.events.bus import EventBus
from edge_agent.ops.metrics import AgentMetrics, MetricsServer, start_metrics_server
from edge_agent.ops.signals import ShutdownPlan, SignalHandlers, StepResult, install_signal_handlers
from edge_agent.ops.watchdog import Notifier, Watchdog, watchdog_interval

log = logging.getLogger(__name__)

#: ``run``'s exit status when a stuck loop ended a process that no service manager's watchdog restarts
STUCK_EXIT = 1
#: past the stop budget, the seconds a stop begun by a stuck loop may still take before the process ends itself
HARD_EXIT_MARGIN_S = 5.0
#: past the stop budget, the seconds systemd is asked to wait before it kills a stopping agent (interpreter exit)
STOP_MARGIN_S = 5.0


def _exit_now(code: int) -> None:
    """The main loop itself is stuck, so the stop plan never ran: end the process, as systemd's SIGABRT would.
    The last line is said from a thread given a second: a stuck loop may hold the log's lock (a stderr nobody
    reads), and the exit must not wait on it."""
    def say() -> None:
        log.critical("watchdog: the stop did not finish in time; exiting now (%d)", code)
        logging.shutdown()

    last = threading.Thread(target=say, name="exit-now", daemon=True)
    last.start()
    last.join(1.0)
    os._exit(code)


class OpsRuntime:
    def __init__(self, cfg: AgentConfig, bus: EventBus, clock: Clock | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        o = cfg.ops
        self.cfg = cfg
        self.notifier = Notifier.from_env(env)
        interval = watchdog_interval(env)
        self.watchdog = Watchdog(self.notifier, clock or SystemClock(), interval_s=interval or 5.0)
        #: what ``run`` exits with: 0, or STUCK_EXIT when a stuck loop ended a process no watchdog restarts
        self.exit_code = 0
        self._hard_exit: threading.Timer | None = None
        if interval is None:
            # No service manager reads the pings (docker, podman without --sdnotify, a shell): a HEALTHCHECK
            # only labels the container unhealthy, docker never restarts it for that (moby#28400), so a hung
            # camera open or a stuck main loop stayed stuck for good. The agent ends itself instead.
            self.watchdog.on_stuck = self._stuck_unwatched
        # Camera: a new frame or a reconnect attempt proves the reader thread is cycling (a camera that is
        # away is the reader's job — reconnect with backoff — not a reason to restart the process).
        self.camera = self.watchdog.register("camera", o.watchdog.camera_deadline_s)
        self.perception = self.watchdog.register("perception", o.watchdog.perception_deadline_s)
        self.metrics = AgentMetrics()
        self._unsubscribe = self.metrics.attach(bus)
        self.metrics.loops_stuck.set_function(lambda: len(self.watchdog.stuck()))
        self.plan = ShutdownPlan(budget_s=o.stop_timeout_s)
        self.stop_requested = threading.Event()
        self.metrics_server: MetricsServer | None = None
        self._signals: SignalHandlers | None = None
        self._reconnects: int | None = None

    def start(self, on_reload: Callable[[], object] | None = None, ping_thread: bool = True) -> None:
        """From the main thread, once every component runs: signals, metrics endpoint, watchdog, READY=1.

        ``ping_thread=False`` leaves ``watchdog.tick()`` to the caller (tests on a fake clock)."""
        self._signals = install_signal_handlers(
            on_reload=self._reload(on_reload) if on_reload else None, on_stop=self.stop_requested.set
        )
        m = self.cfg.ops.metrics
        if m.enabled:
            try:
                self.metrics_server = start_metrics_server(m.port, self.metrics.registry, m.host)
            except OSError as exc:
                raise ListenError("ops.metrics", m.host, m.port, exc) from None
            log.info("metrics on http://%s:%d/metrics", m.host, self.metrics_server.port)
        if ping_thread:
            self.watchdog.start()
        self.notifier.ready(status=f"running: {len(self.cfg.bays)} bay(s)")

    def loop_turn(self, got_frame: bool, camera_reconnects: int) -> None:
        """Call once per main-loop turn: the loop itself is alive; the camera if it delivered or retried."""
        self.perception.progress()
        if got_frame or camera_reconnects != self._reconnects:
            self._reconnects = camera_reconnects
            self.camera.progress()

    def _stuck_unwatched(self, stuck: list[str]) -> None:
        """A loop is stuck and nothing outside restarts this process: stop as SIGTERM does (locks safe, outbox
        flushed) and exit STUCK_EXIT, so a restart policy (``docker run --restart on-failure``,
        ``Restart=on-failure``) starts the agent again. A stuck main loop never reaches the stop plan: the
        process then ends itself once the stop budget and a margin are spent, as systemd's watchdog would."""
        if self.stop_requested.is_set():
            return
        grace = self.cfg.ops.stop_timeout_s + HARD_EXIT_MARGIN_S
        log.error("watchdog: %s stuck and no service manager watches this process (no $WATCHDOG_USEC): stopping "
                  "with exit %d so its restart policy starts the agent again (at the latest in %.0f s)",
                  ", ".join(stuck), STUCK_EXIT, grace)
        self.exit_code = STUCK_EXIT
        self._hard_exit = threading.Timer(grace, _exit_now, args=(STUCK_EXIT,))
        self._hard_exit.daemon = True
        self._hard_exit.start()
        self.stop_requested.set()

    def finish(self) -> list[StepResult]:
        """STOPPING=1, run the stop plan (bounded), then close what ops itself opened."""
        # ops.stop_timeout_s may be up to 60 s; the unit's TimeoutStopSec=15 cut a longer stop off with SIGKILL
        # (outbox flush, the offline message): systemd is told how long this stop may take
        self.notifier.stopping(status="stopping", extend_s=self.cfg.ops.stop_timeout_s + STOP_MARGIN_S)
        results = self.plan.run()
        if self._hard_exit is not None:
            self._hard_exit.cancel()  # the plan ran: the process ends by returning exit_code
        self.watchdog.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        if self._signals is not None:
            self._signals.restore()
        self._unsubscribe()
        return results

    def _reload(self, on_reload: Callable[[], object]) -> Callable[[], None]:
        def reload() -> None:
            if self.stop_requested.is_set():
                # SIGHUP is served on its own thread until the stop plan ends: a reload then rebuilt the bays over
                # stopped parts and a closed evidence index ("close databases"), and told systemd READY while stopping
                log.info("SIGHUP while stopping: no reload")
                return
            # systemd's reload protocol: RELOADING=1 … READY=1 when done.
            self.notifier.reloading()
            try:
                try:
                    result: object = on_reload()
                except ControlError as exc:
                    result = exc
                level, line = reload_outcome(result)
                log.log(level, "SIGHUP: %s", line)
            finally:
                self.notifier.ready(status="running (reloaded)")

        return reload


def reload_outcome(result: object) -> tuple[int, str]:
    """One log line from what the reload returned — the ``ControlResult`` the MQTT ``reload-config``
    reply carries: applied (what changed) or refused (why, each problem naming its key)."""
    if isinstance(result, ControlError):
        return logging.ERROR, f"config refused ({result.code}): {result}"
    if not isinstance(result, ControlResult):
        return logging.INFO, "config reloaded"
    if not result.ok:
        problems = [str(p) for p in result.data.get("problems") or []]
        why = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        where = result.data.get("file")  # the overrides, not the config file the operator edited
        return logging.ERROR, (f"config refused, the running config kept: {why or result.message}"
                               + (f" (in {where})" if where else ""))
    changed = result.data.get("changed") or []
    line = f"config applied: {', '.join(changed)} changed" if changed else \
        "config applied: no bay, timer, occupancy, camera or perception change (lists re-applied)"
    restart = result.data.get("restart_needed") or []
    if restart:
        line += f"; {', '.join(restart)} changes need a restart to take effect"
    return logging.INFO, line
