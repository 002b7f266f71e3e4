"""Reloading a running agent's config (SIGHUP, MQTT ``reload-config``, the installer's Save): what the
reload reads, what it applies and what it says it could not apply."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import yaml

from edge_agent.clock import FakeClock
from edge_agent.config.configfile import ConfigFile
from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


class NoPlates:
    def process(self, frame, region=None):  # noqa: ANN001, ANN201 - PlateReader: no plate in these scenes
        return []


def _data(tmp_path: Path) -> dict[str, Any]:
    return scene_config(str(tmp_path / "data")).model_dump(mode="json")


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _agent(path: Path, clock) -> Agent:  # noqa: ANN001 - FakeClock
    return Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock), reader=NoPlates())


def test_a_reload_reads_the_file_a_symlinked_config_names_now(tmp_path, clock):
    """A deploy that writes config-v2.yaml and repoints the link (``ln -sfn``, Ansible) then reloads: the
    agent had kept the link's old target and re-read config-v1.yaml ("applied", nothing changed)."""
    data = _data(tmp_path)
    _write(tmp_path / "config-v1.yaml", data)
    data["timers"]["overstay_s"] = 600
    _write(tmp_path / "config-v2.yaml", data)
    link = tmp_path / "config.yaml"
    link.symlink_to("config-v1.yaml")
    agent = _agent(link, clock)

    link.unlink()
    link.symlink_to("config-v2.yaml")
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["timers"] and agent.cfg.timers.overstay_s == 600


def test_sections_read_only_at_start_are_named_at_every_reload_until_a_restart(tmp_path, clock):
    """Before, a reload that changed ``mqtt.heartbeat_s`` (with a timer) answered "config reloaded",
    ``restart_needed: []``, and the heartbeat went on every 60 s: only camera keys were named."""
    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    data["timers"]["overstay_s"] = 600
    data["mqtt"]["heartbeat_s"] = 30
    data["site"]["timezone"] = "Asia/Urumqi"
    data["camera"]["fps"] = 10
    _write(path, data)
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["timers"] and res.data["restart_needed"] == ["camera", "site", "mqtt"]
    assert agent.cfg.timers.overstay_s == 600  # applied
    assert (agent.cfg.mqtt.heartbeat_s, agent.cfg.site.timezone, agent.cfg.camera.fps) == (60, "Asia/Shanghai", 5)
    again = agent.reload_config()  # still waiting, still said
    assert again.data["restart_needed"] == ["camera", "site", "mqtt"] and "need a restart" in again.message
    assert load_config(path).config_hash == agent.cfg.config_hash  # the file that was read


def test_two_reloads_at_once_end_with_the_newer_file_running(tmp_path, clock, monkeypatch):
    """SIGHUP, MQTT ``reload-config`` and the installer's Save each reload on their own thread. One that read
    the file before an edit could apply its older copy after one that read the edit: the Save answered
    "reloaded (bays changed)" and the old bays ran on. Each reload now reads and applies before the next."""
    import edge_agent.runtime.reload as reload_module

    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    real_load, second_read, others = reload_module.load_config, threading.Event(), []

    def load(p, **kw):  # noqa: ANN001, ANN003, ANN202
        cfg = real_load(p, **kw)
        if threading.current_thread() is not threading.main_thread():
            second_read.set()
            return cfg
        data["timers"]["overstay_s"] = 900  # the edit, and its reload, while this one holds the old copy
        _write(path, data)
        others.append(threading.Thread(target=agent.reload_config))
        others[0].start()
        # a bounded wait for what must not happen: the other reload reads only after this one applied
        assert not second_read.wait(0.3), "a second reload read the file in the middle of the first"
        monkeypatch.setattr(reload_module, "load_config", real_load)
        return cfg

    monkeypatch.setattr(reload_module, "load_config", load)
    agent.reload_config()
    others[0].join()
    assert agent.cfg.timers.overstay_s == 900


