"""A ``site.timezone`` corrected between runs: the photos go by their recorded time, never early, and the day
folders named in the old zone go as soon as retention has emptied them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 100 + b"\xff\xd9"


@pytest.mark.parametrize("old,new", [("Asia/Shanghai", "UTC"), ("Pacific/Kiritimati", "Etc/GMT+12"),
                                     ("UTC", "Asia/Shanghai"), ("Etc/GMT+12", "Pacific/Kiritimati")])
def test_photos_go_at_their_age_and_the_old_zones_folder_with_them(tmp_path, old, new):
    taken = datetime(2026, 3, 3, 16, 30, tzinfo=timezone.utc)  # 00:30 on the 4th in Shanghai
    before = EvidenceStore(tmp_path, FakeClock(taken.astimezone(ZoneInfo(old))), max_age_days=1)
    before.save("B1", None, "identification", JPEG, JPEG)
    before.close()
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    clock = FakeClock(taken.astimezone(ZoneInfo(new)))  # the operator corrects the zone and restarts
    store = EvidenceStore(tmp_path, clock, max_age_days=1)
    try:
        clock.advance(86400 - 60)
        assert store.enforce_retention() == 0 and store.sweep_orphans(min_age_s=0) == 0
        assert len(list(folder.glob("*.jpg"))) == 2  # a minute before its day has passed: kept, in any zone
        clock.advance(120)
        assert store.enforce_retention() == 1
        store.sweep_orphans(min_age_s=0)
        # was: an empty 2026-03-04 kept until midnight in the new zone (7.5 h for UTC, 20 h for UTC-12)
        assert not folder.exists(), f"{folder.name} still there at {clock.now().isoformat()}"
        fresh = store.root / clock.now().strftime("%Y-%m-%d")
        fresh.mkdir(exist_ok=True)
        store.sweep_orphans()
        assert fresh.is_dir()  # changed within the hour: a save may be on its way into it
    finally:
        store.close()


def test_a_folder_still_holding_photos_is_never_removed(tmp_path):
    clock = FakeClock(datetime(2026, 3, 4, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
    store = EvidenceStore(tmp_path, clock, max_age_days=30)
    try:
        store.save("B1", None, "identification", JPEG, JPEG)
        store.clock = FakeClock(clock.now().astimezone(timezone(timedelta(hours=-12))))  # its today: the 3rd
        store.sweep_orphans(min_age_s=0)
        assert len(list(tmp_path.glob("2026-03-04/*.jpg"))) == 2
    finally:
        store.close()
