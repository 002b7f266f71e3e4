"""SIGHUP reloads and SIGTERM stops gracefully — checked in a real child process."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap

import pytest

from edge_agent.ops.signals import ShutdownPlan

CHILD = textwrap.dedent(
    """
    import json, logging, os, sys, threading, time
    from edge_agent.ops.signals import ShutdownPlan, install_signal_handlers

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    stop = threading.Event()
    reloads = []
    done = []

    def say(line):  # one write: the reload thread's line never lands inside the main thread's
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    def reload():
        reloads.append(1)
        say(f"reloaded {len(reloads)}")

    def step(name):
        def run():
            done.append(name)
        return run

    def flush(left):
        done.append(f"flush budget>0={left > 0}")
        if os.environ.get("HANG_FLUSH"):
            time.sleep(3600)

    plan = ShutdownPlan(budget_s=float(os.environ.get("BUDGET", "5")))
    plan.add("stop frames", step("stop frames"))
    plan.add("locks safe", step("locks safe"))
    plan.add("flush outbox", flush, timeout_s=float(os.environ.get("FLUSH_CAP", "3")))
    plan.add("publish offline", step("publish offline"))

    if os.environ.get("EARLY_HUP"):  # as `run` starts: hold SIGHUP, then a slow start-up
        from edge_agent.ops.signals import hold_early_hangups
        hold_early_hangups()
        say("starting")
        sys.stdin.readline()
    handlers = install_signal_handlers(on_reload=reload, on_stop=stop.set)
    if not os.environ.get("EARLY_HUP"):  # there the held reload's line is the sign of being started
        say("ready")
    while not stop.wait(0.05):
        pass  # the agent's main loop would run here
    if os.environ.get("SECOND_SIGNAL"):  # stopping, the handlers still in: the test's second signal lands now
        say("stopping")
        sys.stdin.readline()
    results = plan.run()
    handlers.restore()
    say(json.dumps({"done": done, "results": [[r.name, r.status] for r in results]}))
    sys.exit(0)
    """
)


class Child:
    def __init__(self, env_extra: dict[str, str] | None = None) -> None:
        env = {**os.environ, **(env_extra or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def line(self, timeout: float = 20.0) -> str:
        """Next stdout line; fails (never hangs) when the child says nothing in time."""
        if not self.sel.select(timeout):
            self.proc.kill()
            pytest.fail(f"child silent for {timeout}s; stderr: {self.proc.stderr.read()}")
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.sel.close()


@pytest.fixture
def child_factory():
    children: list[Child] = []

    def make(**env: str) -> Child:
        c = Child(env)
        children.append(c)
        if not env.get("EARLY_HUP"):
            assert c.line() == "ready"
        return c

    yield make
    for c in children:
        c.close()


def test_sighup_reloads_and_sigterm_stops_in_order(child_factory):
    child = child_factory()
    child.proc.send_signal(signal.SIGHUP)
    assert child.line() == "reloaded 1"
    child.proc.send_signal(signal.SIGHUP)
    assert child.line() == "reloaded 2"
    child.proc.send_signal(signal.SIGTERM)
    report = json.loads(child.line())
    assert child.proc.wait(timeout=5) == 0
    assert report["done"] == ["stop frames", "locks safe", "flush budget>0=True", "publish offline"]
    assert all(status == "ok" for _, status in report["results"])
    assert "SIGTERM: stopping" in child.proc.stderr.read()


def test_a_sighup_while_starting_is_one_reload_once_started_not_an_exit(child_factory):
    """Before, a SIGHUP before the handlers were installed ended the process: exit 129, no log line."""
    child = child_factory(EARLY_HUP="1")
    assert child.line() == "starting"
    child.proc.send_signal(signal.SIGHUP)
    child.proc.send_signal(signal.SIGHUP)
    child.proc.stdin.write("go\n")
    child.proc.stdin.flush()
    assert child.line() == "reloaded 1"  # both asked for the file read again: once is enough
    child.proc.send_signal(signal.SIGTERM)
    json.loads(child.line())
    assert child.proc.wait(timeout=5) == 0
    assert "SIGHUP came during start-up: reloading now" in child.proc.stderr.read()


def test_hanging_flush_is_cut_off_offline_still_published_exit_0(child_factory):
    child = child_factory(HANG_FLUSH="1", FLUSH_CAP="0.5", BUDGET="5")
    child.proc.send_signal(signal.SIGTERM)
    report = json.loads(child.line())
    assert child.proc.wait(timeout=5) == 0
    assert dict(report["results"]) == {
        "stop frames": "ok", "locks safe": "ok", "flush outbox": "timeout", "publish offline": "ok",
    }
    assert "flush outbox still running" in child.proc.stderr.read()


def test_sigint_is_a_stop_too_and_a_second_signal_is_harmless(child_factory):
    """The second signal is sent while the first one's stop is under way (the handlers in): sent blindly right after
    the first, a loaded machine could deliver it after the child had finished and restored the default handlers."""
    child = child_factory(SECOND_SIGNAL="1")
    child.proc.send_signal(signal.SIGINT)
    assert child.line() == "stopping"
    child.proc.send_signal(signal.SIGTERM)
    child.proc.stdin.write("go\n")
    child.proc.stdin.flush()
    report = json.loads(child.line())
    assert child.proc.wait(timeout=5) == 0
    assert report["done"][-1] == "publish offline"


def test_plan_reports_failures_and_skips_when_budget_spent():
    t = [0.0]

    def slow_step():
        t[0] += 10.0  # this step "takes" 10 s on the injected clock

    def broken():
        raise RuntimeError("broker gone")

    plan = ShutdownPlan(budget_s=5.0, monotonic=lambda: t[0])
    plan.add("broken", broken).add("slow", slow_step).add("late", lambda: None)
    results = [(r.name, r.status) for r in plan.run()]
    assert results == [("broken", "failed"), ("slow", "ok"), ("late", "skipped")]


def test_a_step_run_always_runs_with_the_budget_spent():
    """Closing the databases is short and must not be what an overrunning step costs (probe chaos42)."""
    t, ran = [0.0], []

    def slow_step():
        t[0] += 10.0

    plan = ShutdownPlan(budget_s=5.0, monotonic=lambda: t[0])
    plan.add("slow", slow_step).add("late", lambda: None)
    plan.add("close", lambda: ran.append(1), timeout_s=1.0, always=True)
    assert [(r.name, r.status) for r in plan.run()] == [("slow", "ok"), ("late", "skipped"), ("close", "ok")]
    assert ran == [1]
    with pytest.raises(ValueError):
        plan.add("unbounded", lambda: None, always=True)
