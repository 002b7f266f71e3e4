"""``edge-agent evidence forget PLATE``: a data subject's request met in one command — every copy of the plate on
the device goes (photos, index, violations, decisions, events, audit, events.jsonl, undelivered messages, free
SQLite pages), another car's records stay, the forget is audited, and a running agent's folder is refused."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.outbox import Outbox
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationFilter
from edge_agent.runtime.sinks import JsonLinesSink

GONE, KEPT = "京A12345", "粤BD12345"
JPEG = b"\xff\xd8" + b"x" * 998


def _site(tmp: Path, repo: Path) -> tuple[Path, Path]:
    """A data folder as a device leaves it: two visits (a fuel car in violation, decided, its plate in a list
    edit's audit entry; an NEV), their photos, the events file and undelivered MQTT and push messages."""
    data = tmp / "data"
    clock, bus = FakeClock(), EventBus()
    store = EvidenceStore(data / "evidence", clock)
    rec = ViolationRecorder(store.db_path, clock, bus)
    lines = JsonLinesSink(bus, data / "events.jsonl", None)
    mqtt = Outbox(data / "mqtt-outbox.sqlite", max_rows=1000)
    push = Outbox(data / "notify-wecom.sqlite", max_rows=1000)
    bus.subscribe(lambda e: (mqtt.put("edge/s/d/events", json.dumps(e.to_dict(), ensure_ascii=False).encode()),
                             push.put("wecom", json.dumps(e.to_dict(), ensure_ascii=False).encode())))
    rec.start()
    lines.start()
    for bay, visit, plate, nev in (("B", "fuel", GONE, False), ("A", "nev", KEPT, True)):
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=bay, visit_id=visit))
        photo = store.save(bay, visit, "vehicle_identified", JPEG, JPEG[:300], plate, {})
        bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id=bay, visit_id=visit, evidence_id=photo,
                               data={"plate": plate, "nev": nev}))
        bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id=bay, visit_id=visit,
                               data={"lock_id": "L", "state": "up", "reason": f"{plate} identified"}))
        if not nev:
            shot = store.save(bay, visit, "violation_started", JPEG, None, plate, {})
            bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit, evidence_id=shot,
                                   data={"plate": plate, "reason": "fuel_vehicle"}))
        clock.advance(600)
        bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id=bay, visit_id=visit,
                               data={"stayed_s": 600.0, "plate": plate}))
    vid = next(v.id for v in rec.log.iter_all(ViolationFilter()))
    rec.log.decide(vid, "confirmed", "alice", reason=f"{GONE} has no charging card")
    rec.log.audit("alice", "list_deny_add", f"plate:{GONE}", "from violation")
    lines.stop()
    rec.stop()
    mqtt.close()
    push.close()
    store.close()
    cfg = yaml.safe_load((repo / "config" / "demo.yaml").read_text(encoding="utf-8"))
    cfg["data_dir"] = str(data)
    cfg["lists"] = {"allow": [], "deny": [GONE]}
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path, data


def _holding(data: Path, plate: str) -> list[str]:
    return sorted(str(f.relative_to(data)) for f in data.rglob("*") if f.is_file() and plate.encode() in f.read_bytes())


def _forget(config: Path, plate: str, *more: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "evidence", "forget", plate, "--config", str(config),
                           "--by", "dpo", *more], capture_output=True, text=True, timeout=120)


def test_forget_leaves_no_copy_of_the_plate_and_is_audited(tmp_path, repo):
    config, data = _site(tmp_path, repo)
    assert _holding(data, GONE) == ["events.jsonl", "evidence/evidence.db", "mqtt-outbox.sqlite",
                                    "notify-wecom.sqlite"]
    photos = sorted(p.name for p in (data / "evidence").rglob("*.jpg"))
    assert len(photos) == 5
    r = _forget(config, "京A·1234 5")  # as someone types it from a letter: a dot and a space
    assert r.returncode == 0, r.stderr
    assert "京A***45: 2 photo record(s) deleted, 1 violation(s) deleted" in r.stdout
    assert "still on the deny list" in r.stdout
    assert _holding(data, GONE) == []  # no file, no free page, no WAL frame, no photo names it
    assert len(list((data / "evidence").rglob("*.jpg"))) == 2  # the NEV's scene and crop
    assert _holding(data, KEPT) == ["events.jsonl", "evidence/evidence.db", "mqtt-outbox.sqlite",
                                    "notify-wecom.sqlite"]
    clock = FakeClock()
    rec = ViolationRecorder(data / "evidence" / "evidence.db", clock, EventBus())
    try:
        story = rec.log.timeline("fuel")  # the times stay for the statistics
        assert [e.type for e in story] == ["vehicle_arrived", "vehicle_identified", "lock_moved",
                                           "violation_started", "vehicle_departed"]
        assert story[2].data["reason"] == "*** identified" and story[-1].data == {"stayed_s": 600.0}
        assert [v.plate for v in rec.log.iter_all(ViolationFilter())] == []
        audit = rec.log.audit_entries()
        assert (audit[0]["user"], audit[0]["action"], audit[0]["target"]) == ("dpo", "plate_forgotten",
                                                                              "plate:京A***45")
        assert audit[1]["target"] == "plate:***"  # the list edit's entry stays, without the plate
    finally:
        rec.stop()
    mqtt = Outbox(data / "mqtt-outbox.sqlite", max_rows=1000)
    try:
        assert mqtt.depth() > 0  # the NEV's messages still wait for the broker
    finally:
        mqtt.close()


