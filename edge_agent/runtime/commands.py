"""``edge-agent run --config FILE``, ``edge-agent replay CONFIG SOURCE`` and ``edge-agent demo``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from edge_agent.cliargs import OpenedAtFirstWrite, output_over_input, output_ready, positive_number
from edge_agent.config.errors import ConfigError
from edge_agent.config.limits import MAX_FPS
from edge_agent.perception.heap import set_heap_mmap_threshold

if TYPE_CHECKING:
    from edge_agent.ops.lifecycle import OpsRuntime
    from edge_agent.ops.signals import ShutdownPlan
    from edge_agent.runtime.agent import Agent
    from edge_agent.runtime.assemble import Assembled

log = logging.getLogger(__name__)


# the stop plan's step for the evidence photos the loop queued (``evidence/writer.py``): ~20 syncs of a healthy
# card; a process the budget ends with photos still queued loses those photos only (the index stays whole, and is
# left open: "close databases" does not close it under the writer)
PHOTO_DRAIN_S = 1.5
CLOSE_S = 1.0  # of the stop's time, kept for "close databases" (a WAL folded into the evidence index)
MAX_RUN_S = 366 * 86400.0  # --max-seconds: a year is past any test or benchmark


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the agent (events as JSON lines to stdout and data_dir/events.jsonl)")
    p.add_argument("--config", "-c", required=True, help="YAML config file")
    p.add_argument("--quiet", action="store_true", help="events only to the log file, not stdout")
    p.add_argument("--max-seconds", type=positive_number(MAX_RUN_S), default=None,
                   help="stop after this long (tests, benchmarks)")
    p.set_defaults(func=_run)

    r = sub.add_parser("replay", help="play a video file or image folder through the agent as fast as the CPU "
                                      "allows, on the clip's time; events as JSON lines")
    r.add_argument("config", help="YAML config file (its bays, timers, occupancy, perception)")
    r.add_argument("source", help="video file, or a folder of images at camera.fps")
    r.add_argument("--events", "-o", default=None, metavar="JSONL",
                   help="where the events go (default: SOURCE's name + .events.jsonl in the current folder)")
    r.add_argument("--start", default=None, metavar="ISO",
                   help="wall time of the clip's first frame, e.g. 2026-05-01T08:00:00 (default: now), site zone")
    r.add_argument("--data-dir", default=None, metavar="DIR",
                   help="evidence photos of the replay (default: a temporary folder); no violation log is "
                        "kept: a second replay into it does not end the last one's open visits")
    r.add_argument("--sim-locks", action="store_true",
                   help="a simulated lock on every bay (no presence sensor), wired as run wires locks: their moves "
                        "and refusals join the events")
    r.set_defaults(func=_replay)

    d = sub.add_parser("demo", help="run the whole agent on a generated scenario and tell its story")
    d.add_argument("--data-dir", default=None, help="where evidence goes (default: a temporary folder)")
    d.add_argument("--fps", type=positive_number(MAX_FPS), default=5.0, help="frames per second, above 0, ≤ 60")
    d.add_argument("--json", action="store_true", help="print events as JSON lines instead of the story")
    d.add_argument("--no-broker", action="store_true",
                   help="do not start a local mosquitto: shows the outbox keeping events on disk")
    _demo_outside(d)
    d.set_defaults(func=_demo)


def _demo_outside(d: argparse.ArgumentParser) -> None:
    """The demo as a black box for a backend's tests: its broker, its event log, its frames."""
    g = d.add_argument_group("outside broker and outputs (integration tests)")
    g.add_argument("--broker", metavar="URL", help="publish to this broker (mqtt://host:port or mqtts://…) "
                   "instead of starting a local mosquitto")
    g.add_argument("--ca", metavar="FILE", help="CA bundle for mqtts:// (mqtt.tls.ca_file)")
    g.add_argument("--cert", metavar="FILE", help="client certificate for mutual TLS (mqtt.tls.cert_file)")
    g.add_argument("--key", metavar="FILE", help="client key for mutual TLS (mqtt.tls.key_file)")
    g.add_argument("--username", help="MQTT login (mqtt.username)")
    g.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    g.add_argument("--events", metavar="FILE", help="write every event told as JSON lines to FILE (overwritten)")
    g.add_argument("--frames-out", metavar="DIR",
                   help="write the frames seen (frame-000001.jpg …) and DIR/scenario.yaml to replay them with run")
    g.add_argument("--frames-format", choices=("jpg", "png"), default="jpg")


