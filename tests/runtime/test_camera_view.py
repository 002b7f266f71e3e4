"""``camera.rotate`` / ``flip`` through the running agent: a camera mounted upside down or mirrored.

Before: no such setting, and the upside-down view of the scenario's fuel car read no plate at all — and
put the car in bay A (its outline lies where bay B is, turned). Now the agent turns each frame once, where
it enters the loop, and everything after it (bays, plate reading, evidence, registration) sees the upright
view. A reload may not turn the view under drawn bays; a restart that does is blind until confirmed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.config.load import load_config
from edge_agent.events.types import Event
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.locks.test_reload_sensors import NoPlates

PARKED = Scene(cars=(FUEL,))


def _camera(turn: int | None, flip: int | None = None) -> list:
    """The scenario as a camera mounted that way sends it: empty bays, then a fuel car parks in bay B."""
    def raw(scene: Scene) -> np.ndarray:
        img = render(scene)
        img = img if turn is None else cv2.rotate(img, turn)
        return img if flip is None else cv2.flip(img, flip)
    return hold(3, raw(EMPTY)) + hold(300, raw(PARKED))


def _run(agent: Agent, clock, seconds: float = 13) -> list[Event]:  # noqa: ANN001
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, seconds, 5)
    return events


def _closer_to_upright(image: np.ndarray) -> bool:
    upright = render(PARKED).astype(np.int16)
    return bool(np.abs(image.astype(np.int16) - upright).mean()
                < np.abs(image.astype(np.int16) - cv2.rotate(render(PARKED), cv2.ROTATE_180)).mean() / 2)


def test_an_upside_down_camera_reads_no_plate_without_rotate(pipeline, tmp_path, clock):
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(_camera(cv2.ROTATE_180), clock),
                  reader=pipeline)
    events = _run(agent, clock)
    assert "vehicle_identified" not in [e.type for e in events]
    assert agent.bus.states()["B"].plate is None


@pytest.mark.parametrize("turn, flip, setting", [
    (cv2.ROTATE_180, None, {"rotate": 180}),  # under a shelter roof
    (None, 1, {"flip": "horizontal"}),  # a mirrored picture
    (cv2.ROTATE_90_COUNTERCLOCKWISE, None, {"rotate": 90}),  # sideways: the camera sends 540x960
])
def test_with_the_setting_the_plate_is_read_in_its_bay_and_everything_sees_the_upright_view(
        pipeline, tmp_path, clock, turn, flip, setting):
    # evidence.photo frame: the snapshot is the whole view, compared with the whole upright picture (a bay's
    # snapshot, the default, is cut from that same view since 0.28.0)
    agent = Agent(scene_config(str(tmp_path), camera=setting, evidence={"photo": "frame"}), clock=clock,
                  source=ScriptedSource(_camera(turn, flip), clock), reader=pipeline)
    events = _run(agent, clock)
    assert [(e.type, e.bay_id) for e in events] == [("vehicle_arrived", "B"), ("vehicle_identified", "B")]
    assert agent.bus.states()["B"].plate == "京A12345"
    assert _closer_to_upright(agent.monitor._last_frame)  # the live page, the installer's snapshot
    snap = agent.evidence.image_path(agent.snapshot("B"))  # evidence photos
    assert _closer_to_upright(cv2.resize(cv2.imread(str(snap)), (960, 540)))
    assert not agent.camera_moved  # registration took its reference from the upright view


def test_a_restart_that_turns_the_view_under_the_bays_is_blind_until_confirmed(pipeline, tmp_path, clock):
    """The bays were drawn with the camera upright; it is then remounted upside down and ``rotate: 180``
    set. The frames look upright again, but nothing says the polygons were drawn on this view: the
    stored reference (another view's) is not used, the camera counts as moved at once, and only the
    installer's confirmation (or a redraw) lets the bays count again."""
    first = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(hold(60, render(EMPTY)), clock),
                  reader=NoPlates())
    _run(first, clock, 2)
    first.stop()
    agent = Agent(scene_config(str(tmp_path), camera={"rotate": 180}), clock=clock,
                  source=ScriptedSource(_camera(cv2.ROTATE_180), clock), reader=pipeline)
    events = _run(agent, clock)
    moved = [e for e in events if e.type == "camera_moved"]
    assert [e.data for e in moved] == [{"turned": True, "rotate": 180, "flip": "none"}]
    assert agent.camera_moved and agent.bus.states()["B"].state == "unknown"
    assert "vehicle_identified" not in [e.type for e in events]

    assert agent.confirm_camera().ok
    run_scripted(agent.step, clock, 10, 5)
    assert [e.type for e in events if e.type.startswith("camera_")] == ["camera_moved", "camera_aligned"]
    assert not agent.camera_moved and agent.bus.states()["B"].plate == "京A12345"


