"""Saved motor starts the agent did not write as it does (probe review59): the ``starts`` of ``lock-latches.json``
edited by hand, restored from another machine, or bit-rotted, and the wall clock anywhere.

A start is a time with offset; any such time parses, year 1 and year 9999 alike. Put on the clock as it reads now
after a step back (``Interlock._restore_duty``), a start older than the calendar's start raised ``OverflowError`` in
the interlock's start: the agent died before its locks were read, at every start, the file unchanged. A start
older than the window counts nothing, so it is kept a window old. Anything else unexpected refuses the file as any
unreadable one is (every lock in FAULT until an operator looks: its faults and maintenance are in doubt too).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.clock import parse_iso
from edge_agent.locks.interlock import _ages, _on_wall
from tests.locks.conftest import Rig

WINDOW = 300.0


def _rig_with_starts(make_rig, kind: str, path, starts: list[str]) -> Rig:  # noqa: ANN001
    path.write_text(json.dumps({"version": 1, "locks": {}, "starts": {"L1": starts}}))
    return make_rig(kind, position=0.0, latches_at=path)


def test_starts_at_the_calendars_ends_start_the_lock(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _rig_with_starts(make_rig, kind, path, ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"])
    il = rig.manager._unit("B1").interlock
    assert il.fault is None and rig.state == "down"
    saved = [parse_iso(t) for t in json.loads(path.read_text())["starts"]["L1"]]
    assert saved == sorted(saved) and saved[-1] <= rig.clock.now(), saved
    rig.step(1)
    rig.safe()


_TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                      timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)),
                                                 timezone(timedelta(hours=-12)), timezone(timedelta(hours=8))]))


@given(st.lists(_TIMES, max_size=30), _TIMES)
def test_ages_of_any_saved_list_on_any_clock(saved, wall):
    """Finite, never negative, in saved order (each no younger than the one after it), and put back on the clock
    without raising: no later than now, in the same order."""
    ages, stepped = _ages(saved, wall)
    assert len(ages) == len(saved)
    assert all(math.isfinite(a) and a >= 0 for a in ages), ages
    assert all(a >= b for a, b in zip(ages, ages[1:])), ages
    back = [parse_iso(t) for t in _on_wall(ages, wall, WINDOW)]
    assert back == sorted(back) and all(t <= wall for t in back)
    assert all(wall - t >= timedelta(seconds=min(a, WINDOW)) - timedelta(milliseconds=1) for t, a in zip(back, ages))
    assert stepped == (any(t > wall for t in saved[-1:]) or any(a > b for a, b in zip(saved, saved[1:]))), saved
