"""Yesterday's figures retained at {prefix}/stats/daily on a real mosquitto: schema-valid, the same
after a restart (they come from the stored events), a new day after local midnight."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.schemas import first_error
from edge_agent.evidence.violations import ViolationLog
from edge_agent.stats.daily import DailyStats
from tests.events.conftest import broker  # noqa: F401 - the fixture
from tests.events.helpers import BAYS, RecordingControl, Subscriber, make_config
from tests.stats.helpers import Story

pytestmark = pytest.mark.broker
SH = ZoneInfo("Asia/Shanghai")


def test_daily_summary_is_retained_schema_valid_and_survives_a_restart(broker, tmp_path):  # noqa: F811
    clock = FakeClock(datetime(2026, 3, 1, 16, 0, tzinfo=timezone.utc))  # 00:00 on the 2nd in Shanghai
    cfg = make_config(broker.url(), tmp_path / "data")
    log = ViolationLog(tmp_path / "data" / "evidence" / "evidence.db", clock)
    story = Story(log, clock)
    story.visit("B2", datetime(2026, 3, 2, 9, 0, tzinfo=SH), datetime(2026, 3, 2, 10, 0, tzinfo=SH), nev=False,
                violation=(datetime(2026, 3, 2, 9, 2, tzinfo=SH), datetime(2026, 3, 2, 10, 0, tzinfo=SH)))
    story.visit("B1", datetime(2026, 3, 2, 23, 0, tzinfo=SH), datetime(2026, 3, 3, 1, 0, tzinfo=SH), nev=True)
    clock.advance(3600 * 5)  # 06:00 on the 3rd
    docs = []
    for _restart in range(2):
        backend = Subscriber(broker.port, ["edge/s1/dev1/stats/#"]).start()
        link = build_mqtt(cfg, EventBus(), RecordingControl(), clock, lambda: HealthFigures())
        daily = DailyStats(link, log.db_path, BAYS, SH, clock, "dev1")
        link.start()
        try:
            assert daily.check().isoformat() == "2026-03-02"
            assert daily.check() is None  # once a day
            msg = backend.wait_for("edge/s1/dev1/stats/daily")
        finally:
            link.stop()
            backend.stop()
        doc = msg.json()
        assert first_error("stats-daily.json", doc) is None, first_error("stats-daily.json", doc)
        docs.append(doc)
    b = {r["bay"]: r for r in docs[0]["bays"]}
    assert b["B1"]["occupied_s"] == 3600 and b["B1"]["visits_nev"] == 1  # 23:00-24:00 of the 2nd only
    assert b["B2"]["violations"] == 1 and b["B2"]["violation_s"] == 58 * 60 and b["B2"]["fuel_on_bay_s"] == 3600
    assert docs[0]["totals"]["violations"] == 1 and docs[0]["day"] == "2026-03-02"
    assert docs[1]["bays"] == docs[0]["bays"]  # a restart changes nothing: the figures come from the stored events
    sent = []

    class Link:  # what DailyStats needs of the link, recording
        topics = link.topics

        def publish_retained(self, topic, doc):
            sent.append((topic, doc))

    daily = DailyStats(Link(), log.db_path, BAYS, SH, clock, "dev1")
    assert daily.check().isoformat() == "2026-03-02"
    clock.advance(17 * 3600)  # 23:00 on the 3rd: still the same last complete day
    assert daily.check() is None
    clock.advance(3600)  # local midnight
    assert daily.check().isoformat() == "2026-03-03"
    assert sent[-1][1]["bays"][0]["occupied_s"] == 3600  # B1's 00:00-01:00 on the 3rd
    log.close()