def _file(tmp_path: Path, **camera: object) -> Path:
    data = scene_config(str(tmp_path / "data")).model_dump(mode="json")
    data["camera"].update(camera)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_reload_that_turns_the_view_is_refused_and_keeps_the_running_config(tmp_path, clock):
    """Why refuse: the running bays were drawn on the old view; applying the turn would judge them on
    the wrong ground until someone redraws them. The refusal names the key and says what to do."""
    path = _file(tmp_path, flip="vertical")
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock), reader=NoPlates())
    running, view = agent.cfg, agent.view
    _file(tmp_path, rotate=180)
    res = agent.reload_config()
    assert not res.ok and len(res.data["problems"]) == 1
    problem = res.data["problems"][0]
    assert problem.startswith("camera.rotate, camera.flip: the view turns (flip vertical → rotate 180)")
    assert "restart the agent" in problem and "redraw the bays" in problem
    assert agent.cfg is running and agent.view is view

    _file(tmp_path, rotate=180, flip="horizontal")  # the same view spelt another way: nothing turns
    res = agent.reload_config()
    assert res.ok and res.data["restart_needed"] == ["camera"]


def _moved(tmp_path, clock, reader):  # noqa: ANN001, ANN202
    """An agent whose camera turned 180° under the bays drawn by a first run: (agent, config path, events)."""
    data = tmp_path / "data"
    first = Agent(scene_config(str(data)), clock=clock, source=ScriptedSource(hold(60, render(EMPTY)), clock),
                  reader=NoPlates())
    _run(first, clock, 2)
    first.stop()
    path = _file(tmp_path, rotate=180)
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(_camera(cv2.ROTATE_180), clock),
                  reader=reader)
    events = _run(agent, clock, 4)
    assert agent.camera_moved
    return agent, path, events


def test_bays_redrawn_after_a_move_clear_it_and_say_so(pipeline, tmp_path, clock):
    """The other way out of ``camera_moved``: the installer redraws the bays on the current view. The
    banner goes and consumers that track the camera get ``camera_aligned`` ``{"redrawn": true}``."""
    agent, path, events = _moved(tmp_path, clock, pipeline)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    for bay in cfg["bays"]:  # redrawn: a pixel to the right
        bay["polygon"] = [[x + 1, y] for x, y in bay["polygon"]]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert agent.reload_config().ok
    run_scripted(agent.step, clock, 10, 5)
    camera = [(e.type, e.data) for e in events if e.type.startswith("camera_")]
    assert camera == [("camera_moved", {"turned": True, "rotate": 180, "flip": "none"}),
                      ("camera_aligned", {"redrawn": True})]
    assert not agent.camera_moved and agent.bus.states()["B"].plate == "京A12345"


@pytest.mark.parametrize("edit", ["charger_id", "bay_added"])
def test_a_reload_that_changes_a_bay_but_not_its_outline_leaves_a_moved_camera_moved(tmp_path, clock, edit):
    """A reload that changed only a bay's ``charger_id`` counted as the bays redrawn: a camera counted as moved
    published ``camera_aligned`` ``{"redrawn": true}`` and dropped the banner, then ``camera_moved`` again at the
    next frame, though no outline had changed and the bays still lay on the wrong ground. One that added a bay
    took the turned view as the reference of every bay, silently. Both leave the view turned, over a restart too."""
    agent, path, events = _moved(tmp_path, clock, NoPlates())
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    if edit == "charger_id":
        cfg["bays"][0]["charger_id"] = "charger-A2"
    else:
        cfg["bays"].append({"id": "C", "polygon": [[20, 160], [60, 160], [60, 190], [20, 190]]})
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["bays"]
    assert agent.monitor.cfg.bays[0].charger_id == ("charger-A2" if edit == "charger_id" else "charger-A")
    assert agent.camera_moved and not agent.monitor.aligned
    run_scripted(agent.step, clock, 10, 5)
    turned = ("camera_moved", {"turned": True, "rotate": 180, "flip": "none"})
    assert [(e.type, e.data) for e in events if e.type.startswith("camera_")] == [turned]
    assert agent.camera_moved
    agent.stop()
    again = Agent(load_config(path), clock=clock, source=ScriptedSource(_camera(cv2.ROTATE_180), clock),
                  reader=NoPlates())
    # still turned: the episode the first run reported goes on, not a second ``camera_moved`` (camera/reported.py)
    assert [(e.type, e.data) for e in _run(again, clock, 4) if e.type.startswith("camera_")] == []
    assert again.camera_moved and not again.monitor.aligned
    again.stop()


def _knocked(dx: float) -> np.ndarray:
    """The empty scenario seen by a camera knocked ``dx`` px sideways (beyond ``shift_tolerance_px``, 24)."""
    img = render(EMPTY)
    return cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, 0]]), img.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("edit", ["timers", "bays_listed_in_another_order", "charger_id", "bay_added",
                                  "bay_removed", "one_outline_changed"])