def test_forget_refuses_while_the_agent_runs_and_a_text_that_is_no_plate(tmp_path, repo):
    config, data = _site(tmp_path, repo)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from edge_agent.ops.instance_lock import hold_data_dir; "
                               f"hold_data_dir(Path({str(data)!r}), 'run'); print('held', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        r = _forget(config, GONE)
        assert r.returncode == 2 and "stop the agent" in r.stderr and "Traceback" not in r.stderr
    finally:
        holder.communicate("", timeout=30)
    r = _forget(config, "DROP TABLE")
    assert r.returncode == 2 and "is not a plate" in r.stderr and "Traceback" not in r.stderr
    assert _holding(data, GONE) == ["events.jsonl", "evidence/evidence.db", "mqtt-outbox.sqlite",
                                    "notify-wecom.sqlite"]


def test_forget_of_a_plate_inside_another_plate_leaves_that_car_alone(tmp_path, repo):
    """``粤BD1234`` (a blue plate) is the first seven characters of the NEV's ``粤BD12345``: the plate was matched as
    a substring, so forgetting the blue car deleted the NEV's undelivered messages, took its plate out of its bay
    events and events.jsonl and left ``***5`` in their texts. A plate is matched whole, never inside a longer one."""
    config, data = _site(tmp_path, repo)
    before = {name: (data / name).read_bytes() for name in ("events.jsonl",)}
    mqtt = Outbox(data / "mqtt-outbox.sqlite", max_rows=1000)
    depth = mqtt.depth()
    mqtt.close()
    r = _forget(config, "粤BD1234")
    assert r.returncode == 0, r.stderr
    assert "0 photo record(s) deleted, 0 violation(s) deleted, plate taken out of 0 bay event(s)" in r.stdout
    assert "0 events.jsonl line(s)" in r.stdout and "undelivered messages deleted: none" in r.stdout
    assert (data / "events.jsonl").read_bytes() == before["events.jsonl"]
    mqtt = Outbox(data / "mqtt-outbox.sqlite", max_rows=1000)
    try:
        assert mqtt.depth() == depth
    finally:
        mqtt.close()
    rec = ViolationRecorder(data / "evidence" / "evidence.db", FakeClock(), EventBus())
    try:
        story = rec.log.timeline("nev")
        assert [e.data.get("plate") for e in story if e.type == "vehicle_identified"] == [KEPT]
        assert story[2].data["reason"] == f"{KEPT} identified"
    finally:
        rec.stop()


