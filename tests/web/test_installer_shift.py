"""The installer's page over a camera that moved a little: it shows and saves the bays where the agent now sees them.

With ``camera.track_shift`` the agent carries each bay corner along with the view (within
``camera.shift_tolerance_px``), and a Save takes a new reference picture: the current view. Before, the page
showed and saved the outlines as drawn on the *old* reference, so an installer who corrected one bay after the
camera had drifted 16 px saved every other bay 16 px off the new reference, silently and for good.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.assemble import Assembled, assemble
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import BAY_A, BAY_B, render
from edge_agent.web.auth import UsersFile
from tests.locks.test_reload_sensors import NoPlates
from tests.web.conftest import PASSWORD

with warnings.catch_warnings():  # as the other page tests: starlette's note about httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DX, DY = 15.0, -6.0  # the mount sagged: 16.2 px, within the 24 px tolerance
PARKED = Scene(cars=(FUEL,))  # a car parked in B meanwhile (two cars hide too much of the view to match)


def shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def _agent(tmp_path: Path, clock, later: np.ndarray,  # noqa: ANN001
           then: np.ndarray | None = None) -> tuple[Assembled, Path]:
    """The real agent and page over the scenario's two bays: 3 s of the view they were drawn on (the reference),
    then ``later`` (the camera as it is when the installer comes, 10 s in) and from 13 s ``then`` (the camera while
    the installer draws)."""
    data = scene_config(str(tmp_path / "data"), web={"enabled": True, "port": 0, "users_file": "users.txt",
                                                     "session_secret_file": "secret.key"}).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    UsersFile(tmp_path / "users.txt").set("admin", PASSWORD)
    parts = assemble(load_config(path), clock=clock,
                     source=ScriptedSource(hold(3, render(EMPTY)) + hold(10 if then is not None else 600, later)
                                           + (hold(600, then) if then is not None else []), clock))
    parts.agent.reader = NoPlates()  # where the bays lie is the question here, not the plates
    parts.agent.start()
    run_scripted(parts.agent.step, clock, 10, 5)
    return parts, path


def replaced(tmp_path: Path, clock) -> Assembled:  # noqa: ANN001
    """The real agent and page over the scenario's bays after a restart on another camera: it ran 5 s on the view the
    bays were drawn on (the reference, kept on disk), was stopped, and starts on a view that matches nothing of it
    (a camera replaced while it was stopped, the bays as they were): ``camera_unmatched``."""
    parts, path = _agent(tmp_path, clock, render(EMPTY))
    parts.agent.stop()
    rng = np.random.default_rng(3)
    other = cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (5, 5), 0)
    parts = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(600, other), clock))
    parts.agent.reader = NoPlates()
    parts.agent.start()
    run_scripted(parts.agent.step, clock, 5, 5)
    return parts


def _installer(parts: Assembled) -> tuple[TestClient, dict, str]:
    c = TestClient(parts.web.app)
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok})
    html = c.get("/installer").text
    return c, json.loads(re.search(r'id="installer-data">(.*?)</script>', html).group(1)), html


def _off(poly: list, truth: list) -> float:
    """How far an outline lies from the painted one: its farthest corner, in px."""
    return max(float(np.hypot(x - u, y - v)) for (x, y), (u, v) in zip(poly, truth))


def _on_lines(poly: list) -> list:
    return [[x + DX, y + DY] for x, y in poly]


def test_a_save_after_a_small_shift_keeps_the_untouched_bays_where_the_camera_sees_them(tmp_path, clock):
    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY))
    try:
        assert not parts.agent.camera_moved and parts.agent.monitor.offset != (0.0, 0.0)  # followed, within 24 px
        c, shown, html = _installer(parts)
        page = {b["id"]: b["polygon"] for b in shown["bays"]}
        # the page shows the outlines the agent uses on this picture (on the painted lines), not the drawn ones
        assert _off(page["B"], _on_lines(BAY_B)) < 2.0, page["B"]
        assert _off(page["A"], _on_lines(BAY_A)) < 2.0, page["A"]
        assert re.search(r'class="help camera-followed">[^<]* 1[67] ', html)  # says why they moved (16.2 px, as measured)

        corrected = [[round(x), round(y)] for x, y in _on_lines(BAY_A)]  # the installer drags A onto its lines
        corrected[2][1] -= 10  # and pulls one corner in a little: an edit, not the same outline
        bays = [{"id": "A", "polygon": corrected}, {"id": "B", "polygon": page["B"]}]  # B untouched
        r = c.post("/installer", json={"bays": bays, "size": [960, 540]}, headers={"X-CSRF-Token": shown["csrf"]})
        assert r.json()["ok"] and r.json()["reload"]["ok"], r.json()

        saved = {b["id"]: b["polygon"] for b in yaml.safe_load(
            (tmp_path / "data" / "overrides.yaml").read_text(encoding="utf-8"))["bays"]}
        assert saved["A"] == corrected
        assert _off(saved["B"], _on_lines(BAY_B)) < 2.0, f"B saved {_off(saved['B'], _on_lines(BAY_B)):.1f} px off"
        # the agent, at once and on the new reference (the current view), places B where its lines are
        placed = {s.bay_id: s.polygon.tolist() for s in parts.agent.monitor.shapes}
        assert _off(placed["B"], _on_lines(BAY_B)) < 2.0 and placed["A"] == corrected
        run_scripted(parts.agent.step, clock, 5, 5)
        placed = {s.bay_id: s.polygon.tolist() for s in parts.agent.monitor.shapes}
        assert _off(placed["B"], _on_lines(BAY_B)) < 2.0, placed["B"]
        assert _off(placed["A"], corrected) < 1.0 and not parts.agent.camera_moved
    finally:
        parts.agent.stop()


@pytest.mark.parametrize("redraws", ["AB", "A"])
def test_beyond_tolerance_the_page_says_so_and_a_save_is_the_installers_redraw_on_the_current_view(tmp_path, clock,
                                                                                                   redraws):
    """A view moved 60 px: the agent no longer places the bays (they are blind). The page shows them where it last
    placed them, says that they no longer fit, and a Save is the installer's redraw over this picture — also one
    that moved only bay A (B saved as shown: the installer looked at it on this picture; a hand edit that leaves
    an outline as it was keeps the old reference, ``tests/locks/test_knocked_edit.py``)."""
    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), 60, 0))
    try:
        assert parts.agent.camera_moved
        c, shown, html = _installer(parts)
        assert 'class="flash error camera-moved"' in html and "camera-followed" not in html
        assert {b["id"]: b["polygon"] for b in shown["bays"]} == {"A": [list(p) for p in BAY_A],
                                                                   "B": [list(p) for p in BAY_B]}
        events: list = []
        parts.agent.bus.subscribe(events.append)
        redrawn = {k: [[min(x + 60, 959.0), y] if k in redraws else [x, y] for x, y in poly]
                   for k, poly in (("A", BAY_A), ("B", BAY_B))}
        r = c.post("/installer", json={"bays": [{"id": k, "polygon": v} for k, v in redrawn.items()],
                                       "size": [960, 540]}, headers={"X-CSRF-Token": shown["csrf"]})
        assert r.json()["ok"] and r.json()["reload"]["ok"], r.json()
        run_scripted(parts.agent.step, clock, 5, 5)
        assert [(e.type, e.data) for e in events if e.type.startswith("camera_")] == \
            [("camera_aligned", {"redrawn": True})]
        assert not parts.agent.camera_moved
        assert {s.bay_id: s.polygon.tolist() for s in parts.agent.monitor.shapes} == redrawn
        _, again, html = _installer(parts)  # the page after the Save: the saved bays, placed afresh
        assert {b["id"]: b["polygon"] for b in again["bays"]} == redrawn and "camera-" not in html
    finally:
        parts.agent.stop()


def test_a_view_that_matches_no_reference_is_named_on_the_page(tmp_path, clock):
    """A camera knocked to face something else: no shift is measured, so nobody knows where the bays lie. The page
    says so over the outlines the agent last used; a Save then is a redraw on that picture like any other."""
    rng = np.random.default_rng(3)
    elsewhere = cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (5, 5), 0)
    parts, _ = _agent(tmp_path, clock, elsewhere)
    try:
        assert not parts.agent.camera.alignment.matched
        _, shown, html = _installer(parts)
        assert 'class="flash error camera-unmatched"' in html
        assert {b["id"]: b["polygon"] for b in shown["bays"]} == {"A": [list(p) for p in BAY_A],
                                                                   "B": [list(p) for p in BAY_B]}
    finally:
        parts.agent.stop()


def test_a_page_left_open_while_the_mount_sagged_on_saves_on_the_view_at_the_save(tmp_path, clock):
    """The page drew on a picture with the view 16 px off its reference; by the Save it is 22 px off (still followed).
    The Save's reference is the view at the Save: the page's outlines are carried the 6 px more, so B, untouched,
    lies on its lines in the new reference (before: 6 px off), and A's edit lands where it was made on the ground."""
    sag = (21.0, -9.0)
    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY), shifted(render(PARKED), *sag))
    try:
        c, shown, _ = _installer(parts)
        page = {b["id"]: b["polygon"] for b in shown["bays"]}
        run_scripted(parts.agent.step, clock, 6, 5)  # the installer draws; the mount sags on
        assert not parts.agent.camera_moved and parts.agent.monitor.offset[0] > DX + 4
        corrected = [[round(x), round(y)] for x, y in _on_lines(BAY_A)]
        corrected[2][1] -= 10
        r = c.post("/installer", json={"bays": [{"id": "A", "polygon": corrected}, {"id": "B", "polygon": page["B"]}],
                                       "size": [960, 540], "picture": shown["picture"]},
                   headers={"X-CSRF-Token": shown["csrf"]})
        assert r.json()["ok"], r.json()
        saved = {b["id"]: b["polygon"] for b in yaml.safe_load(
            (tmp_path / "data" / "overrides.yaml").read_text(encoding="utf-8"))["bays"]}
        now_on = [[x + sag[0], y + sag[1]] for x, y in BAY_B]
        assert _off(saved["B"], now_on) < 2.0, f"B saved {_off(saved['B'], now_on):.1f} px off"
        assert _off(saved["A"], [[x + sag[0] - DX, y + sag[1] - DY] for x, y in corrected]) < 2.0, saved["A"]
        run_scripted(parts.agent.step, clock, 3, 5)
        placed = {s.bay_id: s.polygon.tolist() for s in parts.agent.monitor.shapes}
        assert _off(placed["B"], now_on) < 2.0 and not parts.agent.camera_moved
    finally:
        parts.agent.stop()