def test_a_reload_that_moves_data_dir_is_refused_and_keeps_the_installer_s_bays(tmp_path, clock):
    """The file is read with the overrides of the data_dir it names: moving it dropped the installer's saved
    bays (the YAML's own ran instead) while the outbox and evidence stayed in the old folder until a restart."""
    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    redrawn = [[70.0, 210.0], [460.0, 200.0], [470.0, 530.0], [30.0, 530.0]]
    ConfigFile(path, FakeClock()).set_bays([{"id": "A", "polygon": redrawn},
                                            {"id": "B", "polygon": data["bays"][1]["polygon"]}])
    agent = _agent(path, clock)
    running = agent.cfg
    data["data_dir"] = str(tmp_path / "elsewhere")
    _write(path, data)
    res = agent.reload_config()
    assert not res.ok and res.data["problems"][0].startswith(f"data_dir: moves from {tmp_path / 'data'} to ")
    assert agent.cfg is running and [list(p) for p in agent.monitor.cfg.bays[0].polygon] == redrawn

    (tmp_path / "link").symlink_to(tmp_path)
    for same in (str(tmp_path / "data") + "/", str(tmp_path / "link" / "data")):  # the same folder spelt otherwise
        data["data_dir"] = same
        data["timers"]["overstay_s"] += 1
        _write(path, data)
        res = agent.reload_config()
        assert res.ok and res.data["changed"] == ["timers"], res  # was refused: "data_dir: moves from … to …"
        assert agent.cfg.data_dir == running.data_dir and [list(p) for p in agent.monitor.cfg.bays[0].polygon] == redrawn


def test_a_reload_refuses_what_the_next_start_would_refuse(tmp_path, clock):
    """`notify` applies at a restart only, and a sink's misspelt event type stops that start (exit 2): the reload
    answered "config reloaded; notify changes need a restart", and the restart it asked for never came up."""
    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    running = agent.cfg
    data["notify"]["sinks"] = [{"name": "a", "kind": "webhook", "url": "http://127.0.0.1:9/x",
                                "events": ["violation_start"]}]
    _write(path, data)
    res = agent.reload_config()
    assert not res.ok and res.message == "config invalid, kept the running one"
    assert res.data["problems"][0].startswith("notify.sinks[0].events: violation_start: no such event type")
    assert agent.cfg is running
    data["notify"]["sinks"][0]["events"] = ["violation_started"]
    _write(path, data)
    assert agent.reload_config().data["restart_needed"] == ["notify"]


def test_a_reload_that_redraws_the_bays_publishes_each_kept_bay_s_own_state_only(tmp_path, clock):
    """A reload that changes the bays builds a new monitor, which adopts each kept bay's story. Before, the new
    monitor first published every bay as ``free`` (no visit, ``since`` = the reload) and only then the adopted
    state: a bay in violation went violation → free → violation on ``{prefix}/bays/B/state``, in events.jsonl,
    for the locks and Home Assistant, and the reference consumer (the newest ``since`` wins) kept the ``free``
    one and refused the real state that followed, whose ``since`` is older. Now each kept bay's state is
    published once, its own. A bay added (C), or redrawn (A), reads ``unknown`` until the classifier has seen the
    new outline empty: never ``free`` without a measurement, as at the start (a new bay read ``free`` at once)."""
    from edge_agent.sim.scenario import FUEL, Scene, run_scripted

    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = Agent(load_config(path), clock=clock, reader=NoPlates(),
                  source=ScriptedSource(hold(3, EMPTY) + hold(300, Scene(cars=(FUEL,))), clock))
    agent.start()
    run_scripted(agent.step, clock, 12, 5)
    parked = agent.bus.states()["B"]
    assert parked.state != "free" and parked.visit_id is not None

    published = []
    agent.bus.subscribe_state(published.append)
    data["bays"][0]["polygon"][0] = [70, 205]  # the installer moves a corner of bay A…
    data["bays"].append({"id": "C", "polygon": [[400, 20], [560, 20], [560, 150], [400, 150]]})  # …and adds C
    _write(path, data)
    res = agent.reload_config()
    assert res.ok and "bays" in res.data["changed"] and res.data["bays_kept"] == ["A", "B"]
    by_bay = {b: [(s.state, s.visit_id, s.since) for s in published if s.bay_id == b] for b in ("A", "B", "C")}
    assert by_bay["B"] == [(parked.state, parked.visit_id, parked.since)], by_bay["B"]
    assert [s for s, _, _ in by_bay["A"]] == ["unknown"] and [s for s, _, _ in by_bay["C"]] == ["unknown"]
    run_scripted(agent.step, clock, 6, 5)  # the new monitor measures the new outlines: empty
    assert {b: agent.bus.states()[b].state for b in ("A", "C")} == {"A": "free", "C": "free"}
    agent.stop()