def test_forget_takes_the_visits_other_reads_out_of_those_visits_only(tmp_path, repo):
    """The forgotten car's visit also read ``京A1234?`` (a partial read); another car in bay C, another visit, was
    read the same. The visit's other reads were matched everywhere: that car's undelivered messages (its violation
    among them) were deleted and its events lost their plate. The requested plate goes everywhere; the visit's other
    reads only from that visit's records."""
    config, data = _site(tmp_path, repo)
    clock, bus = FakeClock(), EventBus()
    clock.advance(3600)
    rec = ViolationRecorder(data / "evidence" / "evidence.db", clock, bus)
    lines = JsonLinesSink(bus, data / "events.jsonl", None)
    mqtt = Outbox(data / "mqtt-outbox.sqlite", max_rows=1000)
    bus.subscribe(lambda e: mqtt.put("edge/s/d/events", json.dumps(e.to_dict(), ensure_ascii=False).encode()))
    rec.start()
    lines.start()
    partial = "京A1234?"
    for visit, bay in (("fuel", "B"), ("other", "C")):
        bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id=bay, visit_id=visit,
                               data={"plate": partial, "partial": True}))
    lines.stop()
    rec.stop()
    depth = mqtt.depth()
    mqtt.close()
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    rec = ViolationRecorder(data / "evidence" / "evidence.db", FakeClock(), EventBus())
    try:
        assert [e.data.get("plate") for e in rec.log.timeline("other")] == [partial]
        assert all("plate" not in e.data for e in rec.log.timeline("fuel"))
    finally:
        rec.stop()
    kept = [json.loads(x) for x in (data / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["data"].get("plate") for d in kept if d.get("visit_id") == "other"] == [partial]
    assert not [d for d in kept if d.get("visit_id") == "fuel" and "plate" in d.get("data", {})]
    mqtt = Outbox(data / "mqtt-outbox.sqlite", max_rows=1000)
    try:  # the fuel car's 5 that name it went; its arrival (no plate), the NEV's 4 and the other car's 1 stay
        assert (depth, mqtt.depth()) == (11, 6)
    finally:
        mqtt.close()


def test_forget_leaves_every_other_line_of_the_events_files_byte_for_byte(tmp_path, repo):
    """``events.jsonl`` was read with ``errors="replace"`` and written back whole: a torn write's invalid UTF-8 in
    another line became U+FFFD, a ``\\r\\n`` lost its ``\\r``, a U+2028 in a text split its line in two, a missing
    last newline was added. Only the lines that name the car change; the rotated file the same way."""
    config, data = _site(tmp_path, repo)
    events, rotated = data / "events.jsonl", data / "events.jsonl.1"
    others = [b'{"type": "note", "data": {"text": "torn \xff\xfe write"}}\n', b'{"type": "note", "crlf": 1}\r\n',
              '{"type": "note", "data": {"text": "a\u2028b"}}\n'.encode()]
    named = b'{"type": "note", "data": {"text": "' + GONE.encode() + b' \xff"}}\n'  # not JSON: masked in place
    events.write_bytes(events.read_bytes() + b"".join(others) + named + b'{"type": "no newline at the end"}')
    rotated.write_bytes(others[0] + json.dumps({"type": "vehicle_identified", "data": {"plate": GONE}},
                                               ensure_ascii=False).encode() + b"\n" + others[1])
    before = events.read_bytes().split(b"\n")
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    after = events.read_bytes().split(b"\n")
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert changed == [i for i, line in enumerate(before) if GONE.encode() in line]
    assert after[-1] == b'{"type": "no newline at the end"}'
    assert b"".join(x + b"\n" for x in after[-5:-2]) == b"".join(others)
    assert after[-2] == b'{"type": "note", "data": {"text": "*** \xff"}}'  # its own invalid byte kept too
    assert rotated.read_bytes() == others[0] + b'{"type": "vehicle_identified", "data": {}}\n' + others[1]
    assert _holding(data, GONE) == []


def test_a_visit_read_only_partly_is_listed_and_goes_only_when_the_operator_names_it(tmp_path, repo):
    """A visit of the NEV 粤BD12345 whose plate was never read whole (``粤BD1234?``, mud on the last character) named
    no plate: a request for 粤BD12345 left its photos, its violation and its events. Another visit read ``粤BD1234?``
    may be 粤BD12340's: listed, never deleted unseen; named (``--partial``), it goes like the plate's own. A partial
    read the plate cannot fill (``粤BC1234?``) and a visit read whole as another plate are not listed."""
    config, data = _site(tmp_path, repo)
    clock, bus = FakeClock(), EventBus()
    clock.advance(3600)
    store = EvidenceStore(data / "evidence", clock)
    rec = ViolationRecorder(store.db_path, clock, bus)
    lines = JsonLinesSink(bus, data / "events.jsonl", None)
    rec.start()
    lines.start()
    for visit, bay, reads in (("muddy", "A", ["粤BD1234?"]), ("muddy2", "B", ["?BD12345"]),
                              ("other", "C", ["粤BC1234?"]), ("whole", "D", ["粤BD1234?", "粤BD12340"])):
        for read in reads:
            shot = store.save(bay, visit, "violation_started", JPEG, JPEG[:300], read, {})
            bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit, evidence_id=shot,
                                   data={"plate": read, "partial": "?" in read, "reason": "unidentified"}))
            clock.advance(60)
    lines.stop()
    rec.stop()
    store.close()

    def plates_of(visit: str) -> list[str]:
        log = ViolationRecorder(data / "evidence" / "evidence.db", FakeClock(), EventBus())
        try:
            return [e.data.get("plate") for e in log.log.timeline(visit) if e.data.get("plate")]
        finally:
            log.stop()

    r = _forget(config, KEPT)
    assert r.returncode == 0, r.stderr
    listed = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("  --partial ")]
    assert listed == ["muddy", "muddy2"] and "read 粤BD1234?, 1 photo(s), violation #" in r.stdout
    assert plates_of("muddy") == ["粤BD1234?"] and plates_of("muddy2") == ["?BD12345"]  # kept: not seen yet
    r = _forget(config, KEPT, "--partial", "muddy")  # the operator looked at its photos: this car
    assert r.returncode == 0, r.stderr
    assert "1 visit(s) of a partial read included; 1 photo record(s) deleted, 1 violation(s) deleted" in r.stdout
    assert plates_of("muddy") == [] and plates_of("muddy2") == ["?BD12345"]
    assert plates_of("other") == ["粤BC1234?"] and plates_of("whole") == ["粤BD1234?", "粤BD12340"]
    named = [json.loads(x) for x in (data / "events.jsonl").read_text(encoding="utf-8").splitlines()
             if "粤BD1234?" in x]
    assert sorted({d["visit_id"] for d in named}) == ["whole"]  # the muddy visit's lines lost the read
    rec = ViolationRecorder(data / "evidence" / "evidence.db", FakeClock(), EventBus())
    try:
        assert rec.log.audit_entries()[0]["detail"].startswith("1 visit(s) of a partial read included")
    finally:
        rec.stop()
    r = _forget(config, KEPT, "--partial", "other")
    assert r.returncode == 2 and "--partial other: not a visit of a partial read" in r.stderr
    assert "Traceback" not in r.stderr and plates_of("other") == ["粤BC1234?"]


