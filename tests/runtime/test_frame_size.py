"""A camera that starts sending another frame size under bays drawn in pixels of the old one.

Before: one log line when ``camera.width`` / ``height`` were configured (nothing when they were not),
and the old polygons were laid on the new frames: a 1280x720 stream under bays drawn on 960x540 put
the fuel car parked in bay B outside bay B's outline, and the camera-shift reference was silently
retaken at the new size. Now the same view at another resolution is scaled to the bays' size, and
another aspect ratio blinds the bays (``camera_moved``, no lock rises) until the frames fit again or
the installer confirms the view.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config.configfile import ConfigFile
from edge_agent.config.load import load_config
from edge_agent.control import ControlError
from edge_agent.events.types import Event
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import BAYS, EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.locks.test_reload_sensors import NoPlates

PARKED = Scene(cars=(FUEL,))
UNSIZED = {"width": None, "height": None}  # the size is learned from the frames


def _four_by_three(scene: Scene) -> np.ndarray:
    """A 4:3 sub-stream of the 960x540 view: its middle 720 columns."""
    return np.ascontiguousarray(render(scene)[:, 120:840])


def _run(agent: Agent, clock, seconds: float) -> list[Event]:  # noqa: ANN001
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, seconds, 5)
    return events


def test_a_higher_resolution_stream_of_the_same_view_is_scaled_to_the_bays(pipeline, tmp_path, clock):
    big = [cv2.resize(render(s), (1280, 720)) for s in (EMPTY, PARKED)]
    agent = Agent(scene_config(str(tmp_path)), clock=clock,
                  source=ScriptedSource(hold(3, big[0]) + hold(300, big[1]), clock), reader=pipeline)
    events = _run(agent, clock, 13)
    assert [(e.type, e.bay_id) for e in events] == [("vehicle_arrived", "B"), ("vehicle_identified", "B")]
    assert agent.bus.states()["B"].plate == "京A12345"
    assert agent.monitor._last_frame.shape[:2] == (540, 960)  # the live page and the installer see the bays' size
    assert not agent.camera_moved


def test_another_aspect_ratio_blinds_the_bays_until_the_frames_fit_again(tmp_path, clock):
    frames = hold(4, render(EMPTY)) + hold(20, _four_by_three(PARKED)) + hold(300, render(PARKED))
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events = _run(agent, clock, 14)
    assert [(e.type, e.data) for e in events] == [
        ("camera_moved", {"frame_size": [720, 540], "bays_frame_size": [960, 540]})]
    assert agent.camera_moved
    state = agent.bus.states()["B"]
    assert state.state == "unknown" and not state.camera_ok  # no lock rises on it
    assert agent.health_figures().extra["bays_unseen"] == dict.fromkeys(agent.bay_ids(), "camera_moved")  # the heartbeat says so, too
    with pytest.raises(ControlError) as err:  # configured: only the config can change the bays' size
        agent.confirm_camera()
    assert err.value.code == "frame_size" and "camera.width/height say 960x540" in str(err.value)

    run_scripted(agent.step, clock, 20, 5)  # the camera's own stream again
    assert [e.type for e in events] == ["camera_moved", "camera_aligned", "vehicle_arrived"]
    assert events[1].data == {"frame_size": [960, 540]} and events[2].bay_id == "B"
    assert not agent.camera_moved and agent.bus.states()["B"].camera_ok
    assert agent.health_figures().extra["bays_unseen"] == {}


def test_a_learned_size_outlives_a_restart_and_a_confirmation_adopts_the_new_one(tmp_path, clock):
    first = Agent(scene_config(str(tmp_path), camera=UNSIZED), clock=clock,
                  source=ScriptedSource(hold(60, render(EMPTY)), clock), reader=NoPlates())
    assert _run(first, clock, 2) == []
    first.stop()

    def restart() -> tuple[Agent, list[Event]]:
        agent = Agent(scene_config(str(tmp_path), camera=UNSIZED), clock=clock,
                      source=ScriptedSource(hold(300, _four_by_three(PARKED)), clock), reader=NoPlates())
        return agent, _run(agent, clock, 3)  # another shape is reported once it held moved_confirm_s (2 s)

    agent, events = restart()  # the camera was switched to a 4:3 stream while the agent was stopped
    assert [e.type for e in events] == ["camera_moved"] and agent.bus.states()["B"].state == "unknown"
    assert agent.confirm_camera().ok
    run_scripted(agent.step, clock, 1, 5)
    assert [(e.type, e.data) for e in events][1:] == [("camera_aligned", {"confirmed": True})]
    assert agent.bus.states()["B"].camera_ok
    agent.stop()

    agent, events = restart()  # confirmed once: the next start knows the new size
    assert "camera_moved" not in [e.type for e in events] and not agent.camera_moved


def test_bays_redrawn_on_the_new_shape_carry_its_size_and_are_judged_at_once(tmp_path, clock):
    """The way out when the config sets the size: the installer redraws the bays on the 4:3 snapshot and the
    save keeps its size with them (``overrides.yaml``). The reload applies it without a restart."""
    data = scene_config(str(tmp_path / "data")).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    frames = hold(4, _four_by_three(EMPTY)) + hold(300, _four_by_three(PARKED))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events = _run(agent, clock, 3)
    assert [e.type for e in events] == ["camera_moved"] and agent.camera_moved

    redrawn = [{"id": bid, "polygon": [[min(max(x - 120, 0), 720), y] for x, y in poly]} for bid, poly in BAYS.items()]
    ConfigFile(path, FakeClock()).set_bays(redrawn, size=(720, 540))  # what the installer page's save does
    res = agent.reload_config()
    assert res.ok and res.data["restart_needed"] == [], res.data  # the size is applied now, not at a restart
    run_scripted(agent.step, clock, 10, 5)
    assert [(e.type, e.bay_id, e.data) for e in events][1:3] == [
        ("camera_aligned", None, {"redrawn": True}), ("vehicle_arrived", "B", {})]
    assert not agent.camera_moved and agent.bus.states()["B"].camera_ok


def test_a_reload_says_a_restart_is_needed_only_for_camera_keys_it_cannot_apply(tmp_path, clock):
    data = scene_config(str(tmp_path / "data")).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    agent = None
    for camera, restart in (({"width": 960, "height": 540}, []), ({"width": 1920, "height": 1080}, []),
                            ({"fps": 10}, ["camera"])):
        data["camera"].update(camera)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        if agent is None:
            agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, render(EMPTY)), clock),
                          reader=NoPlates())
            continue
        res = agent.reload_config()
        assert res.ok and res.data["restart_needed"] == restart, (camera, res.data)
    assert agent is not None and agent.camera.frame_size.expected == (1920, 1080)


def _knocked(image: np.ndarray, dx: float = 60) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, 0]]), image.shape[1::-1],
                          borderMode=cv2.BORDER_REPLICATE)


def test_a_reload_that_takes_the_size_out_leaves_a_knocked_camera_moved_without_a_word(tmp_path, clock):
    """``camera.width`` / ``height`` taken out of the file (the size is then learned) while the camera is knocked
    60 px: the bays' size is the same, so nothing about the view changed. The reload started registration over
    and published ``camera_aligned`` ``{"frame_size": [null, null]}`` (the banner gone, the bays judged until the
    next measurement), then ``camera_moved`` again 2 s later: a false all-clear to every consumer."""
    data = scene_config(str(tmp_path / "data")).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    frames = hold(4, render(EMPTY)) + hold(300, _knocked(render(EMPTY)))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events = _run(agent, clock, 8)
    assert [e.type for e in events] == ["camera_moved"] and agent.camera_moved
    data["camera"].update(UNSIZED)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["camera"], res.data
    assert agent.camera_moved and not agent.monitor.aligned
    run_scripted(agent.step, clock, 10, 5)
    assert [e.type for e in events] == ["camera_moved"] and agent.camera_moved
    assert agent.camera.frame_size.expected == (960, 540)


def test_a_hand_edit_of_the_bays_keeps_the_size_they_were_drawn_on(tmp_path, clock):
    """Bays drawn on 960x540 (learned), the camera now sending the same view at 1280x720 (scaled to the bays). A bay
    added by hand took the next frame's size as the one every bay was drawn on: the 1280x720 frames went unscaled
    under outlines drawn on 960x540, each covering other ground — over a restart too."""
    data = scene_config(str(tmp_path / "data"), camera=UNSIZED).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    big = cv2.resize(render(EMPTY), (1280, 720))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(4, render(EMPTY)) + hold(300, big), clock),
                  reader=NoPlates())
    _run(agent, clock, 8)
    assert agent.camera.frame_size.expected == (960, 540) and agent.monitor._last_frame.shape[:2] == (540, 960)
    data["bays"].append({"id": "C", "polygon": [[20, 160], [60, 160], [60, 190], [20, 190]]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert agent.reload_config().ok
    run_scripted(agent.step, clock, 3, 5)
    assert agent.camera.frame_size.expected == (960, 540) and agent.monitor._last_frame.shape[:2] == (540, 960)
    agent.stop()
    again = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, big), clock), reader=NoPlates())
    _run(again, clock, 2)
    assert again.camera.frame_size.expected == (960, 540) and not again.camera_moved
    again.stop()


@pytest.mark.parametrize("edit", ["size", "size_and_bay_added"])
def test_a_reload_that_changes_the_size_leaves_a_knocked_camera_moved(tmp_path, clock, edit):
    """``camera.width`` / ``height`` changed by hand (960x540 -> 1920x1080) while the camera is knocked 60 px. The
    reload took the knocked view, scaled to the new size, as the reference: ``camera_aligned``, the bays judged on
    ground they no longer lie on, silently (with a bay added too, ``{"redrawn": true}``). Unchanged outlines under a
    new size are the old drawing read at that size: the reference picture is kept, scaled to it, and the view
    judged against it — moved until the camera is put back, the view confirmed or the bays redrawn."""
    data = scene_config(str(tmp_path / "data")).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    frames = hold(4, render(EMPTY)) + hold(30, _knocked(render(EMPTY))) + hold(300, render(EMPTY))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events = _run(agent, clock, 8)
    assert [e.type for e in events] == ["camera_moved"] and agent.camera_moved
    data["camera"].update({"width": 1920, "height": 1080})
    if edit == "size_and_bay_added":
        data["bays"].append({"id": "C", "polygon": [[40, 320], [120, 320], [120, 380], [40, 380]]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert agent.reload_config().ok
    assert agent.camera_moved and not agent.monitor.aligned
    run_scripted(agent.step, clock, 10, 5)
    assert [e.type for e in events] == ["camera_moved"] and agent.camera_moved
    assert agent.camera.frame_size.expected == (1920, 1080) and agent.monitor._last_frame.shape[:2] == (1080, 1920)
    run_scripted(agent.step, clock, 20, 5)  # the mount put back: the view fits the kept reference at the new size
    assert [e.type for e in events] == ["camera_moved", "camera_aligned"] and not agent.camera_moved
    agent.stop()


def _learned_960(tmp_path, clock):  # noqa: ANN001, ANN202
    """A run that learned 960x540 for the scene's bays (stopped); its config's dict and file."""
    data = scene_config(str(tmp_path / "data"), camera=UNSIZED).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, render(EMPTY)), clock),
                  reader=NoPlates())
    _run(agent, clock, 3)
    agent.stop()
    return data, path


def _bay_added_and_a_720p_stream(data, path, clock):  # noqa: ANN001, ANN202
    """Bay C added to the file while stopped, the camera now sending 1280x720: the start keeps 960x540 (checked) and
    finds B's car; returns the running agent and the big frame."""
    data["bays"].append({"id": "C", "polygon": [[20, 160], [60, 160], [60, 190], [20, 190]]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    big = cv2.resize(render(PARKED), (1280, 720))
    again = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, big), clock), reader=NoPlates())
    events = _run(again, clock, 13)
    assert again.camera.frame_size.expected == (960, 540) and again.monitor._last_frame.shape[:2] == (540, 960)
    assert [(e.type, e.bay_id) for e in events if e.type.startswith("vehicle_")] == [("vehicle_arrived", "B")]
    return again, big