def test_no_bay_is_free_on_the_bus_before_anything_measured_it(tmp_path, clock):
    """The first monitor put every bay on the bus as ``free`` when it was made; the MQTT link publishes the bus's
    states when it connects, so every start told the backend ``free, unknown, free`` (measured on the demo
    against a real broker): a free bay nothing had looked at, before ``publish_states`` said ``unknown``."""
    agent = _agent(_write(tmp_path / "agent.yaml", _data(tmp_path)), clock)
    assert {b: s.state for b, s in agent.bus.states().items()} == {"A": "unknown", "B": "unknown"}
    agent.start()
    assert {b: s.state for b, s in agent.bus.states().items()} == {"A": "unknown", "B": "unknown"}
    agent.stop()


def test_a_bay_not_yet_measured_stays_unknown_across_a_reload_of_other_bays(tmp_path, clock):
    """At start a bay reads ``unknown`` until the classifier has seen it empty. A reload that redrew another bay
    before that (the installer's Save in the first seconds, or with the camera still blind) published the
    unchanged, never measured bay as ``free``: a free bay nothing had looked at."""
    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    agent.start()  # no frame yet
    assert {b: s.state for b, s in agent.bus.states().items()} == {"A": "unknown", "B": "unknown"}
    published: list = []
    agent.bus.subscribe_state(published.append)
    data["bays"][0]["polygon"][0] = [70, 205]  # A redrawn; B as it was
    _write(path, data)
    res = agent.reload_config()
    assert res.ok and res.data["bays_kept"] == ["A", "B"]
    assert [(s.bay_id, s.state) for s in published] == [("A", "unknown"), ("B", "unknown")]
    agent.stop()


class _Watched:
    """A lock that says when a second thread starts waiting for it (the test's barrier, no sleeps)."""

    def __init__(self, waiting: threading.Event) -> None:
        self._lock, self._waiting = threading.Lock(), waiting

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self._waiting.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_set_lists_during_a_reload_is_not_undone_by_the_reload(tmp_path, clock, monkeypatch):
    """A backend's ``set-lists`` (or a reviewer's "allow this plate") while a reload runs (SIGHUP, the
    installer's Save). The reload read the file with the old lists, the command applied and saved the new
    ones ("lists updated", saved), then the reload applied its old copy: the agent ran on with the old lists
    (a fuel car just allowed got its violation) until some later reload, though the file held the new ones.
    A list change now waits for a reload under way, and a reload for a list change."""
    import edge_agent.runtime.reload as reload_module

    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    progress = threading.Event()  # the command has saved its lists, or waits for the reload
    agent.reloader._one_at_a_time = _Watched(progress)  # type: ignore[assignment]
    real_load, real_save, replies, commands = reload_module.load_config, agent.reloader.save_lists, [], []

    def save() -> bool:
        saved = real_save()
        progress.set()
        return saved

    def load(p, **kw):  # noqa: ANN001, ANN003, ANN202
        cfg = real_load(p, **kw)  # the old lists
        commands.append(threading.Thread(target=lambda: replies.append(agent.set_lists(allow=["粤B12345"], deny=None))))
        commands[0].start()
        assert progress.wait(10)
        return cfg

    monkeypatch.setattr(agent.reloader, "save_lists", save)
    monkeypatch.setattr(reload_module, "load_config", load)
    assert agent.reload_config().ok
    commands[0].join(10)
    assert replies and replies[0].ok and replies[0].data["saved"] is True
    assert agent.lists.lookup("粤B12345") == "allow"  # what the reply said, and what the file holds
    assert load_config(path).lists.allow == ["粤B12345"]