def test_a_damaged_copy_that_names_the_plate_goes_whole_and_another_stays(tmp_path, repo):
    """A damaged index set aside (``evidence.db.corrupt-*``) is a copy of the plates it held: ``forget`` did not look
    there (its readable rows were copied into the fresh index, where it did). Deleted whole when it names the plate;
    one that names only another car stays for whoever investigates."""
    import shutil

    config, data = _site(tmp_path, repo)
    named = data / "evidence" / "evidence.db.corrupt-1"
    shutil.copy(data / "evidence" / "evidence.db", named)
    Path(f"{named}-wal").write_bytes(b"")
    other = data / "mqtt-outbox.sqlite.corrupt-2"
    other.write_bytes(f"SQLite format 3 ... {KEPT} ...".encode())
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    assert "; 1 damaged cop(ies) naming it deleted" in r.stdout
    assert not named.exists() and not Path(f"{named}-wal").exists() and other.exists()
    assert _holding(data, GONE) == []


def test_the_installer_pages_labelled_pictures_taken_while_the_car_stood_in_view_go_too(tmp_path, repo):
    """"Teach this camera" keeps whole camera views (every parked car's plate) under labels/frames/, outside the
    evidence's index: a data subject's forget left the car's pictures there for good. Each picture's file time is
    when the camera took it; those within the car's visits (``IN_VIEW_MARGIN_S`` either side) go with their rows."""
    from datetime import datetime, timezone

    from edge_agent.occupancy.labels import append_rows

    config, data = _site(tmp_path, repo)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()  # FakeClock's: the fuel car arrived then
    frames = data / "labels" / "frames"
    frames.mkdir(parents=True)
    taken = {"during": start + 300, "long before": start - 3600, "a day later": start + 86_400}
    names = {}
    for i, (when, t) in enumerate(taken.items()):
        name = f"{i:08d}-0000-4000-8000-{i:012d}.jpg"
        (frames / name).write_bytes(JPEG)
        os.utime(frames / name, (t, t))
        names[when] = name
    append_rows(data / "labels" / "labels.csv",
                [{"file": f"frames/{n}", "bay_id": b, "polygon": "[]", "occupied": "1"} for n in names.values()
                 for b in ("A", "B")] + [{"file": "grabs/own.jpg", "bay_id": "A", "polygon": "[]", "occupied": "0"}])
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    assert "1 labelled picture(s) taken while it stood in view deleted" in r.stdout
    assert sorted(p.name for p in frames.iterdir()) == sorted([names["long before"], names["a day later"]])
    with (data / "labels" / "labels.csv").open(encoding="utf-8", newline="") as fh:
        kept = [row["file"] for row in csv.DictReader(fh)]
    assert kept == [f"frames/{names['long before']}"] * 2 + [f"frames/{names['a day later']}"] * 2 + ["grabs/own.jpg"]


