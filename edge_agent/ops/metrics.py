"""Prometheus metrics: fps, inference latency, outbox depth, events by type, lock moves/faults, camera reconnects.

Why its own ``CollectorRegistry``: the global default registry is process-wide state — two agents
in one test process (or a reload) would collide on metric names. The runtime owns one
``AgentMetrics`` and hands it to whoever records. Events are counted by subscribing to the
``EventBus``, so the bays, locks and camera stages need no metrics code of their own.

Runtime hooks::

    metrics = AgentMetrics()
    metrics.attach(bus)                              # events by type, lock moves/faults, camera reconnects
    metrics.outbox_depth.set_function(outbox.depth)  # or metrics.outbox_depth.set(n)
    metrics.fps.set(reader.fps)                      # per health tick
    metrics.loops_stuck.set_function(lambda: len(watchdog.stuck()))
    with metrics.inference_seconds.time(): pipeline.process(frame)
    server = start_metrics_server(cfg.ops.metrics.port, metrics.registry, cfg.ops.metrics.host)
    ... server.shutdown() on stop
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType

# Plate detection + reading on a Pi 5 CPU sits in the 50 ms – 1 s range; a Jetson on TensorRT lower.
INFERENCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)


class AgentMetrics:
    """Every metric the agent exports, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.fps = Gauge("edge_agent_camera_fps", "Frames per second read from the camera", registry=r)
        self.inference_seconds = Histogram(
            "edge_agent_inference_seconds", "Perception time per processed frame", buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge("edge_agent_outbox_depth", "Messages waiting in the MQTT outbox", registry=r)
        self.outbox_dropped = Gauge("edge_agent_outbox_dropped", "Unprotected messages dropped at max_rows",
                                    registry=r)
        self.outbox_lost = Gauge("edge_agent_outbox_lost", "Messages the outbox could not write (disk full)",
                                 registry=r)
        self.evidence_skipped = Gauge("edge_agent_evidence_skipped",
                                      "Evidence photos not saved to keep the outbox's free-space reserve", registry=r)
        self.evidence_failed = Gauge("edge_agent_evidence_failed",
                                     "Evidence photos the photo writer lost to an error, not a full or read-only card",
                                     registry=r)
        self.events = Counter("edge_agent_events", "Events published on the bus", ["type"], registry=r)
        self.lock_moves = Counter("edge_agent_lock_moves", "Parking-lock moves", ["bay", "to"], registry=r)
        self.lock_faults = Counter("edge_agent_lock_faults", "Parking-lock faults", ["bay"], registry=r)
        self.camera_reconnects = Counter(
            "edge_agent_camera_reconnects", "Camera connections restored after a loss", registry=r
        )
        # For liveness probes outside systemd (containers): the watchdog's view, 0 when all loops progress.
        self.loops_stuck = Gauge("edge_agent_loops_stuck", "Watched loops past their progress deadline", registry=r)

    def on_event(self, event: Event) -> None:
        """Count one bus event (also usable without a bus)."""
        self.events.labels(type=event.type).inc()
        bay = event.bay_id or ""
        if event.type == EventType.LOCK_MOVED:
            to = event.data.get("to") or event.data.get("position") or event.data.get("state") or "unknown"
            self.lock_moves.labels(bay=bay, to=str(to)).inc()
        elif event.type == EventType.LOCK_FAULT:
            self.lock_faults.labels(bay=bay).inc()
        elif event.type == EventType.CAMERA_RESTORED:
            self.camera_reconnects.inc()

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to every event on ``bus``; returns the unsubscribe."""
        return bus.subscribe(self.on_event)


@dataclass
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_port

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=2)


def start_metrics_server(port: int, registry: CollectorRegistry, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``/metrics`` for ``registry`` on ``host:port`` (port 0 picks a free one) from a daemon thread."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)