class _WatchedRLock(_Watched):
    def __init__(self, waiting: threading.Event) -> None:
        self._lock, self._waiting = threading.RLock(), waiting  # type: ignore[assignment]


def test_a_charger_status_while_a_reload_removes_its_bay_is_answered_not_a_crash(tmp_path, clock, monkeypatch):
    """``charger-status`` for bay C while a reload (SIGHUP, the installer's Save) removes C: the command found
    C, the reload swapped the bays, and the command went on into bays without C — a KeyError, answered
    ``internal_error`` with a traceback in the log. A command's look at the bays and its change to them now
    fall wholly before or after a reload's swap."""
    data = _data(tmp_path)
    data["bays"].append({"id": "C", "polygon": [[400, 20], [560, 20], [560, 150], [400, 150]]})
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    data["bays"].pop()
    _write(path, data)
    progress = threading.Event()  # the reload has swapped the bays, or waits for the command
    agent.loop_lock = _WatchedRLock(progress)  # type: ignore[assignment]
    real_on_status, reloads = agent.chargers.on_status, []

    def on_status(bay_id, status, *visit):  # noqa: ANN001, ANN002, ANN202 - between the command's look and its change
        reloads.append(threading.Thread(target=lambda: (agent.reload_config(), progress.set())))
        reloads[0].start()
        assert progress.wait(10)
        return real_on_status(bay_id, status, *visit)

    monkeypatch.setattr(agent.chargers, "on_status", on_status)
    res = agent.charger_status("C", "finished")
    reloads[0].join(10)
    assert res.ok and agent.bay_ids() == ["A", "B"]


def test_the_heartbeat_s_counts_go_on_across_a_reload_that_redraws_the_bays(tmp_path, clock):
    """The heartbeat's ``frames`` and ``detector_runs`` and its ``inference_ms`` lived in the monitor a bay reload
    replaces: each reload that redrew a bay set them back to 0 and null, so a fleet dashboard read a restart
    (or a camera that had stopped: frames going backwards) at every installer Save."""
    from edge_agent.sim.scenario import run_scripted

    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    agent.start()
    run_scripted(agent.step, clock, 4, 5)
    before = agent.health_figures()
    assert before.extra["frames"] >= 15
    data["bays"][0]["polygon"][0] = [70, 205]
    _write(path, data)
    assert "bays" in agent.reload_config().data["changed"]
    after = agent.health_figures()
    assert (after.extra["frames"], after.extra["detector_runs"], after.inference_ms) == \
        (before.extra["frames"], before.extra["detector_runs"], before.inference_ms)
    run_scripted(agent.step, clock, 1, 5)
    assert agent.health_figures().extra["frames"] > before.extra["frames"]
    agent.stop()


