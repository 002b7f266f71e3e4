"""``edge-agent demo``: the real agent (real detector and recogniser, simulator locks, the MQTT
link) on a rendered scenario, driven by a fake clock so two minutes of parking lot play in
seconds.

MQTT: with mosquitto installed the demo starts one on loopback and shows what reached it;
without one the agent runs on and its outbox grows — which the demo shows too. With
``DemoOptions.broker_url`` it publishes to an outside broker instead (a backend's integration
test); ``events_path`` and ``frames_out`` keep what it told and what it saw."""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.clock import FakeClock
from edge_agent.config.load import ConfigError
from edge_agent.fonts import FontMissing, cjk_font_path
from edge_agent.masking import mask_url_credentials
from edge_agent.runtime.assemble import assemble
from edge_agent.runtime.sinks import JsonLinesSink, describe
from edge_agent.sim.scenario import ScriptedSource, demo_story, run_scripted, scene_config
from edge_agent.sim.synthetic import BAYS

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class DemoOptions:
    """What a backend's integration test asks of the demo (all optional)."""

    broker_url: str | None = None  # publish here instead of starting a mosquitto
    mqtt: dict[str, Any] = field(default_factory=dict)  # username, password_env, tls: {ca_file, …}
    events_path: Path | None = None  # every event told, as JSON lines (overwritten each run)
    frames_out: Path | None = None  # the frames seen, numbered, plus scenario.yaml to replay them
    frames_format: str = "jpg"
    temporary_data: bool = False  # data_dir is deleted at exit (no --data-dir): no path of it is worth printing


# the summary's words for evidence kept in the temporary data folder: its path would be gone once the demo exits
TEMPORARY = "in a temporary folder, deleted at exit (--data-dir DIR keeps it)"


NO_BROKER = "mqtt://127.0.0.1:9"  # the demo's placeholder without a broker: port 9, nothing listens


class _DemoQuiet(logging.Filter):
    """Keeps two log lines that only mislead in the demo out of its story: its own placeholder broker refused
    ("connection refused: is the broker running on that port?" read like the user's fault on a first run; the
    headline says there is no broker) and the daily statistics held back (the fake clock's story is minutes of
    one day: no day before it has events, so the rule that holds a day before the first event always trips).
    Both stay as they are for ``run``: the filter is on the loggers only while the demo runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "edge_agent.stats.daily":
            return "held back" not in str(record.msg)
        return NO_BROKER not in record.getMessage()


_QUIET = ("edge_agent.events.connection", "edge_agent.stats.daily")


def demo_config(data_dir: Path, broker_url: str | None, models: Path, mqtt_extra: dict[str, Any] | None = None
                ) -> Any:
    """The scenario's two bays, each with a simulated lock that starts raised (reserved for NEVs)."""
    locks = [{"id": f"lock-{b}", "bay": b, "driver": "simulator", "auto_raise_delay_s": 20,
              "simulator": {"travel_time_s": 2.0, "start": "up"}} for b in BAYS]
    mqtt = {"enabled": True, "brokers": [broker_url or NO_BROKER],
            "outbox": {"path": str(data_dir / "outbox.db")}, **(mqtt_extra or {})}
    return scene_config(str(data_dir), perception={"models_dir": str(models)}, locks=locks, mqtt=mqtt)


def _presence(source: ScriptedSource, locks: Any) -> None:
    """The simulated presence sensors see a car only over a lowered arm (a raised one keeps it out)."""
    seg = source.current
    cars = seg.scene.cars if seg is not None and hasattr(seg.scene, "cars") else ()
    for bay, poly in BAYS.items():
        xs = [x for x, _ in poly]
        over = any(min(xs) <= c.x <= max(xs) for c in cars) and locks.state(bay) == "down"
        locks.driver(bay).arm.set_vehicle(over)


