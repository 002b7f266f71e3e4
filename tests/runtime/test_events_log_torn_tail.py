"""``events.jsonl`` after a power cut or a kill on a full disk: its last line may be cut short (the card lost the
unsynced tail, or a kill caught the rest of a line in the buffer). The next run's lines must still read back, each
alone: the torn line is the only one lost (probe chaos36: appended to it, the next run's first line was glued onto
it and unreadable too — 4 of 62 lines in 25 power cuts of a real ``run``)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.sinks import JsonLinesSink


def _one_run(path, clock, own: bool, bay: str) -> Event:  # noqa: ANN001
    bus = EventBus()
    sink = JsonLinesSink(bus, path, io.StringIO(), own=own)
    sink.start()
    ev = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=bay, visit_id=f"v-{bay}")
    bus.publish(ev)
    sink.stop()
    return ev


@pytest.mark.parametrize("own", [True, False])
@pytest.mark.parametrize("cut", [1, 17, 40])
def test_a_run_after_a_torn_last_line_writes_lines_that_read_back(tmp_path, own, cut):
    clock = FakeClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    path = tmp_path / "events.jsonl"
    first = _one_run(path, clock, own, "A1")
    second = _one_run(path, clock, own, "A2")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])  # the power cut: the second run's line lost its tail
    third = _one_run(path, clock, own, "A3")

    ids = []
    for line in path.read_bytes().splitlines():
        try:
            ids.append(json.loads(line)["event_id"])
        except ValueError:
            continue  # the torn line itself: what the card lost
    assert ids == [first.event_id, third.event_id] or ids == [first.event_id, second.event_id, third.event_id]
