"""The camera state the agent reported, over a restart (probe camstate12).

Before: a run knew only what it had published itself. A camera knocked (``camera_moved``), the agent restarted
(an update, a power cut, the watchdog), the camera put back: the new run found the view in place and said nothing,
so the backend's "camera moved" banner (and any alarm it raised) stayed up for good while the live page showed
none. A camera still knocked at the restart was published ``camera_moved`` again under a new ``event_id``: a
backend consuming each event once opened a second episode. Now the reported state is kept in
``{data_dir}/camera/reported.json`` (``camera/reported.py``) and the next run carries it on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.camera.reported import FILE
from edge_agent.config.load import load_config
from edge_agent.events.schemas import validator
from edge_agent.events.types import Event
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.events.conftest import broker  # noqa: F401 - the real mosquitto fixture, shared
from tests.locks.test_reload_sensors import NoPlates


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(scene_config(str(tmp_path / "data")).model_dump(mode="json"), allow_unicode=True),
                    encoding="utf-8")
    return path


def _knocked(dx: float = 60) -> np.ndarray:
    """The empty lot seen by a camera knocked ``dx`` px sideways (beyond ``shift_tolerance_px``, 24)."""
    img = render(EMPTY)
    return cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, 0]]), img.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def _elsewhere() -> np.ndarray:
    """A view with plenty of corners that matches nothing of the lot's: the camera knocked to face a hedge."""
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (5, 5), 0)


class _Run:
    """One run of the agent on the data dir (a restart is the next one), with the events it published."""

    def __init__(self, path: Path, clock, frames: list) -> None:  # noqa: ANN001
        self.agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
        self.clock = clock
        self.events: list[Event] = []
        self.agent.bus.subscribe(self.events.append)
        self.agent.start()

    def run(self, seconds: float) -> list[tuple[str, dict]]:
        run_scripted(self.agent.step, self.clock, seconds, 5)
        return self.camera()

    def camera(self) -> list[tuple[str, dict]]:
        return [(e.type, e.data) for e in self.events if e.type.startswith("camera_")]

    def moved_event(self) -> Event:
        return next(e for e in self.events if e.type == "camera_moved")


def _reported(tmp_path: Path, clock, frames: list, seconds: float) -> tuple[Path, Event]:  # noqa: ANN001
    """The installation's reference, then a run that reports the camera moved and stops: (config, its event)."""
    path = _file(tmp_path)
    first = _Run(path, clock, hold(60, render(EMPTY)))
    first.run(2)
    first.agent.stop()
    knocked = _Run(path, clock, frames)
    knocked.run(seconds)
    moved = knocked.moved_event()
    knocked.agent.stop()
    return path, moved


def test_a_camera_put_back_while_the_agent_was_down_closes_the_episode_an_earlier_run_reported(tmp_path, clock):
    """Before: the new run published nothing, and the backend's banner stayed up for good."""
    path, moved = _reported(tmp_path, clock, hold(300, _knocked()), 5)
    assert moved.data["shift_px"] > 24
    again = _Run(path, clock, hold(300, render(EMPTY)))
    assert again.agent.camera_moved  # the banner the backend has, until the view is seen in place
    assert again.run(5) == [("camera_aligned", {"dx": pytest.approx(0, abs=2), "dy": pytest.approx(0, abs=2),
                                                "shift_px": pytest.approx(0, abs=2), "tolerance_px": 24,
                                                "earlier_run": True, "moved_event_id": moved.event_id})]
    assert not again.agent.camera_moved and again.agent.monitor.aligned
    assert not (tmp_path / "data" / "camera" / FILE).exists()
    validator("event.json").validate(again.events[-1].to_dict())  # the contract names the two fields (1.11.0)
    again.agent.stop()
    third = _Run(path, clock, hold(300, render(EMPTY)))  # closed: the next run has nothing to close
    assert not third.agent.camera_moved and third.run(5) == []
    third.agent.stop()