def test_a_save_after_the_camera_was_knocked_since_the_picture_is_refused_and_writes_nothing(tmp_path, clock):
    """Drawn on a picture in place, saved after a knock of 60 px: no outline on that picture fits the view that
    would become the reference, so nothing is written and the page says to draw on the current picture."""
    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY), shifted(render(PARKED), 60, 0))
    try:
        c, shown, _ = _installer(parts)
        run_scripted(parts.agent.step, clock, 6, 5)
        assert parts.agent.camera_moved
        r = c.post("/installer", json={"bays": shown["bays"], "size": [960, 540], "picture": shown["picture"]},
                   headers={"X-CSRF-Token": shown["csrf"]})
        assert r.status_code == 409 and r.json()["view_moved"] and "reload the page" in r.json()["problems"][0]
        assert not (tmp_path / "data" / "overrides.yaml").exists() and parts.agent.camera_moved
        _, again, html = _installer(parts)  # a fresh picture: now the page says the camera moved
        assert again["picture"] != shown["picture"] and "camera-moved" in html
    finally:
        parts.agent.stop()


def test_a_picture_taken_before_another_save_is_not_carried_by_the_old_references_shift(tmp_path, clock):
    """Two pages open on the same picture (16 px off the old reference). One saves: the view at that Save is the new
    reference, and the agent places the bays with no shift. The other saves its drawing later, the camera unmoved:
    the page's outlines were carried by the new shift (none) after the old one's undoing (-16 px), so every bay it
    wrote lay 16 px off its lines. A shift is measured against one reference: a picture taken on another is no
    longer carried (the drawing is the installer's on the view as it is); the same for a view confirmed since."""
    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY))
    try:
        c, shown, _ = _installer(parts)
        page = {b["id"]: b["polygon"] for b in shown["bays"]}
        other, theirs, _ = _installer(parts)
        assert theirs["picture"] == shown["picture"]  # within 10 s, the view unmoved: the same picture
        r = other.post("/installer", json={"bays": theirs["bays"], "size": [960, 540], "picture": theirs["picture"]},
                       headers={"X-CSRF-Token": theirs["csrf"]})
        assert r.json()["ok"] and r.json()["reload"]["ok"], r.json()
        run_scripted(parts.agent.step, clock, 3, 5)
        assert parts.agent.monitor.offset == (0.0, 0.0) and not parts.agent.camera_moved
        r = c.post("/installer", json={"bays": [{"id": k, "polygon": v} for k, v in page.items()],
                                       "size": [960, 540], "picture": shown["picture"]},
                   headers={"X-CSRF-Token": shown["csrf"]})
        assert r.json()["ok"], r.json()
        saved = {b["id"]: b["polygon"] for b in yaml.safe_load(
            (tmp_path / "data" / "overrides.yaml").read_text(encoding="utf-8"))["bays"]}
        for bay, drawn in (("A", BAY_A), ("B", BAY_B)):
            assert _off(saved[bay], _on_lines(drawn)) < 2.0, f"{bay} saved {_off(saved[bay], _on_lines(drawn)):.1f} px off"
    finally:
        parts.agent.stop()