def run_demo(data_dir: Path, fps: float = 5.0, json_lines: bool = False, out=sys.stdout,  # noqa: ANN001
             broker: bool = True, opts: DemoOptions | None = None, until: threading.Event | None = None) -> int:
    """The story, to its end or until ``until`` is set (SIGTERM / SIGINT): either way the agent stops
    cleanly (the outbox closed, its WAL folded in) and the summary is told."""
    try:
        cjk_font_path()
    except FontMissing as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    from edge_agent.events.broker import BrokerError, LocalBroker, mosquitto_path

    opts = opts or DemoOptions()
    want_broker, broker = broker and opts.broker_url is None, None
    with tempfile.TemporaryDirectory(prefix="edge-agent-demo-broker-") as broker_dir:
        # the headline's words without a broker, the demo's own (not the link's "connection refused" to port 9)
        offline = "no broker (--no-broker): events wait in the outbox on disk"
        if want_broker and not mosquitto_path():
            offline = "no mosquitto here: events wait in the outbox on disk"
        elif want_broker:
            try:
                broker = LocalBroker(Path(broker_dir)).start()
            except BrokerError as exc:
                print(f"demo: could not start mosquitto ({exc}); going on without a broker", file=out)
                broker, offline = None, "mosquitto did not start: events wait in the outbox on disk"
        quiet = _DemoQuiet()
        for name in _QUIET:
            logging.getLogger(name).addFilter(quiet)
        try:
            return _run(data_dir, fps, json_lines, out, broker, opts, until, offline)
        finally:
            for name in _QUIET:
                logging.getLogger(name).removeFilter(quiet)
            if broker is not None:
                broker.stop()


