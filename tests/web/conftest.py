"""A whole review site for the web tests: config, users, real evidence and events, the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.bays.charger_health import ChargerHealth
from edge_agent.clock import FakeClock, iso
from edge_agent.config.chargers import ChargerHealthConfig
from edge_agent.config.load import load_config
from edge_agent.control import ControlResult
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, Event, EventType
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog
from edge_agent.perception.lists import PlateLists
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import ScriptedSource, demo_story, run_scripted, scene_config
from edge_agent.web.app import create_app
from edge_agent.web.auth import UsersFile
from tests.web import scenes

PASSWORD = "correct horse battery"
BAYS = {"A1": [[40, 300], [460, 300], [470, 530], [20, 530]], "A2": [[500, 300], [920, 300], [940, 530], [490, 530]]}
# (bay, plate, colour, nev, nev reason, violation reason, day offset)
VIOLATIONS = [
    ("A1", "粤B12345", "blue", False, "format+colour", "fuel_vehicle", 0),
    ("A2", "粤B67890", "blue", False, "format+colour", "fuel_vehicle", 0),
    ("A1", "", "unknown", None, "", "unidentified", 1),
    ("A2", "京A88888", "blue", False, "deny_list", "deny_list", 1),
    ("A1", "沪C24680", "yellow", False, "colour", "fuel_vehicle", 2),
    ("A2", "粤B13579", "blue", False, "format+colour", "fuel_vehicle", 3),
    ("A1", "粤B11111", "blue", False, "format+colour", "fuel_vehicle", 4),
]


class RecordingControl:
    """The runtime side of ``AgentControl`` as the page sees it: snapshots are real rendered JPEGs
    stored as evidence; reload and list changes are applied and recorded."""

    def __init__(self, site: "Site") -> None:
        self.site = site
        self.reloads: list[Any] = []
        self.list_calls: list[tuple] = []
        self.chargers = ChargerHealth(ChargerHealthConfig(), {b: f"ch-{b}" for b in BAYS}, site.clock)

    def bay_ids(self) -> list[str]:
        return list(BAYS)

    def lock(self, bay_id, reason, operator):
        return ControlResult(True, "raised")

    def unlock(self, bay_id, reason, operator):
        return ControlResult(True, "lowered")

    def snapshot(self, bay_id):
        jpg = scenes.scene("", bays=list(BAYS.values()))
        return self.site.store.save(bay_id, None, "snapshot", jpg, None, None, {})

    def reload_config(self, installer=False):
        self.reloads.append(load_config(self.site.config_path))
        return ControlResult(True, "reloaded")

    def set_lists(self, allow, deny):
        self.list_calls.append((allow, deny))
        self.site.lists.update(allow, deny)
        return ControlResult(True, "lists updated")

    def charger_status(self, bay_id, status):
        self.chargers.on_status(bay_id, status)
        return ControlResult(True)

    def charger_warnings(self):
        return self.chargers.active()


@dataclass
class Site:
    root: Path
    config_path: Path
    clock: FakeClock
    store: EvidenceStore
    log: ViolationLog
    bus: EventBus
    lists: PlateLists
    control: Any = None
    ids: list[int] = field(default_factory=list)

    @property
    def cfg(self):
        return load_config(self.config_path)

    def app(self):
        return create_app(self.cfg, self.store, self.log, self.control, self.lists, self.bus, self.clock,
                          self.config_path)


def write_config(root: Path, page_size: int = 5) -> Path:
    (root / "cam").mkdir(exist_ok=True)
    (root / "cam" / "0001.jpg").write_bytes(scenes.scene("", bays=list(BAYS.values())))
    cfg = {
        "site": {"site_id": "plaza-7", "device_id": "cam-1", "timezone": "Asia/Shanghai"},
        "camera": {"source": str(root / "cam"), "width": 960, "height": 540},
        "bays": [{"id": k, "polygon": v, **({"lock_id": "L1"} if k == "A1" else {})} for k, v in BAYS.items()],
        "locks": [{"id": "L1"}],
        "lists": {"allow": ["粤BD00001"], "deny": []},
        "web": {"users_file": "users.txt", "session_secret_file": "secret.key", "page_size": page_size,
                "login_max_failures": 3, "login_window_s": 60},
        "data_dir": str(root / "data"),
    }
    path = root / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def publish_visit(site: Site, bay: str, plate: str, colour: str, nev, nev_reason: str, reason: str,
                  with_lock: bool = False) -> None:
    """One visit's story through the bus, with real evidence images, as the bay monitor would."""
    clock, bus = site.clock, site.bus
    visit = f"v-{bay}-{len(site.ids) + 1}"
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=bay, visit_id=visit))
    clock.advance(5)
    frame = scenes.scene(plate, colour, bays=[BAYS[bay]])
    crop = scenes.plate_crop(plate, colour) if plate else None
    if plate:
        eid = site.store.save(bay, visit, "identified", frame, crop, plate, {})
        bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id=bay, visit_id=visit, evidence_id=eid,
                               data={"plate": plate, "colour": colour, "type_code": "02", "nev": nev,
                                     "reason": nev_reason, "confidence": 0.93}))
    clock.advance(120)
    eid = site.store.save(bay, visit, "violation_started", frame, crop, plate or None, {})
    data = {"reason": reason, "parked_s": 125.0, **({"plate": plate, "colour": colour} if plate else {})}
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit, evidence_id=eid,
                           data=data))
    if with_lock:
        clock.advance(1)
        bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id=bay,
                               data={"lock_id": "L1", "state": "up", "reason": "violation"}))
    clock.advance(600)
    bus.publish(Event.make(EventType.VIOLATION_ENDED, clock, bay_id=bay, visit_id=visit,
                           data={"reason": "departed", "violation": reason, "duration_s": 600.0}))
    bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id=bay, visit_id=visit,
                           data={"stayed_s": 725.0}))
    site.ids.append(len(site.ids) + 1)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    config_path = write_config(tmp_path)
    UsersFile(tmp_path / "users.txt").set("admin", PASSWORD)
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))  # events in UTC; the page shows +08:00
    store = EvidenceStore(tmp_path / "data" / "evidence", clock)
    log = ViolationLog(store.db_path, clock)
    bus = EventBus()
    log.attach(bus)
    s = Site(tmp_path, config_path, clock, store, log, bus, PlateLists(["粤BD00001"], []))
    s.control = RecordingControl(s)
    for bay, plate, colour, nev, why, reason, day in VIOLATIONS:
        target = datetime(2026, 3, 2 + day, 1, 0, tzinfo=timezone.utc)
        if target > clock.now():
            clock.advance((target - clock.now()).total_seconds())
        publish_visit(s, bay, plate, colour, nev, why, reason, with_lock=(bay == "A1"))
    bus.publish_state(BayState("A1", "violation", iso(clock.now()), "v-live", "粤B99999", "blue", False,
                               "format+colour", lock="up"))
    bus.publish_state(BayState("A2", "free", iso(clock.now()), lock=None))
    yield s
    log.close()
    store.close()


@pytest.fixture(scope="session")
def recorded_agent(tmp_path_factory, models_dir):
    """The demo scenario through the real agent (real models, fake clock) with the violation log on its bus."""
    root = tmp_path_factory.mktemp("agent")
    clock = FakeClock()
    cfg = scene_config(str(root / "data"), perception={"models_dir": str(models_dir)},
                       web={"users_file": str(root / "users.txt"), "session_secret_file": str(root / "key")})
    source = ScriptedSource(demo_story(5.0), clock)
    agent = Agent(cfg, clock=clock, source=source)
    log = ViolationLog(agent.evidence.db_path, clock)
    log.attach(agent.bus)
    agent.start()
    run_scripted(agent.step, clock, source.duration, 5.0)
    agent.stop()
    UsersFile(root / "users.txt").set("admin", "agent-password")
    yield agent, log, clock
    log.close()