def _demo_options(args: argparse.Namespace):  # noqa: ANN202 - DemoOptions
    from edge_agent.runtime.demo import DemoOptions

    mqtt: dict = {}
    if args.username:
        mqtt["username"] = args.username
    if args.password_env:
        mqtt["password_env"] = args.password_env
    tls = {k: str(Path(v).resolve()) for k, v in (("ca_file", args.ca), ("cert_file", args.cert),
                                                  ("key_file", args.key)) if v}
    if tls:
        mqtt["tls"] = tls
    if mqtt and not args.broker:
        print("demo: --ca/--cert/--key/--username/--password-env need --broker", file=sys.stderr)
        return None
    if not (output_ready("demo", "--events", args.events, args.events and Path(args.events).parent)
            and output_ready("demo", "--frames-out", args.frames_out, args.frames_out and Path(args.frames_out))):
        return None
    if args.events:
        try:
            Path(args.events).write_text("", encoding="utf-8")  # one run, one file (as the sink does)
        except OSError as exc:
            print(f"demo: cannot write --events {args.events}: {exc.strerror or exc} ({exc.filename})", file=sys.stderr)
            return None
    return DemoOptions(broker_url=args.broker, mqtt=mqtt, events_path=Path(args.events) if args.events else None,
                       frames_out=Path(args.frames_out) if args.frames_out else None, frames_format=args.frames_format,
                       temporary_data=not args.data_dir)