def test_a_reload_applies_a_calibration_set_rewritten_or_taken_out_and_refuses_one_it_cannot_load(tmp_path, clock):
    """The documented step after ``occupancy calibrate``: set ``occupancy.calibration`` and reload. A reload kept
    the classifier built at start: "config reloaded (occupancy changed)" while the shipped head ran on; taking the
    key out again (the way back to the shipped model) did nothing either, and a calibration file that did not
    exist was "reloaded", the agent refusing to start at its next restart."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import DEFAULT_MODEL, SITE_MODEL, BayClassifier

    data = _data(tmp_path)
    del data["occupancy"]["model"]  # not set: a calibration brings the model it was made for
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    shipped = BayClassifier.load(DEFAULT_MODEL).model_sha256
    assert agent.classifier.model_sha256 == shipped and agent.classifier.calibration is None

    site = BayClassifier.load(SITE_MODEL)
    cal = tmp_path / "data" / "cal.json"
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(cal)
    data["occupancy"]["calibration"] = "cal.json"
    _write(path, data)
    res = agent.reload_config()
    assert res.ok and "occupancy" in res.data["changed"]
    assert agent.classifier.model_sha256 == site.model_sha256 and agent.classifier.calibration is not None
    assert agent.monitor.classifier is agent.classifier  # the bays are judged by it

    flipped = site.head()
    flipped = type(flipped)(tuple(-v for v in flipped.w), -flipped.b)
    SiteCalibration(flipped, site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(cal)  # calibrated again
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["occupancy"] and agent.classifier.calibration.head == flipped
    assert agent.reload_config().data["changed"] == []  # the same files: nothing loaded again

    running = agent.classifier
    data["occupancy"]["calibration"] = "missing.json"
    _write(path, data)
    res = agent.reload_config()
    assert not res.ok and agent.classifier is running and agent.cfg.occupancy.calibration == "cal.json"
    assert any(p.startswith("occupancy.calibration:") and "missing.json" in p for p in res.data["problems"])

    data["occupancy"]["calibration"] = "cal.json"
    data["occupancy"]["model"] = "nope.onnx"  # "the same checks guard every reload" (configuration.md)
    _write(path, data)
    res = agent.reload_config()
    assert not res.ok and agent.classifier is running
    assert any(p.startswith("occupancy.model:") and "nope.onnx" in p for p in res.data["problems"])

    del data["occupancy"]["model"], data["occupancy"]["calibration"]  # back to the shipped model
    _write(path, data)
    assert agent.reload_config().ok
    assert agent.classifier.model_sha256 == shipped and agent.classifier.calibration is None
    agent.step()  # and it judges frames


def test_a_reload_whose_plate_reader_cannot_be_built_is_refused_and_applies_nothing(tmp_path, clock):
    """A reload to models that are not there (``perception.precision: int8`` before ``models quantize``, a
    ``models_dir`` not yet filled) built the reader last: the lists, timers and ``agent.cfg`` had already taken the
    new values when it raised (SIGHUP: a traceback, MQTT: ``internal_error``), the old reader ran on under a config
    that named the new models, and no later reload saw a perception change to apply."""
    from edge_agent.bays.classifier import DEFAULT_MODEL

    models = tmp_path / "models"  # the occupancy model only: the plate reader's files are not there yet
    models.mkdir()
    (models / DEFAULT_MODEL.name).write_bytes(DEFAULT_MODEL.read_bytes())
    data = _data(tmp_path)
    data["perception"]["models_dir"] = str(models)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    running, reader, hash_ = agent.cfg, agent.reader, agent.cfg.config_hash
    data["perception"]["precision"] = "int8"
    data["timers"]["overstay_s"] = 600
    data["lists"]["allow"] = ["粤B12345"]
    _write(path, data)
    res = agent.reload_config()
    assert not res.ok and "kept the running config" in res.message
    assert any(p.startswith("perception:") and "models quantize" in p for p in res.data["problems"])
    assert agent.cfg is running and agent.cfg.config_hash == hash_ and agent.reader is reader
    assert agent.cfg.timers.overstay_s == 30 and agent.lists.allow == []

    data["perception"]["precision"] = "fp32"  # the file put right: the next reload applies the rest
    _write(path, data)
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["timers"] and agent.lists.allow == ["粤B12345"]


def test_the_quiet_hours_warning_is_said_at_start_and_again_only_when_it_changes(tmp_path, clock, caplog):
    """A sink whose ``max_age_h`` is not above its quiet hours is warned about at load (check-config, run); every
    SIGHUP repeated it, the journal filling with the same lines of a config nobody had changed (probe
    leftovers21). Said at start, again only when a reload brings another (here ``max_age_h`` 6, then 7)."""
    data = _data(tmp_path)
    sink = {"name": "ops", "kind": "webhook", "url": "https://example.com/h", "max_age_h": 6,
            "quiet_hours": {"start": "22:00", "end": "07:00"}}
    data["notify"] = {"sinks": [sink]}
    path = _write(tmp_path / "agent.yaml", data)

    def said() -> int:
        n = sum("is not above its quiet_hours" in r.getMessage() for r in caplog.records)
        caplog.clear()
        return n

    agent = _agent(path, clock)
    assert said() == 1
    for _ in range(3):
        assert agent.reload_config().ok
    assert said() == 0
    data["timers"]["overstay_s"] = 600  # another change: the warning's values are the same
    _write(path, data)
    assert agent.reload_config().ok and said() == 0
    sink["max_age_h"] = 7
    _write(path, data)
    assert agent.reload_config().ok and said() == 1  # another config's warning: said once
    assert agent.reload_config().ok and said() == 0
    assert "max_age_h 7" in load_config(path).warnings[0] and said() == 1  # check-config: always said


def test_the_quiet_hours_warning_is_not_said_again_by_an_installer_save_or_a_set_lists(tmp_path, clock, caplog):
    """The installer page's Save (and its teach Save, and a set-lists) validates the edited config before writing it
    (``ConfigFile.update``): that validation said the quiet-hours warning again at every Save, though the config's
    notify section had not changed (review24), the journal filling as SIGHUP's did before. The reload that follows a
    Save says a warning that differs from the last load's; the edit's own validation says none."""
    data = _data(tmp_path)
    data["notify"] = {"sinks": [{"name": "ops", "kind": "webhook", "url": "https://example.com/h", "max_age_h": 6,
                                 "quiet_hours": {"start": "22:00", "end": "07:00"}}]}
    path = _write(tmp_path / "agent.yaml", data)

    def said() -> int:
        n = sum("is not above its quiet_hours" in r.getMessage() for r in caplog.records)
        caplog.clear()
        return n

    agent = _agent(path, clock)
    assert said() == 1
    for _ in range(3):  # the installer page's Save: the edit validated and written, then the agent reloads
        ConfigFile(path, FakeClock()).set_bays([{"id": b["id"], "polygon": b["polygon"]} for b in data["bays"]])
        assert agent.reload_config(installer=True).ok
    assert said() == 0  # before: 3, one per Save
    assert agent.set_lists(allow=["粤B12345"], deny=None).ok and said() == 0  # before: 1 (its save to the overrides)


def test_every_load_warning_is_said_once_per_message_by_reloads_and_saves(tmp_path, clock, caplog):
    """The other load-time warnings (an ``Etc/GMT`` zone, two bays of one outline, a deprecated occupancy key) were
    logged by each check itself: every SIGHUP and every installer Save said them all again, of a config nobody had
    changed (leftovers22). Now each goes through the load's one collector (``AgentConfig.warnings``): said at start,
    by a reload only when it is not the last load's, never by an edit's validation; ``check-config`` says them all."""
    data = _data(tmp_path)
    data["site"]["timezone"] = "Etc/GMT-8"
    twin = dict(data["bays"][0], id="twin", lock_id=None)
    data["bays"].append(twin)
    data["occupancy"]["learn_rate"] = 0.1
    path = _write(tmp_path / "agent.yaml", data)
    marks = ("site.timezone: Etc/GMT-8", "one car will be reported in both", "learn_rate no longer used")

    def said() -> list[int]:
        n = [sum(m in r.getMessage() for r in caplog.records) for m in marks]
        caplog.clear()
        return n

    agent = _agent(path, clock)
    assert said() == [1, 1, 1]
    for _ in range(3):  # SIGHUP
        assert agent.reload_config().ok
    assert said() == [0, 0, 0]  # before: [3, 3, 3]
    for _ in range(2):  # the installer page's Save, then its reload; a set-lists
        ConfigFile(path, FakeClock()).set_bays([{"id": b["id"], "polygon": b["polygon"]} for b in data["bays"]])
        assert agent.reload_config(installer=True).ok
    assert agent.set_lists(allow=["粤B12345"], deny=None).ok
    assert said() == [0, 0, 0]  # before: [4, 4, 4]
    assert len(agent.cfg.warnings) == 3
    data["occupancy"]["change_threshold"] = 0.2  # another warning's text: said once, the others not again
    _write(path, data)
    assert agent.reload_config().ok and said() == [0, 0, 1]  # "change_threshold, learn_rate no longer used"
    assert agent.reload_config().ok and said() == [0, 0, 0]
    assert len(load_config(path).warnings) == 3 and said() == [1, 1, 1]  # check-config: all said


def test_a_reload_that_redraws_most_bays_sets_their_calibration_aside_and_one_drawn_back_uses_it(tmp_path, clock):
    """A calibration is bound to the outlines its labels cut (``bays.calibration.another_view``): a start over most
    bays drawn elsewhere (a camera moved and its bays redrawn on the page) sets it aside. A reload compared only the
    model's and calibration's files, so the page's Save of such a redraw kept the calibrated head running on ground it
    never saw (while ``doctor`` said it was set aside), until the next restart. The outlines are now part of what the
    classifier is made of: the redraw sets it aside at once, and drawing the bays back puts it in use again."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier

    data = _data(tmp_path)
    del data["occupancy"]["model"]
    drawn = {b["id"]: b["polygon"] for b in data["bays"]}
    site = BayClassifier.load(SITE_MODEL)
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name, bays=tuple(drawn),
                    outlines={b: tuple(map(tuple, pts)) for b, pts in drawn.items()}).save(tmp_path / "data" / "cal.json")
    data["occupancy"]["calibration"] = "cal.json"
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    assert agent.classifier.calibration is not None and agent.classifier.set_aside is None

    a, b = data["bays"]
    a["polygon"], b["polygon"] = b["polygon"], a["polygon"]  # both bays drawn a bay's width away
    _write(path, data)
    res = agent.reload_config(installer=True)
    assert res.ok and "bays" in res.data["changed"], res
    assert agent.classifier.calibration is None and "2 of the 2 bays" in (agent.classifier.set_aside or ""), \
        agent.classifier.set_aside
    assert agent.monitor.classifier is agent.classifier
    assert "calibration_set_aside" in agent.health_figures().extra

    a["polygon"], b["polygon"] = b["polygon"], a["polygon"]  # drawn back where the labels cut them
    _write(path, data)
    assert agent.reload_config(installer=True).ok
    assert agent.classifier.calibration is not None and agent.classifier.set_aside is None
    assert "calibration_set_aside" not in agent.health_figures().extra
    assert agent.reload_config().data["changed"] == []  # the same files and outlines: nothing loaded again