def test_a_camera_still_knocked_at_the_restart_is_the_same_episode_not_a_second_one(tmp_path, clock):
    """Before: ``camera_moved`` again under a new ``event_id``, 2 s into the new run: a second episode for a backend
    that consumes each event once. Now the episode goes on, unsaid, and its end names the event that opened it."""
    path, moved = _reported(tmp_path, clock, hold(300, _knocked()), 5)
    again = _Run(path, clock, hold(30, _knocked()) + hold(300, render(EMPTY)))
    assert again.run(29) == []
    assert again.agent.camera_moved and not again.agent.monitor.aligned
    assert again.agent.monitor.unseen() == dict.fromkeys(["A", "B"], "camera_moved")
    again.agent.stop()
    third = _Run(path, clock, hold(300, _knocked()))  # a third run: still the first run's episode
    assert third.run(10) == []
    third.agent.stop()
    last = _Run(path, clock, hold(5, _knocked()) + hold(300, render(EMPTY)))  # put back while it runs
    camera = last.run(10)
    assert [(t, d.get("earlier_run"), d.get("moved_event_id")) for t, d in camera] == [
        ("camera_aligned", True, moved.event_id)]
    last.agent.stop()


def test_a_view_unmatched_at_the_restart_stays_one_episode_and_its_return_closes_it(tmp_path, clock):
    """Reported ``{"unmatched": true}`` after a minute facing a hedge; the next run faces it too: before, a second
    ``camera_moved`` a minute in, and nothing when the camera was put back (the new run had reported nothing)."""
    path, moved = _reported(tmp_path, clock, hold(300, _elsewhere()), 62)
    assert moved.data == {"unmatched": True, "unmatched_s": 60.0}
    again = _Run(path, clock, hold(90, _elsewhere()) + hold(300, render(EMPTY)))
    assert again.run(89) == []
    assert again.agent.camera_moved is False and again.agent.camera.placement == "unmatched"
    camera = again.run(6)
    assert [t for t, _ in camera] == ["camera_aligned"]
    assert camera[0][1]["unmatched"] is True and camera[0][1]["earlier_run"] is True
    assert camera[0][1]["moved_event_id"] == moved.event_id
    again.agent.stop()


def test_bays_redrawn_while_the_agent_was_stopped_close_the_episode_at_the_start(tmp_path, clock):
    """Every bay redrawn in the config file while the agent was stopped (a pixel to the right, as if on the knocked
    view): the next run takes that view as the reference (no outline kept), so the camera fits its bays. Before: no
    ``camera_aligned``; now ``{"redrawn": true}`` as a reload's redraw says, before any frame."""
    path, moved = _reported(tmp_path, clock, hold(300, _knocked()), 5)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    for bay in cfg["bays"]:
        bay["polygon"] = [[x + 1, y] for x, y in bay["polygon"]]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    again = _Run(path, clock, hold(300, _knocked()))
    assert not again.agent.camera_moved
    assert again.run(10) == [("camera_aligned", {"redrawn": True, "earlier_run": True,
                                                 "moved_event_id": moved.event_id})]
    assert again.agent.monitor.aligned
    again.agent.stop()


def test_confirming_the_view_in_the_next_run_closes_the_earlier_episode(tmp_path, clock):
    path, moved = _reported(tmp_path, clock, hold(300, _knocked()), 5)
    again = _Run(path, clock, hold(300, _knocked()))
    again.run(3)
    assert again.agent.confirm_camera().ok
    assert again.run(5) == [("camera_aligned", {"confirmed": True, "earlier_run": True,
                                                "moved_event_id": moved.event_id})]
    again.agent.stop()
    third = _Run(path, clock, hold(300, _knocked()))
    assert third.run(5) == [] and not third.agent.camera_moved
    third.agent.stop()


@pytest.mark.parametrize("content", [b"\x00\xff not json", b"[1, 2]", b'{"state": "moved"}',
                                     b'{"state": "moved", "event_id": "x", "kind": "shift", "bays": []}',
                                     b'{"version": 99, "state": "moved"}', "folder"])
def test_a_damaged_or_foreign_file_is_nothing_reported_and_never_lifts_the_blindness(tmp_path, clock, caplog,
                                                                                      content):
    """Read as "nothing reported" with a log line, never a crash: the camera still knocked is judged as it is
    (``camera_moved`` again, the bays blind), a camera in place as it is (no event)."""
    path, _ = _reported(tmp_path, clock, hold(300, _knocked()), 5)
    kept = tmp_path / "data" / "camera" / FILE
    kept.unlink()
    if content == "folder":
        kept.mkdir()
    else:
        kept.write_bytes(content)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="edge_agent.camera.reported"):
        again = _Run(path, clock, hold(300, _knocked()))
    assert any("nothing taken as reported" in r.getMessage() for r in caplog.records)
    assert [t for t, _ in again.run(5)] == ["camera_moved"]
    assert again.agent.camera_moved and not again.agent.monitor.aligned
    again.agent.stop()
    if content == "folder":  # cannot be written either: logged, this run's events stand
        return
    doc = json.loads(kept.read_text())
    assert doc["event_id"] == again.moved_event().event_id and doc["state"] == "moved"