def _run(args: argparse.Namespace) -> int:
    """The device's main loop: every configured sink, systemd watchdog, signals, metrics."""
    from edge_agent.ops.logging_setup import flush_logs
    from edge_agent.runtime.preflight import StartupError

    try:  # a SIGHUP while starting is held since cli.main (ops.signals.EarlyHangups): one reload once running
        parts, ops = _build(args)
        _start(parts, ops)
    except StartupError as exc:  # one line naming what to fix, as `doctor` would say it
        flush_logs()  # the lines logged before it come first
        print(f"edge-agent run: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:
        flush_logs()
        return _explained("run", exc)
    try:
        return _loop(args, parts, ops)
    finally:
        flush_logs()


def _explained(command: str, exc: Exception) -> int:
    """One line saying what stopped ``command`` (``runtime.preflight.explain``) and its exit code; an error with
    no such line is a bug, raised again with its traceback."""
    from edge_agent.runtime.preflight import explain

    known = explain(exc)
    if known is None:
        raise exc
    log.debug("%s failed", command, exc_info=exc)
    print(f"edge-agent {command}: {known}", file=sys.stderr)
    return known.code


def _record_added_bays(config_path: str) -> None:
    """An overrides file from before ``added_bays`` (an upgraded device) records which saved bays the installer
    added, once (``ConfigFile.record_added_bays``); a data dir that cannot take it keeps the old rule."""
    from edge_agent.clock import SystemClock
    from edge_agent.config.configfile import ConfigFile

    f = ConfigFile(config_path, SystemClock())
    try:
        added = f.record_added_bays()
    except (ConfigError, OSError) as exc:
        log.warning("%s: could not record which saved bays the installer added (%s); every saved bay is kept, and "
                    "a bay renamed in the config file comes back by its old name: Save on the installer page once",
                    f.overrides, exc)
        return
    if added is not None:
        log.info("%s is from before 0.5.0: recorded the bays the installer added (%s); a saved bay the config file "
                 "renames or removes from now on is left out", f.overrides, ", ".join(added) or "none")


def _build(args: argparse.Namespace) -> tuple[Assembled, OpsRuntime]:
    from edge_agent.camera.source import quiet_decoder_log
    from edge_agent.config.load import load_config
    from edge_agent.config.mqtt import read_secrets
    from edge_agent.config.secretmodes import open_secret_files
    from edge_agent.ops.instance_lock import DataDirBusy, hold_data_dir, hold_outbox
    from edge_agent.ops.lifecycle import OpsRuntime
    from edge_agent.ops.logging_setup import setup_logging
    from edge_agent.runtime.assemble import assemble
    from edge_agent.runtime.preflight import StartupError, check_data_dir
    from edge_agent.runtime.sinks import EVENTS_LOG_MAX_BYTES, JsonLinesSink

    cfg = load_config(args.config)  # ConfigError here or below: reported by the cli, exit 2
    check_data_dir(cfg)
    try:  # before anything opens a file in data_dir: a second agent there would share them all
        open_to_others = hold_data_dir(Path(cfg.data_dir), "run")
        if cfg.mqtt.enabled:  # one outbox shared by two agents on their own data folders: rows sent twice
            hold_outbox(Path(cfg.mqtt.outbox.path or Path(cfg.data_dir) / "mqtt-outbox.sqlite"), "run")
    except DataDirBusy as exc:
        raise StartupError(str(exc), 2) from None
    set_heap_mmap_threshold(cfg.ops.heap_mmap_threshold_kb)
    # every secret read now, before anything starts: a missing one is one line naming its key (exit 2),
    # and the values join the log filter's list
    secrets = list(read_secrets(cfg.mqtt).values()) if cfg.mqtt.enabled else []
    secrets += [v for i, sink in enumerate(cfg.notify.sinks) for v in sink.secrets(i) if v]
    setup_logging(cfg.ops.logging, secrets=secrets, verbose=getattr(args, "verbose", False),
                  tz=ZoneInfo(cfg.site.timezone), background=True)  # a stalled stderr never holds the lock loop
    quiet_decoder_log(getattr(args, "verbose", False))  # before the camera opens
    for problem in open_secret_files(cfg):  # named, not refused: a device installed so keeps running
        log.warning("%s", problem)
    if open_to_others:  # a folder with other files than the agent's: its mode is its owner's to change
        log.warning("%s", open_to_others)
    if cfg.overrides_path is not None:
        from edge_agent.runtime.check_config import overrides_line

        # what they change: after the teach page's "Use it" they set the classifier, and the line said "bays / lists"
        log.info("run-time edits apply from %s (delete it to use the config file's): %s", cfg.overrides_path,
                 overrides_line(args.config))
        _record_added_bays(args.config)
    events_log = Path(cfg.data_dir) / "events.jsonl"

    def event_lines(a: Agent) -> list[JsonLinesSink]:
        # its lines name plates: kept no longer than the evidence photos
        sink = JsonLinesSink(a.bus, events_log, None if args.quiet else sys.stdout, max_bytes=EVENTS_LOG_MAX_BYTES,
                             max_age_s=cfg.evidence.max_age_days * 86400, clock=a.clock, own=True,
                             age_now=a.evidence.age_now)
        a.every_minute.append(sink.expire)
        return [sink]

    parts = assemble(cfg, config_path=args.config, sinks=event_lines, photo_thread=True)
    agent = parts.agent
    ops = OpsRuntime(cfg, agent.bus, agent.clock)
    ops.plan.add("stop frames", agent.source.stop, timeout_s=1.0)
    parts.export_metrics(ops.metrics)
    plan_stop(ops.plan, parts)
    return parts, ops


def plan_stop(plan: ShutdownPlan, parts: Assembled) -> None:
    """The stop's steps after the frames: the assembly's stop order, time-boxed."""
    if parts.link is not None:
        # sinks first (locks stop their motors, web closes), the MQTT link last: it flushes and says offline
        plan.add("stop sinks", parts.stop_sinks, timeout_s=1.5)
        plan.add("write photos", parts.drain_photos, timeout_s=PHOTO_DRAIN_S)
        plan.add("mqtt flush + offline", lambda left: parts.stop_link(flush_s=max(left - CLOSE_S, 0.5)))
    else:
        plan.add("stop sinks", parts.stop, timeout_s=2.0)
        plan.add("write photos", parts.drain_photos, timeout_s=PHOTO_DRAIN_S)
    # last, once nothing writes there: the evidence index closed, its WAL folded in (no -wal left behind). Run even
    # with the budget spent: a silent broker's flush used all of it and the close was skipped (probe chaos42)
    plan.add("close databases", parts.close, timeout_s=CLOSE_S, always=True)


def _start(parts: Assembled, ops: OpsRuntime) -> None:
    """The camera and the components, then signals, metrics and the watchdog. What fails here (the review
    page's or the metrics' port taken) was a traceback with the camera and the MQTT link left running: now
    what started is stopped, by the stop plan, before the error goes up to be said in one line."""
    try:
        parts.start()
        ops.start(on_reload=parts.agent.reload_config)
    except BaseException:
        ops.finish()
        raise


def _loop(args: argparse.Namespace, parts: Assembled, ops: OpsRuntime) -> int:
    """The agent's own loop, with the ops hooks: the stop signal, the watchdog's per-turn pings."""
    agent = parts.agent
    if args.max_seconds is not None:
        timer = threading.Timer(args.max_seconds, ops.stop_requested.set)
        timer.daemon = True
        timer.start()
    log.info("agent running: %d bay(s), camera %s", len(agent.cfg.bays), agent.cfg.camera.source)
    try:
        agent.run_forever(sleep=ops.stop_requested.wait, until=ops.stop_requested,
                          on_turn=lambda got: ops.loop_turn(got_frame=got,
                                                            camera_reconnects=agent.source.reconnects))
    except KeyboardInterrupt:
        pass
    for r in ops.finish():
        log.info("shutdown step %s: %s", r.name, r.status)
    return ops.exit_code  # 0, or 1 when a stuck loop ended a process no service manager watches


#: ``replay --start``: epoch seconds (the stores' ``ts_epoch``) from 1970, and far below year 9999's overflow;
#: before ~1900 most zones had local mean time, an offset in seconds that RFC 3339 timestamps cannot carry
START_RANGE = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(3000, 1, 1, tzinfo=timezone.utc))