def test_a_save_from_a_picture_on_a_reference_started_elsewhere_is_refused(tmp_path, clock):
    """The view confirmed as the new reference outside this page process (the agent itself, as a command does):
    nothing relates the page's picture to the new reference, so nothing is written and the page says why."""
    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY))
    try:
        c, shown, html = _installer(parts)
        assert '"stale"' in html  # the page has the words for it
        assert parts.agent.confirm_camera().ok
        r = c.post("/installer", json={"bays": shown["bays"], "size": [960, 540], "picture": shown["picture"]},
                   headers={"X-CSRF-Token": shown["csrf"]})
        assert r.status_code == 409 and r.json()["stale"] and "reload the page" in r.json()["problems"][0]
        assert not (tmp_path / "data" / "overrides.yaml").exists()
        c2, again, _ = _installer(parts)  # a fresh picture on the new reference saves
        assert again["picture"] != shown["picture"]
        r = c2.post("/installer", json={"bays": again["bays"], "size": [960, 540], "picture": again["picture"]},
                    headers={"X-CSRF-Token": again["csrf"]})
        assert r.json()["ok"], r.json()
    finally:
        parts.agent.stop()


@pytest.mark.parametrize("over", ["unmatched", "moved"])
def test_a_save_of_the_outlines_as_shown_over_a_view_they_do_not_fit_is_the_installers_redraw(tmp_path, clock, over):
    """A camera replaced while the agent was stopped (``unmatched``), or knocked 60 px (``moved``): the page says
    "check every bay on this picture; Save makes it the new reference", and the installer, finding the outlines
    right, saved them as shown. The reload changed nothing (the same outlines): the page said "saved" and the bays
    stayed blind. Now that Save takes the current view as their reference, as a redraw does."""
    parts = replaced(tmp_path, clock) if over == "unmatched" else _agent(tmp_path, clock,
                                                                          shifted(render(PARKED), 60, 0))[0]
    try:
        assert parts.agent.camera.placement == over
        assert set(parts.agent.bays_unseen().values()) == {"camera_unmatched" if over == "unmatched" else
                                                           "camera_moved"}
        c, shown, html = _installer(parts)
        assert f'class="flash error camera-{over}"' in html
        r = c.post("/installer", json={"bays": shown["bays"], "size": [960, 540], "picture": shown["picture"]},
                   headers={"X-CSRF-Token": shown["csrf"]})
        assert r.json()["ok"] and r.json()["reload"]["ok"], r.json()
        run_scripted(parts.agent.step, clock, 5, 5)
        assert parts.agent.camera.placement == "ok" and parts.agent.bays_unseen() == {}
        assert not parts.agent.camera_moved
        assert {s.bay_id: s.polygon.tolist() for s in parts.agent.monitor.shapes} == \
            {b["id"]: b["polygon"] for b in shown["bays"]}
    finally:
        parts.agent.stop()


def test_a_save_reads_the_pages_pictures_under_their_lock():
    """Every other use of ``installer_views`` (a page storing its picture and evicting the oldest, a Save rebasing
    them) holds ``installer_views_lock``; the Save's own look-up of its picture did not, and the Save runs on a
    worker thread since it left the event loop, beside the page requests that store pictures."""
    import threading
    from types import SimpleNamespace

    from edge_agent.control import InstallerView
    from edge_agent.web.routes_site import _onto_current_view

    lock = threading.Lock()
    held: list[bool] = []

    class Views(dict):
        def get(self, key, default=None):  # noqa: ANN001, ANN202
            held.append(lock.locked())
            return super().get(key, default)

    ctx = SimpleNamespace(installer_views=Views(p1=InstallerView("p1")), installer_views_lock=lock,
                          control=SimpleNamespace(placement=lambda: (InstallerView("x").warp, "ok", 0)))
    bays = [{"id": "A", "polygon": [[0, 0], [10, 0], [10, 10]]}]
    assert _onto_current_view(ctx, {"picture": "p1"}, bays) == bays
    assert held == [True]
