"""``edge-agent run --config FILE`` and ``edge-agent demo``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path

from edge_agent.config.load import ConfigError, load_config

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the agent (events as JSON lines to stdout and data_dir/events.jsonl)")
    p.add_argument("--config", "-c", required=True, help="YAML config file")
    p.add_argument("--quiet", action="store_true", help="events only to the log file, not stdout")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this long (tests, benchmarks)")
    p.set_defaults(func=_run)

    d = sub.add_parser("demo", help="run the whole agent on a generated scenario and tell its story")
    d.add_argument("--data-dir", default=None, help="where evidence goes (default: a temporary folder)")
    d.add_argument("--fps", type=float, default=5.0)
    d.add_argument("--json", action="store_true", help="print events as JSON lines instead of the story")
    d.set_defaults(func=_demo)


def _run(args: argparse.Namespace) -> int:
    from edge_agent.runtime.agent import Agent
    from edge_agent.runtime.sinks import JsonLinesSink

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    agent = Agent(cfg)
    agent.add_component(JsonLinesSink(agent.bus, Path(cfg.data_dir) / "events.jsonl",
                                      None if args.quiet else sys.stdout))
    done = threading.Event()

    def _stop(*_: object) -> None:
        done.set()
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    if args.max_seconds is not None:
        timer = threading.Timer(args.max_seconds, _stop)
        timer.daemon = True
        timer.start()
    agent.start()
    log.info("agent running: %d bay(s), camera %s", len(cfg.bays), cfg.camera.source)
    try:
        agent.run_forever()
    except KeyboardInterrupt:
        pass
    _stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from edge_agent.runtime.demo import run_demo

    if args.data_dir:
        return run_demo(Path(args.data_dir), args.fps, json_lines=args.json)
    with tempfile.TemporaryDirectory(prefix="edge-agent-demo-") as tmp:
        return run_demo(Path(tmp), args.fps, json_lines=args.json)
