"""A stand-in agent for the graceful-stop test: the real config loader, bus, outbox and MQTT link, stopped
by the ops signal handlers and shutdown plan; a producer thread bursting events stands in for the camera.

    python -m tests.ops.stop_child CONFIG PRODUCED_FILE

Prints ``burst`` once 200 events are on the bus, then keeps producing until SIGTERM; at the end it writes
every produced ``event_id`` to PRODUCED_FILE and prints the shutdown report as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from edge_agent.clock import SystemClock
from edge_agent.config import load_config
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event, EventType
from edge_agent.ops.logging_setup import setup_logging
from edge_agent.ops.signals import ShutdownPlan, install_signal_handlers
from tests.events.helpers import BAYS, RecordingControl


def main() -> int:
    cfg = load_config(sys.argv[1])
    produced_file = Path(sys.argv[2])
    setup_logging(cfg.ops.logging)
    clock = SystemClock()
    bus = EventBus()
    link = build_mqtt(cfg, bus, RecordingControl(), clock, no_health)
    link.start()

    stop, frames_off = threading.Event(), threading.Event()
    produced: list[str] = []

    def camera() -> None:  # the frame loop: every turn may publish an event
        i = 0
        while not frames_off.is_set():
            ev = Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id=BAYS[i % len(BAYS)], data={"seq": i})
            bus.publish(ev)  # on disk (outbox) when this returns
            produced.append(ev.event_id)
            i += 1
            if i == 200:
                print("burst", flush=True)

    handlers = install_signal_handlers(on_reload=None, on_stop=stop.set)
    producer = threading.Thread(target=camera, name="camera")
    producer.start()
    stop.wait()
    t0 = time.monotonic()
    plan = ShutdownPlan(budget_s=cfg.ops.stop_timeout_s)
    plan.add("stop frames", lambda: (frames_off.set(), producer.join()))
    plan.add("locks safe", lambda: None)  # no locks in this stand-in
    plan.add("mqtt flush + offline", lambda left: link.stop(flush_s=max(left - 1.0, 0.5)))
    results = plan.run()
    handlers.restore()
    produced_file.write_text("\n".join(produced) + "\n")
    print(json.dumps({
        "produced": len(produced),
        "stop_s": round(time.monotonic() - t0, 3),
        "steps": {r.name: r.status for r in results},
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