def test_a_held_set_lists_merged_during_a_reload_keeps_the_plates_the_reload_listed(tmp_path, clock, monkeypatch):
    """A held MQTT ``set-lists`` (deny) is merged with the lists the agent runs when its window ends, on the command
    thread, while a reload (SIGHUP, the installer's Save) applies a deny list with a plate added. The merge read the
    lists before the reload applied them and wrote its result after: the plate the reload listed was dropped, from
    the agent and from the file (review76). A reload now holds the lists' lock too, so the merge reads after it."""
    import edge_agent.runtime.reload as reload_module
    from edge_agent.events.mqtt_link import kept_since

    data = _data(tmp_path)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    base = agent.plate_lists(), agent.plate_words(None)[0]  # when the set-lists was held
    data["lists"] = {"allow": [], "deny": ["粤B54321"]}  # the operator's edit, then a reload
    _write(path, data)
    progress = threading.Event()  # the merge has read the lists, or waits for the reload
    agent.lists.editing = _WatchedRLock(progress)  # type: ignore[assignment]
    real_load, merges = reload_module.load_config, []

    def merge() -> None:  # ``MqttLink._apply_lists`` for one held ``set-lists`` of deny: ["粤BD00001"]
        with agent.lists_lock():
            running = agent.plate_lists()
            progress.set()
            deny = kept_since(["粤BD00001"], base[0], running, 1, agent.plate_words(base[1])[1])
            merges.append(agent.set_lists(None, deny))

    def load(p, **kw):  # noqa: ANN001, ANN003, ANN202
        cfg = real_load(p, **kw)
        merges.append(threading.Thread(target=merge))
        merges[0].start()
        assert progress.wait(10)
        return cfg

    monkeypatch.setattr(reload_module, "load_config", load)
    assert agent.reload_config().ok
    merges[0].join(10)
    assert len(merges) == 2 and merges[1].ok
    assert agent.plate_lists()[1] == ["粤B54321", "粤BD00001"]
    monkeypatch.undo()
    assert load_config(path).lists.deny == ["粤B54321", "粤BD00001"]