def test_bays_redrawn_while_stopped_over_an_unreadable_reference_close_the_old_episode_before_the_new_one(
        tmp_path, clock):
    """The earlier run's episode ends (its bays are gone) and the first frame opens another, ``reference_lost``
    (the stored key cannot be read): the backend gets them in that order, and the new one is kept."""
    path, moved = _reported(tmp_path, clock, hold(300, _knocked()), 5)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    for bay in cfg["bays"]:
        bay["polygon"] = [[x + 1, y] for x, y in bay["polygon"]]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    (tmp_path / "data" / "camera" / "reference.json").write_text('{"key": "0f3', encoding="utf-8")
    again = _Run(path, clock, hold(300, _knocked()))
    assert again.run(5) == [("camera_aligned", {"redrawn": True, "earlier_run": True,
                                                "moved_event_id": moved.event_id}),
                            ("camera_moved", {"reference_lost": True})]
    assert again.agent.camera_moved and not again.agent.monitor.aligned
    assert json.loads((tmp_path / "data" / "camera" / FILE).read_text())["event_id"] == again.moved_event().event_id
    again.agent.stop()


def test_a_camera_sending_another_frame_shape_over_a_restart_is_one_episode(tmp_path, clock):
    """Frames of another aspect ratio (a 4:3 sub-stream) at a restart: before, a second ``camera_moved``
    ``{"frame_size": …}`` at the first frame; fitting frames again close the first."""
    four_by_three = np.ascontiguousarray(render(EMPTY)[:, 120:840])
    path, moved = _reported(tmp_path, clock, hold(300, four_by_three), 3)  # reported once held moved_confirm_s
    assert moved.data == {"frame_size": [720, 540], "bays_frame_size": [960, 540]}
    again = _Run(path, clock, hold(10, four_by_three) + hold(300, render(EMPTY)))
    assert again.run(9) == [] and again.agent.camera_moved
    assert [(t, d.get("moved_event_id")) for t, d in again.run(5)] == [("camera_aligned", moved.event_id)]
    assert not again.agent.camera_moved and again.agent.monitor.aligned
    again.agent.stop()


@pytest.mark.broker
def test_what_a_backend_receives_over_two_restarts_is_one_episode(broker, tmp_path, clock):  # noqa: ANN001, F811
    """End to end through the outbox and a real mosquitto, to a backend on a persistent session: knocked (run 1),
    restarted still knocked (run 2), restarted after it was put back (run 3). Before: two ``camera_moved`` (two
    ``event_id``s, 2 s into runs 1 and 2) and nothing after them: two episodes open at the backend for good."""
    from edge_agent.events.health import HealthFigures
    from edge_agent.events.mqtt_link import build_mqtt
    from tests.events.helpers import RecordingControl, Subscriber, wait_until

    mqtt = {"enabled": True, "brokers": [broker.url()], "reconnect_max_s": 2}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(scene_config(str(tmp_path / "data"), mqtt=mqtt).model_dump(mode="json"),
                                   allow_unicode=True), encoding="utf-8")
    backend = Subscriber(broker.port, "edge/+/+/events", client_id="backend", persistent=True).start()

    def camera() -> list[dict]:
        return [m.json() for m in backend.all() if m.json()["type"].startswith("camera_")]

    def run(frames: list, seconds: float, expect: int) -> None:
        cfg = load_config(path)
        agent = Agent(cfg, clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
        agent.add_component(build_mqtt(cfg, agent.bus, RecordingControl(), clock, lambda: HealthFigures()))
        agent.start()
        run_scripted(agent.step, clock, seconds, 5)
        wait_until(lambda: len(camera()) >= expect, what=f"{expect} camera events at the backend")
        agent.stop()

    try:
        run(hold(60, render(EMPTY)), 2, 0)
        run(hold(300, _knocked()), 5, 1)
        run(hold(300, _knocked()), 10, 1)
        run(hold(300, render(EMPTY)), 5, 2)
        got = camera()
        assert [e["type"] for e in got] == ["camera_moved", "camera_aligned"]
        assert got[1]["data"]["earlier_run"] is True and got[1]["data"]["moved_event_id"] == got[0]["event_id"]
    finally:
        backend.stop()