def _run(data_dir: Path, fps: float, json_lines: bool, out, broker, opts: DemoOptions,  # noqa: ANN001
         until: threading.Event | None = None, offline: str = "no broker: events wait in the outbox on disk"
         ) -> int:
    clock = FakeClock()
    models = REPO_MODELS if REPO_MODELS.is_dir() else Path("models")
    cfg = demo_config(data_dir, broker.url() if broker else opts.broker_url, models, opts.mqtt)
    source = ScriptedSource(demo_story(fps), clock)
    if opts.frames_out is not None:
        from edge_agent.runtime.frames_out import FrameRecorder, write_replay_config

        source = FrameRecorder(source, opts.frames_out, opts.frames_format)
        write_replay_config(cfg, opts.frames_out)
    received: list[Any] = []
    watcher = _watch(broker, cfg, received) if broker else None
    t0 = clock.monotonic()
    sinks = _sinks(data_dir, json_lines, out, opts.events_path)
    try:
        # photos written off the frame loop, as ``run`` does (``evidence/writer.py``)
        parts = assemble(cfg, clock=clock, source=source, lock_thread=False, sinks=sinks, photo_thread=True)
    except (FileNotFoundError, ConfigError) as exc:  # plate models, or the occupancy model
        print(f"demo: models missing ({exc}); run `edge-agent models fetch`", file=sys.stderr)
        return 1
    agent, locks, link = parts.agent, parts.locks, parts.link
    last_label = [None]
    if not json_lines:
        where = (f"mosquitto on {broker.url()}" if broker else mask_url_credentials(opts.broker_url)
                 if opts.broker_url else offline)
        print(f"edge-agent demo: 2 bays (A, B) with simulated locks, camera at {fps:g} fps, fuel grace "
              f"{cfg.timers.fuel_grace_s:g} s, real plate detector + recogniser, MQTT → {where}; time is simulated.",
              file=out)
        agent.bus.subscribe(lambda ev: print(f"  t={clock.monotonic() - t0:6.1f}s  {describe(ev)}", file=out))
    parts.start()

    def step() -> None:
        agent.step()
        # the locks' tick is the loop's own work too (``HealthTracker.turn``), as ``run``'s lock thread is none of
        # the camera's: on a slow card (1 s a sync) its events' synced rows read as camera silence, and the story
        # told a healthy camera's ``camera_lost`` / ``camera_restored``
        with agent.health.turn():
            _presence(source, locks)
            locks.tick()
        seg = source.current
        if not json_lines and seg is not None and seg.label and seg.label != last_label[0]:
            last_label[0] = seg.label
            print(f"  t={clock.monotonic() - t0:6.1f}s  -- scene: {seg.label}", file=out)

    wall = time.perf_counter()
    run_scripted(step, clock, source.duration, fps, until=until)
    stopped = until is not None and until.is_set()
    if stopped and not json_lines:
        print(f"  t={clock.monotonic() - t0:6.1f}s  -- stopped by a signal: stopping cleanly", file=out)
    if not stopped and (broker is not None or opts.broker_url):  # let the link deliver what it has before the story's summary
        deadline = time.monotonic() + 5
        while link.outbox_depth() and time.monotonic() < deadline:
            time.sleep(0.05)
    depth = link.outbox_depth()
    parts.stop()
    agent.drain_photos()  # every photo on disk before the summary counts them and the index closes
    n = agent.evidence.total_bytes()
    parts.close()  # the evidence index's WAL folded in, as the outbox's is
    if watcher is not None:
        time.sleep(0.2)
        watcher.disconnect()
        watcher.loop_stop()
    if not json_lines:
        print(f"done: {source.duration:.0f} s of scenario in {time.perf_counter() - wall:.1f} s wall time; "
              f"{agent.monitor.frames} frames, detector ran on {agent.monitor.detector_runs}; "
              f"evidence {n // 1024} KiB " + (TEMPORARY if opts.temporary_data else f"in {data_dir / 'evidence'}"),
              file=out)
        for bay, s in sorted(agent.bus.states().items()):
            print(f"  final: bay {bay} {s.state}, lock {s.lock}", file=out)
        if opts.frames_out is not None:
            print(f"frames: {source.written} in {opts.frames_out}; replay with "
                  f"`edge-agent run -c {opts.frames_out / 'scenario.yaml'}`", file=out)
        if opts.events_path is not None:
            print(f"events: {opts.events_path} (JSON lines)", file=out)
        if opts.broker_url:
            print(f"MQTT: published to {opts.broker_url}; {depth} event(s) still wait in the outbox", file=out)
        elif broker is not None:
            counts = Counter(topic for topic, _ in received)
            print(f"MQTT: {len(received)} messages reached the broker:", file=out)
            for topic, k in sorted(counts.items()):
                print(f"  {k:4d}  {topic}", file=out)
        else:
            if opts.temporary_data:
                print(f"MQTT: no broker — {depth} event(s) were queued in the outbox and go with the temporary "
                      "folder (--data-dir DIR keeps them on disk)", file=out)
            else:
                print(f"MQTT: no broker — {depth} event(s) wait in the outbox {cfg.mqtt.outbox.path}; "
                      "they are delivered once a broker is reachable", file=out)
    return 0


def _sinks(data_dir: Path, json_lines: bool, out, events_path: Path | None):  # noqa: ANN001, ANN202
    """JSON lines to stdout (``--json``) and/or to ``events_path`` (``--events``), events only."""
    if not json_lines and events_path is None:
        return None
    if events_path is not None:
        events_path.parent.mkdir(parents=True, exist_ok=True)
        events_path.write_text("", encoding="utf-8")  # one run, one file

    def make(a: Any) -> list[Any]:
        made = [JsonLinesSink(a.bus, data_dir / "events.jsonl", out, states=False)] if json_lines else []
        return made + ([JsonLinesSink(a.bus, events_path, None, states=False)] if events_path else [])

    return make


def _watch(broker: Any, cfg: Any, received: list) -> Any:
    """A backend-side subscriber, so the demo can show what was published."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    prefix = cfg.mqtt.topic_prefix.format(site=cfg.site.site_id, device=cfg.site.device_id)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-agent-demo-watch", protocol=mqtt.MQTTv5)
    c.on_connect = lambda cl, *_: cl.subscribe(f"{prefix}/#", qos=1)
    c.on_message = lambda _c, _u, msg: received.append((msg.topic, bytes(msg.payload)))
    c.connect("127.0.0.1", broker.port, 30)
    c.loop_start()
    return c
