"""A stand-in agent process for the kill/restart tests: the real config loader, bus, outbox
and MQTT link, with a scripted event source instead of a camera.

    python -m tests.events.agent_child CONFIG [--events N] [--ids FILE]

Prints ``started`` once the link runs and ``produced N`` once N events are on the bus (hence
on disk), then waits to be killed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from edge_agent.clock import SystemClock
from edge_agent.config import load_config
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event, EventType
from tests.events.helpers import BAYS, RecordingControl


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--ids", help="write the produced event ids here (one a line) before saying 'produced'")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    clock = SystemClock()
    bus = EventBus()
    link = build_mqtt(cfg, bus, RecordingControl(), clock, no_health)
    link.start()
    print("started", flush=True)
    ids = []
    for i in range(args.events):
        bay = BAYS[i % len(BAYS)]
        event = Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id=bay, data={"seq": i // len(BAYS)})
        bus.publish(event)
        ids.append(event.event_id)
    if args.ids:
        with open(args.ids, "w") as f:
            f.write("\n".join(ids) + "\n")
    if args.events:
        print(f"produced {args.events}", flush=True)
    threading.Event().wait()  # until SIGKILL / SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