def test_bays_edited_while_the_agent_was_stopped_keep_the_size_they_were_drawn_on(tmp_path, clock):
    """Bays drawn on 960x540 (learned); while the agent was stopped a bay was added by hand and the camera switched
    to the same view at 1280x720. The start learned 1280x720 as every bay's size (the stored size named the old
    bays): the frames went unscaled under outlines drawn on 960x540, each over other ground, and the kept reference
    scaled to match said nothing had moved. Bays that keep some outline keep the size stored for them."""
    data, path = _learned_960(tmp_path, clock)
    again, big = _bay_added_and_a_720p_stream(data, path, clock)
    again.stop()
    third = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, big), clock), reader=NoPlates())
    _run(third, clock, 2)  # stored for the edited bays now
    assert third.camera.frame_size.expected == (960, 540)
    third.stop()


def test_a_size_learned_by_0_8_0_is_kept_for_bays_edited_over_the_upgrade(tmp_path, clock):
    """0.8.0's frame_size.json is its key and size, naming no bays: bays edited while stopped for the upgrade (a
    bay added) matched nothing, and the start learned a 1280x720 stream's size for outlines drawn on 960x540 — each
    bay over other ground. Its key was written for the bays 0.8.0 last ran with: the stored size is theirs."""
    import json

    data, path = _learned_960(tmp_path, clock)
    stored = tmp_path / "data" / "camera" / "frame_size.json"
    doc = json.loads(stored.read_text())
    stored.write_text(json.dumps({"key": doc["key"], "size": doc["size"]}))  # as 0.8.0 wrote it
    ref = tmp_path / "data" / "camera" / "reference.json"
    ref.write_text(json.dumps({"key": json.loads(ref.read_text())["key"]}))
    again, big = _bay_added_and_a_720p_stream(data, path, clock)
    assert "bays" in json.loads(stored.read_text())
    again.stop()