def test_a_hand_edit_that_redraws_no_bay_keeps_the_reference_of_a_knocked_camera(tmp_path, clock, edit):
    """The camera is knocked 60 px (``camera_moved``, bays blind), then someone edits the config file by hand and
    sends SIGHUP. An edit that moved a bay up the list (or wrote the bays in another order) counted as bays
    redrawn: the knocked view became the installation's reference, ``camera_aligned`` ``{"redrawn": true}``, the
    bays were judged on ground they no longer lie on — and the next restart kept it so. So did one that added or
    removed a bay, or changed one outline, leaving the others as they were (taken as drawn on the knocked view).
    Such an edit keeps the saved reference, over a restart too: the new outlines are read as drawn on it."""
    path = _file(tmp_path)
    first = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, render(EMPTY)), clock),
                  reader=NoPlates())
    _run(first, clock, 2)  # the installation's reference
    first.stop()
    reference = tmp_path / "data" / "camera" / "reference.png"
    saved = reference.read_bytes()
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, _knocked(60)), clock),
                  reader=NoPlates())
    events = _run(agent, clock, 5)
    assert agent.camera_moved
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    if edit == "timers":
        cfg["timers"]["fuel_grace_s"] = 25
    elif edit == "charger_id":
        cfg["bays"][0]["charger_id"] = "charger-A2"
    elif edit == "bay_added":
        cfg["bays"].append({"id": "C", "polygon": [[20, 160], [60, 160], [60, 190], [20, 190]]})
    elif edit == "bay_removed":
        cfg["bays"].pop()
    elif edit == "one_outline_changed":
        cfg["bays"][0]["polygon"][0][0] += 4
    else:
        cfg["bays"].reverse()
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert agent.reload_config().ok
    run_scripted(agent.step, clock, 10, 5)
    assert agent.camera_moved and not agent.monitor.aligned
    assert [e.type for e in events if e.type.startswith("camera_")] == ["camera_moved"]
    assert reference.read_bytes() == saved
    agent.stop()
    again = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, _knocked(60)), clock),
                  reader=NoPlates())
    _run(again, clock, 5)
    assert again.camera_moved and reference.read_bytes() == saved
    again.stop()


def test_a_hand_edit_while_the_view_matches_no_reference_keeps_the_reference(tmp_path, clock):
    """A camera knocked to face something else matches no reference: nobody knows where the bays lie, and no lock
    rises (``camera_unmatched``). A bay added by hand then took that view as the reference of every bay: matched
    at once, the bays judged on whatever it shows."""
    path = _file(tmp_path)
    first = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, render(EMPTY)), clock),
                  reader=NoPlates())
    _run(first, clock, 2)
    first.stop()
    reference = tmp_path / "data" / "camera" / "reference.png"
    saved = reference.read_bytes()
    rng = np.random.default_rng(3)
    elsewhere = cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (5, 5), 0)
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, elsewhere), clock),
                  reader=NoPlates())
    _run(agent, clock, 3)
    assert not agent.camera.alignment.matched and agent.camera.placement == "unmatched"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["bays"].append({"id": "C", "polygon": [[20, 160], [60, 160], [60, 190], [20, 190]]})
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert agent.reload_config().ok
    run_scripted(agent.step, clock, 5, 5)
    assert not agent.camera.alignment.matched and reference.read_bytes() == saved
    assert agent.monitor.unseen() == dict.fromkeys(["A", "B", "C"], "camera_unmatched")
    agent.stop()


def test_confirming_a_view_that_matches_no_reference_is_published(tmp_path, clock):
    """A camera replaced while the agent was stopped matches no reference (``camera_unmatched``, never a
    ``camera_moved``: such a view can flicker so for a frame). **Confirm current view** ended it with the audit row
    alone: a backend tracking the camera's health never heard it come back. ``camera_aligned`` says so now."""
    path = _file(tmp_path)
    first = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, render(EMPTY)), clock),
                  reader=NoPlates())
    _run(first, clock, 2)
    first.stop()
    rng = np.random.default_rng(3)
    elsewhere = cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (5, 5), 0)
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(300, elsewhere), clock),
                  reader=NoPlates())
    events = _run(agent, clock, 3)
    assert agent.camera.placement == "unmatched" and not [e for e in events if e.type.startswith("camera_")]
    assert agent.confirm_camera().ok
    run_scripted(agent.step, clock, 2, 5)
    assert [(e.type, e.data) for e in events if e.type.startswith("camera_")] == [
        ("camera_aligned", {"confirmed": True, "unmatched": True})]
    assert agent.camera.placement == "ok" and agent.monitor.unseen() == {}
    agent.stop()


