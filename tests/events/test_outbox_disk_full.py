"""The outbox on a really full disk (a 3 MB tmpfs): its reserve file takes the first shock, every
message that still cannot be written is counted, announced at once and noted durably later."""

from __future__ import annotations

import json
import shutil

from edge_agent.events.outbox import LOST_KEY, Outbox
from tests.tmpfs import failing_disk, fill, tiny_disk  # noqa: F401  (fixture)


def _notice(total: int) -> tuple[str, bytes]:
    return "t/events", json.dumps({"type": "outbox_lost", "lost_total": total}).encode()


def test_reserve_then_counted_losses_then_a_durable_notice(tiny_disk):  # noqa: F811
    disk = tiny_disk(3)
    announced: list[int] = []
    box = Outbox(disk / "o.sqlite", reserve_bytes=256 * 1024, lost_notice=_notice, on_lost=announced.append)
    assert box.reserve_path.stat().st_size == 256 * 1024
    assert box.put("t/events", b"before") is not None
    filler = fill(disk)  # something else (logs, photos, another program) takes every byte left
    payload = b"e" * 2000
    written = lost = 0
    for _ in range(400):  # far more than the reserve holds
        if box.put("t/events", payload) is None:
            lost += 1
        else:
            written += 1
    assert box.reserve_used == 1 and not box.reserve_path.exists()  # released once, when the disk filled
    assert written > 50  # the reserve let events in after the disk was full
    assert lost > 0 and box.lost() == lost  # and whatever did not fit is counted, not silent
    assert announced == list(range(1, lost + 1))  # each loss announced at the moment it happened
    assert box.depth() == written + 1
    filler.unlink()  # space comes back
    assert box.put("t/events", b"after") is not None
    rows = box.pending(limit=1000)
    notices = [r for r in rows if r.payload.startswith(b'{"type": "outbox_lost"')]
    assert [json.loads(r.payload)["lost_total"] for r in notices] == [lost]  # one durable notice row
    assert rows[-1].payload == b"after"
    assert box.reserve_path.stat().st_size == 256 * 1024  # re-made once there was room
    box.close()
    with Outbox(disk / "o.sqlite") as again:  # the count survives a restart
        assert again.lost() == lost
        assert again._db.execute("SELECT COUNT(*) FROM outbox WHERE key=?", (LOST_KEY,)).fetchone()[0] == 1


def test_without_a_reserve_losses_are_still_counted(tiny_disk):  # noqa: F811
    disk = tiny_disk(3)
    box = Outbox(disk / "o.sqlite", lost_notice=_notice)
    fill(disk)
    results = [box.put("t/events", b"x" * 4000) for _ in range(50)]
    lost = results.count(None)
    assert lost > 0 and box.lost() == lost
    assert shutil.disk_usage(disk).free < 64 * 1024
    box.close()


def test_a_card_turned_read_only_counts_every_loss(failing_disk):  # noqa: F811
    """The kernel remounts a failing SD card read-only: SQLite then says "disk I/O error" and the
    reserve file cannot be released either. Before, that second failure escaped ``put``: the event
    vanished with a traceback, ``lost()`` stayed 0 and nothing was announced."""
    folder, fail = failing_disk
    announced: list[int] = []
    box = Outbox(folder / "o.sqlite", reserve_bytes=256 * 1024, on_lost=announced.append)
    assert box.put("t/events", b"before") is not None
    fail()
    assert [box.put("t/events", b"x") for _ in range(3)] == [None, None, None]
    assert box.lost() == 3 and announced == [1, 2, 3]
    assert box.depth() == 1
    box.close()


def test_a_retained_document_that_does_not_fit_is_no_lost_event(tiny_disk):  # noqa: F811
    """``lost_total`` counts events (docs/mqtt.md): a bay state or daily statistics that did not fit is said again
    by the link at the next connect (the empty one clearing a removed bay, at the next start), and counted here it
    told a backend of lost events it would look for in vain (probe chaos42)."""
    disk = tiny_disk(3)
    announced: list[int] = []
    box = Outbox(disk / "o.sqlite", lost_notice=_notice, on_lost=announced.append)
    fill(disk)
    states = [
        box.put(f"t/bay/{i}/state", b"s" * 4000, retain=True, protected=True, key=f"t/bay/{i}/state") for i in range(50)
    ]
    events = [box.put("t/events", b"x" * 4000) for _ in range(50)]
    assert states.count(None) > 0 and events.count(None) > 0
    assert box.lost() == events.count(None), "retained documents were counted as lost events"
    assert announced == list(range(1, events.count(None) + 1))
    box.close()