def test_the_events_a_stop_kept_for_a_locked_database_lose_the_forgotten_car_s_lines(tmp_path, repo):
    """A stop while a backup held the database keeps the held events in ``evidence/held-events.jsonl`` for the next
    start (they name plates). A forget meanwhile (the agent stopped) takes the car's lines out whole, as it takes its
    violations out of the index; the next start writes the others."""
    import sqlite3

    config, data = _site(tmp_path, repo)
    db = data / "evidence" / "evidence.db"
    clock, bus = FakeClock(), EventBus()
    rec = ViolationRecorder(db, clock, bus)
    rec.start()
    rec.log._db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        for bay, visit, plate in (("B", "fuel2", GONE), ("A", "fuel3", KEPT)):
            bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=bay, visit_id=visit))
            bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit,
                                   data={"plate": plate, "reason": "fuel_vehicle"}))
        rec.log.close()  # the stop, the lock held
    finally:
        other.execute("ROLLBACK")
        other.close()
    rec.runs.close()
    held = data / "evidence" / "held-events.jsonl"
    assert GONE.encode() in held.read_bytes()
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    assert _holding(data, GONE) == []
    rec = ViolationRecorder(db, FakeClock(), EventBus())  # the next start
    try:
        assert [(v.visit_id, v.plate) for v in rec.log.iter_all(ViolationFilter())] == [("fuel3", KEPT)]
        assert [e.type for e in rec.log.timeline("fuel2")] == ["vehicle_arrived"]  # the times stay
        assert not held.exists()
    finally:
        rec.stop()


def test_the_photo_rows_held_for_a_locked_index_lose_the_forgotten_car_s_with_its_photos(tmp_path, repo):
    """A lock (a backup) keeps photo rows out of the index; they wait in ``evidence/held-photos.jsonl`` with their
    photos on disk (probe photohold28). A forget meanwhile deletes the car's held photos and their lines, as it
    deletes the index's; the next start writes the other car's row."""
    import sqlite3

    config, data = _site(tmp_path, repo)
    clock = FakeClock()
    store = EvidenceStore(data / "evidence", clock)
    store._db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(store.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        gone = store.save("B", "fuel2", "vehicle_identified", JPEG, JPEG[:300], GONE, {})
        kept = store.save("A", "nev2", "vehicle_identified", JPEG, None, KEPT, {})
        store.close()  # the stop, the lock held
    finally:
        other.execute("ROLLBACK")
        other.close()
    held = data / "evidence" / "held-photos.jsonl"
    assert GONE.encode() in held.read_bytes() and len(list(data.glob(f"evidence/*/{gone}*.jpg"))) == 2
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    assert _holding(data, GONE) == [] and not list(data.glob(f"evidence/*/{gone}*.jpg"))
    again = EvidenceStore(data / "evidence", FakeClock())  # the next start
    try:
        assert again.get(gone) is None and again.get(kept) is not None and not held.exists()
    finally:
        again.close()


def test_forget_reads_the_events_file_line_by_line_not_whole(tmp_path, repo):
    """A year of ``events.jsonl`` is hundreds of MB, and forget read it whole and split it (twice its size in memory)
    on a device with 1 GB. It goes through it a line at a time now, the rewrite still atomic and only when a line
    names the car: its memory stays far under the file's size (here 24 MB of other cars' lines)."""
    import tracemalloc

    from edge_agent.evidence.forget import forget_plate

    _config, data = _site(tmp_path, repo)
    events = data / "events.jsonl"
    other = json.dumps({"type": "vehicle_identified", "bay_id": "A", "data": {"plate": KEPT, "pad": "x" * 150}},
                       ensure_ascii=False).encode() + b"\n"
    with events.open("ab") as fh:
        for _ in range(24 * 1024 * 1024 // len(other)):
            fh.write(other)
        fh.write(json.dumps({"type": "vehicle_departed", "data": {"plate": GONE}}, ensure_ascii=False).encode() + b"\n")
    size, inode = events.stat().st_size, events.stat().st_ino
    tracemalloc.start()
    try:
        out = forget_plate(data, GONE, FakeClock(), "dpo", [data / "mqtt-outbox.sqlite", data / "notify-wecom.sqlite"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.event_lines >= 5 and GONE.encode() not in events.read_bytes()
    assert events.stat().st_ino != inode and size - 200 < events.stat().st_size < size  # replaced whole, one rename
    assert peak < size // 8, f"{peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB events file"
    assert not [p.name for p in data.iterdir() if p.name.endswith(".tmp")]