def _replay(args: argparse.Namespace) -> int:
    from edge_agent.camera.source import quiet_decoder_log
    from edge_agent.clock import local_time, parse_iso
    from edge_agent.ops.logging_setup import load_config_in_site_zone
    from edge_agent.ops.signals import stop_on_signals
    from edge_agent.runtime.replay import replay

    # its log lines in the site's zone, as its events and run's log: on a UTC host they said +00:00 beside +06:00
    cfg = load_config_in_site_zone(args.config)
    set_heap_mmap_threshold(cfg.ops.heap_mmap_threshold_kb)
    start = None
    if args.start:
        try:
            start = parse_iso(args.start)  # a trailing Z too, on the Jetson's Python 3.10
        except ValueError:
            print(f"--start: not an ISO-8601 time: {args.start!r}", file=sys.stderr)
            return 2
        if start.tzinfo is None:
            try:
                start = local_time(start, ZoneInfo(cfg.site.timezone), "--start")
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 2
        if not START_RANGE[0] <= start < START_RANGE[1]:  # 9999-12-31 overflowed a second later (a traceback)
            print(f"--start {args.start}: must be from {START_RANGE[0]:%Y-%m-%d} to {START_RANGE[1].year - 1}-12-31 "
                  "(UTC): event times outside cannot be written", file=sys.stderr)
            return 2
    # a damaged clip: FFmpeg's line per bad frame buried the summary (the replay counts them: ``corrupt``)
    quiet_decoder_log(getattr(args, "verbose", False))
    out = Path(args.events or Path(args.source.rstrip("/")).name + ".events.jsonl")
    if output_over_input("replay", "--events", out, {"config": args.config, "source": args.source}):
        return 2  # opened for writing, the recording (or the config) was emptied before a frame was read
    if out.is_dir() or not output_ready("replay", "--events", out, out.parent):
        if out.is_dir():
            print(f"replay: --events {out} is a folder: name a file", file=sys.stderr)
        return 2
    if args.data_dir and not _hold(Path(args.data_dir), "replay"):
        return 2
    try:  # the events file is emptied at its first line: after the config, the models and the clip were opened
        with OpenedAtFirstWrite(out) as f, tempfile.TemporaryDirectory(prefix="edge-agent-replay-") as tmp, \
                stop_on_signals() as signals:
            s = replay(cfg, args.source, f, Path(args.data_dir or tmp), start, until=signals.stop_requested,
                       sim_locks=args.sim_locks)
    except (OSError, ValueError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if s["interrupted"]:
        print(f"replay: stopped by {signal.Signals(signals.stopped_by or signal.SIGINT).name} after "
              f"{s['clip_s']} s of clip", file=sys.stderr)
    print(f"{s['frames']} frames, {s['clip_s']} s of clip in {s['wall_s']} s ({s['speed_x']}x real time, "
          f"{s['cpu_s']} s CPU); {s['classified']} bay crops classified, plate detector on {s['detector_runs']} "
          f"frames ({s['region_runs']} of them on the bays that wanted a read only); events in {out}", file=sys.stderr)
    return 128 + (signals.stopped_by or signal.SIGINT) if s["interrupted"] else 0


def _hold(data_dir: Path, command: str) -> bool:
    """``replay`` / ``demo`` into a given folder: refused (one line) while an agent runs there."""
    from edge_agent.ops.instance_lock import DataDirBusy, hold_data_dir

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        open_to_others = hold_data_dir(data_dir, command)
    except (DataDirBusy, OSError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return False
    if open_to_others:  # a home or project folder given by mistake: named, its mode left as it is
        print(f"{command}: warning: {open_to_others}", file=sys.stderr)
    return True


def _demo(args: argparse.Namespace) -> int:
    from edge_agent.ops.signals import stop_on_signals
    from edge_agent.runtime.demo import run_demo

    opts = _demo_options(args)
    if opts is None:
        return 2
    if args.data_dir and not _hold(Path(args.data_dir), "demo"):
        return 2
    with tempfile.TemporaryDirectory(prefix="edge-agent-demo-") as tmp, stop_on_signals() as signals:
        try:
            rc = run_demo(Path(args.data_dir or tmp), args.fps, json_lines=args.json, broker=not args.no_broker,
                          opts=opts, until=signals.stop_requested)
        except Exception as exc:  # a data dir another program holds (a backup's lock …): one line, as `run` says it
            return _explained("demo", exc)
    return 128 + (signals.stopped_by or signal.SIGINT) if signals.stop_requested.is_set() and rc == 0 else rc