def _first_run_960(tmp_path, clock) -> None:  # noqa: ANN001
    """The installation: bays drawn on 960x540 frames (size learned), the fuel car parked in B."""
    first = Agent(scene_config(str(tmp_path), camera=UNSIZED), clock=clock,
                  source=ScriptedSource(hold(60, render(PARKED)), clock), reader=NoPlates())
    _run(first, clock, 4)
    assert first.bus.states()["B"].state == "occupied"
    first.stop()


def _restart_on_720p(tmp_path, clock) -> tuple[Agent, list[Event]]:  # noqa: ANN001
    """The camera replaced meanwhile by one sending the same view at 1280x720."""
    big = cv2.resize(render(PARKED), (1280, 720))
    agent = Agent(scene_config(str(tmp_path), camera=UNSIZED), clock=clock,
                  source=ScriptedSource(hold(300, big), clock), reader=NoPlates())
    return agent, _run(agent, clock, 8)


@pytest.mark.parametrize("how", ["deleted", "unreadable", "no_size"])
def test_a_lost_frame_size_is_never_learned_from_a_replaced_camera(tmp_path, clock, how):
    """``frame_size.json`` deleted or damaged, and the camera replaced while the agent was stopped by one sending
    1280x720 under bays drawn on 960x540: the start learned 1280x720, scaled the reference picture to it (the same
    view: it matched) and laid every outline unscaled on other ground, with no ``camera_moved`` (the fuel car in B
    read "unknown", the camera vouching for every bay). The reference stored for these bays says their size."""
    _first_run_960(tmp_path, clock)
    stored = tmp_path / "camera" / "frame_size.json"
    if how == "deleted":
        stored.unlink()
    else:
        stored.write_text("{" if how == "unreadable" else '{"size": [0, 0]}')
    agent, events = _restart_on_720p(tmp_path, clock)
    assert agent.camera.frame_size.expected == (960, 540)
    assert not [e for e in events if e.type.startswith("camera_")] and agent.bus.states()["B"].state == "occupied"
    assert cv2.imread(str(tmp_path / "camera" / "reference.png")).shape[:2] == (540, 960)
    agent.stop()