def test_a_reload_on_a_calibrated_site_sees_occupancy_onnx_removed_or_updated(tmp_path, clock):
    """A calibrated site's raise needs ``occupancy.onnx`` too (``BayClassifier.baseline``), and a calibrated site
    without it does not start; but the classifier's fingerprint named only the calibrated model and its calibration.
    ``occupancy.onnx`` removed (or replaced by another model) and the config reloaded: "nothing changed", the old
    baseline ran on, and the agent refused to start at its next restart (exit 2) — the very fault a reload that
    builds the classifier again was made to catch (``test_a_reload_applies_a_calibration_set_rewritten_...``)."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import DEFAULT_MODEL, SITE_MODEL, BayClassifier

    models = tmp_path / "models"
    models.mkdir()
    (models / SITE_MODEL.name).symlink_to(SITE_MODEL)
    (models / DEFAULT_MODEL.name).symlink_to(DEFAULT_MODEL)
    site = BayClassifier.load(SITE_MODEL)
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(
        tmp_path / "data" / "cal.json")
    data = _data(tmp_path)
    del data["occupancy"]["model"]
    data["occupancy"]["calibration"] = "cal.json"
    data["perception"]["models_dir"] = str(models)
    path = _write(tmp_path / "agent.yaml", data)
    agent = _agent(path, clock)
    running = agent.classifier
    assert running.calibration is not None and running.baseline is not None

    (models / DEFAULT_MODEL.name).unlink()  # a deploy that lost it: the next start refuses, so must the reload
    res = agent.reload_config()
    assert not res.ok and agent.classifier is running, res
    assert any(p.startswith("occupancy.calibration:") and "occupancy.onnx not found" in p for p in res.data["problems"])

    (models / DEFAULT_MODEL.name).symlink_to(DEFAULT_MODEL)  # put back: the running classifier is that one
    assert agent.reload_config().data["changed"] == [] and agent.classifier is running
    (models / DEFAULT_MODEL.name).unlink()  # an update of occupancy.onnx alone: the baseline is the new one now
    (models / DEFAULT_MODEL.name).write_bytes(SITE_MODEL.read_bytes())
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["occupancy"] and agent.classifier is not running, res
    assert agent.classifier.baseline.model_sha256 == site.model_sha256
    assert agent.reload_config().data["changed"] == []  # the same files: nothing loaded again