def _elsewhere() -> np.ndarray:
    """A view with plenty of corners that matches nothing of the scenario's: the camera knocked to face a hedge."""
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (5, 5), 0)


def _camera_events(events: list[Event]) -> list[tuple[str, dict]]:
    return [(e.type, e.data) for e in events if e.type.startswith("camera_")]


def test_a_camera_knocked_to_face_elsewhere_is_reported_after_a_minute_and_its_return_too(tmp_path, clock):
    """A knock that turns the camera to face a hedge, the ground or the sky matches no reference: it measures no
    shift, so it was never ``camera_moved``. Every lock stayed down (``camera_unmatched``), but the backend heard
    nothing, only the heartbeat's ``bays_unseen`` said it. Now a view that matched nothing for a minute is
    ``camera_moved`` ``{"unmatched": true}`` (once), and its first matching frame ``camera_aligned``. Less than a
    minute (a van parked in front of the lens) is no event."""
    path = _file(tmp_path)
    frames = hold(4, render(EMPTY)) + hold(40, _elsewhere()) + hold(4, render(EMPTY)) \
        + hold(91, _elsewhere()) + hold(60, render(EMPTY))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, 4 + 40 + 4, 5)  # 40 s facing elsewhere, then back
    assert _camera_events(events) == []
    run_scripted(agent.step, clock, 59, 5)  # facing elsewhere again, under a minute
    assert _camera_events(events) == [] and agent.camera.placement == "unmatched"
    run_scripted(agent.step, clock, 2, 5)
    assert _camera_events(events) == [("camera_moved", {"unmatched": True, "unmatched_s": 60.0})]
    assert agent.monitor.unseen() == dict.fromkeys(["A", "B"], "camera_unmatched")
    run_scripted(agent.step, clock, 30, 5)  # still facing elsewhere: said once
    assert len(_camera_events(events)) == 1
    run_scripted(agent.step, clock, 5, 5)  # put back
    moved, aligned = _camera_events(events)
    assert aligned[0] == "camera_aligned" and aligned[1]["unmatched"] is True and aligned[1]["shift_px"] < 2
    assert agent.camera.placement == "ok" and agent.monitor.unseen() == {}
    agent.stop()


def test_a_knock_confirmed_before_it_was_reported_is_published(tmp_path, clock):
    """The installer confirms a knocked view within ``moved_confirm_s`` of the knock, before ``camera_moved``
    was sent: the confirmation took a new reference and published nothing, so a backend never heard that the
    view it knew had been replaced."""
    path = _file(tmp_path)
    agent = Agent(load_config(path), clock=clock,
                  source=ScriptedSource(hold(4, render(EMPTY)) + hold(300, _knocked(60)), clock), reader=NoPlates())
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, 4 + 1, 5)  # knocked for a second: not yet reported
    assert agent.camera.placement == "moved" and _camera_events(events) == []
    assert agent.confirm_camera().ok
    run_scripted(agent.step, clock, 5, 5)
    assert _camera_events(events) == [("camera_aligned", {"confirmed": True})]
    assert agent.camera.placement == "ok"
    agent.stop()


def test_a_view_matching_for_a_moment_each_minute_is_one_pair_of_events_not_one_a_minute(tmp_path, clock):
    """A camera knocked to face elsewhere whose view matches for a second now and then (a gust swings it back): each
    match ended the reported state at once and the next minute reported it again, 10 pairs in 12 minutes (probe
    review11). Its end is debounced as a move's (``moved_confirm_s``)."""
    path = _file(tmp_path)
    frames = hold(4, render(EMPTY))
    for _ in range(4):
        frames += hold(69, _elsewhere()) + hold(1, render(EMPTY))
    frames += hold(30, render(EMPTY))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, 4 + 4 * 70, 5)
    assert [t for t, _ in _camera_events(events)] == ["camera_moved"]
    run_scripted(agent.step, clock, 5, 5)
    assert [(t, d.get("unmatched")) for t, d in _camera_events(events)] == [("camera_moved", True),
                                                                           ("camera_aligned", True)]
    agent.stop()


def test_confirming_a_view_that_matches_again_before_its_return_was_reported_is_published(tmp_path, clock):
    """Reported unmatched, the view matches again, and the installer confirms within ``moved_confirm_s``: the
    backend heard ``camera_moved`` and must hear its end."""
    path = _file(tmp_path)
    frames = hold(4, render(EMPTY)) + hold(65, _elsewhere()) + hold(60, render(EMPTY))
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, 4 + 65 + 1, 5)
    assert [t for t, _ in _camera_events(events)] == ["camera_moved"] and agent.camera.placement == "ok"
    assert agent.confirm_camera().ok
    run_scripted(agent.step, clock, 5, 5)
    assert _camera_events(events)[1:] == [("camera_aligned", {"confirmed": True, "unmatched": True})]
    agent.stop()