@pytest.mark.parametrize("how", ["unreadable", "deleted"])
def test_a_lost_frame_size_nothing_else_says_blinds_the_bays_until_the_view_is_confirmed(tmp_path, clock, how):
    """With the reference's key unreadable too (or its picture left without it), no stored size of these bays can
    be read: the bays are blind (``camera_moved``, no size of theirs) until the installer confirms the view, as for
    a lost reference; the size is then the confirmed view's."""
    _first_run_960(tmp_path, clock)
    cam = tmp_path / "camera"
    if how == "unreadable":
        (cam / "frame_size.json").write_text("{")
        (cam / "reference.json").write_text("{")
    else:
        (cam / "frame_size.json").unlink()
        (cam / "reference.json").unlink()
    agent, events = _restart_on_720p(tmp_path, clock)
    assert [(e.type, e.data) for e in events] == [
        ("camera_moved", {"frame_size": [1280, 720], "bays_frame_size": None})]
    assert agent.camera_moved and not agent.bus.states()["B"].camera_ok
    assert agent.monitor.unseen() == dict.fromkeys(agent.bay_ids(), "camera_moved")
    assert agent.confirm_camera().ok
    run_scripted(agent.step, clock, 1, 5)
    assert [(e.type, e.data) for e in events][1:] == [("camera_aligned", {"confirmed": True})]
    assert agent.camera.frame_size.expected == (1280, 720) and not agent.camera_moved
    agent.stop()
