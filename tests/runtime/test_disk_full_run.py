"""A disk-full run: the whole agent (real models, evidence, MQTT outbox during a backend outage)
with its data_dir on a 3 MB tmpfs, fed car after car until photos would fill the disk many
times over. Events outrank photos: every event produced is written to the outbox, or — with the
reserves switched off — every one that is not is counted; none vanishes silently.
"""

from __future__ import annotations

import json
import socket

import pytest

from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)

VISITS = 12
FPS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(disk, models_dir, clock, evidence_reserve_mb: float, outbox_reserve_mb: float) -> dict:  # noqa: ANN001
    cfg = scene_config(
        str(disk), perception={"models_dir": str(models_dir), "threads": 1},
        timers={"arrival_confirm_s": 1, "departure_confirm_s": 2, "fuel_grace_s": 2,
                "unidentified_timeout_s": 5, "overstay_s": 5},
        evidence={"min_free_mb": evidence_reserve_mb, "jpeg_quality": 95},
        mqtt={"enabled": True, "brokers": [f"mqtt://127.0.0.1:{_free_port()}"],  # the backend is down
              "outbox": {"reserve_mb": outbox_reserve_mb}},
    )
    empty, parked = render(EMPTY), render(Scene(cars=(FUEL,)))
    story = []
    for _ in range(VISITS):
        story += hold(5, empty) + hold(8, parked)
    src = ScriptedSource(story, clock)
    parts = assemble(cfg, clock=clock, source=src, review=False)
    agent, link = parts.agent, parts.link
    produced: list[str] = []
    agent.bus.subscribe(lambda e: produced.append(e.event_id))
    agent.start()
    try:
        run_scripted(agent.step, clock, src.duration, FPS)
        rows = link.outbox.pending(limit=100_000)
        written = {json.loads(r.payload).get("event_id") for r in rows if r.topic.endswith("/events")}
        lost = link.outbox.lost()
        figures = {"produced": len(produced), "written": len(set(produced) & written), "lost": lost,
                   "evidence_saved": len(list(disk.rglob("*.jpg"))), "evidence_pruned": agent.evidence.space.pruned,
                   "evidence_skipped": agent.evidence.space.skipped, "reserve_used": link.outbox.reserve_used,
                   "types": sorted({json.loads(r.payload).get("type") for r in rows if r.topic.endswith("/events")})}
    finally:
        agent.stop()
        link.stop(flush_s=0)
    print("disk-full run:", figures)
    return figures


def test_every_event_reaches_the_outbox_on_a_full_disk(tiny_disk, models_dir, clock):  # noqa: F811
    disk = tiny_disk(3)
    f = _run(disk, models_dir, clock, evidence_reserve_mb=1.0, outbox_reserve_mb=0.25)
    assert f["produced"] >= VISITS * 4  # arrived, identified, violation started/ended, departed …
    assert f["written"] == f["produced"] and f["lost"] == 0  # events outrank photos
    assert f["evidence_pruned"] > 0  # the photos gave way (and said so)
    assert "storage_low" in f["types"]


def test_without_reserves_every_loss_is_counted(tiny_disk, models_dir, clock):  # noqa: F811
    disk = tiny_disk(3)
    f = _run(disk, models_dir, clock, evidence_reserve_mb=0, outbox_reserve_mb=0)
    assert f["produced"] >= VISITS * 4
    assert f["written"] + f["lost"] >= f["produced"]  # nothing vanished without being counted
    if f["lost"] == 0:
        pytest.skip(f"this run never filled the disk enough to lose an event: {f}")
