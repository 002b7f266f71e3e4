"""Config errors a person can act on: every problem named by its key path, exit 2."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.bays.crop import bay_crop
from edge_agent.config import ConfigError, load_config, parse_config
from edge_agent.sim.synthetic import BAY_A

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]},
             {"id": "B", "polygon": [[320, 10], [630, 10], [630, 470], [320, 470]]}],
}


def problems(**changes) -> list[str]:  # noqa: ANN003
    data = {**GOOD, **changes}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return exc.value.problems


def test_good_config_parses():
    cfg = parse_config(GOOD)
    assert [b.id for b in cfg.bays] == ["A", "B"] and cfg.timers.fuel_grace_s == 120


def test_camera_turn_defaults_upright_and_takes_every_setting():
    assert (parse_config(GOOD).camera.rotate, parse_config(GOOD).camera.flip) == (0, "none")
    for rotate in (0, 90, 180, 270):
        for flip in ("none", "horizontal", "vertical"):
            cam = parse_config({**GOOD, "camera": {**GOOD["camera"], "rotate": rotate, "flip": flip}}).camera
            assert (cam.rotate, cam.flip) == (rotate, flip)
    assert problems(camera={**GOOD["camera"], "rotate": 45, "flip": "Horizontal"}) == [
        "camera.rotate: Input should be 0, 90, 180 or 270",
        "camera.flip: Input should be 'none', 'horizontal' or 'vertical': did you mean 'horizontal'?"]


def test_polygon_with_two_points():
    bays = [GOOD["bays"][0], {"id": "B", "polygon": [[1, 1], [5, 5]]}]
    assert problems(bays=bays) == ["bays[1].polygon: needs at least 3 points"]


def test_polygon_outside_the_frame():
    bays = [GOOD["bays"][0], {"id": "B", "polygon": [[320, 10], [700, 10], [630, 470]]}]
    assert problems(bays=bays) == ["bays[1].polygon: point (700, 10) is outside the 640x480 camera frame"]


def test_polygon_in_a_line_and_negative():
    bays = [{"id": "A", "polygon": [[0, 0], [5, 5], [10, 10]]}, {"id": "B", "polygon": [[-1, 0], [5, 5], [0, 9]]}]
    assert problems(bays=bays) == ["bays[0].polygon: points are in a line (the polygon encloses under 1 square pixel)",
                                   "bays[1].polygon: points must have non-negative pixel coordinates"]


def test_polygon_whose_sides_cross():
    """Corners clicked out of order (a bow tie): the crop sorts corners itself and took a rectangle, while the
    change gate and the plate assignment used the outline as given, two triangles of the bay. Symmetric, the
    bow tie's signed area is 0 and it was called "in a line"; lopsided, it was accepted."""
    bays = [{"id": "A", "polygon": [[100, 100], [300, 100], [100, 250], [300, 220]]},
            {"id": "B", "polygon": [[0, 0], [10, 0], [0, 10], [10, 10]]},
            {"id": "C", "polygon": [[0, 300], [100, 300], [100, 400], [0, 400], [150, 350]]},
            GOOD["bays"][1]]
    assert problems(bays=bays) == [
        "bays[0].polygon: the side from point 1 to point 2 crosses the one from point 3 to point 0: list the points "
        "in order around the bay",
        "bays[1].polygon: the side from point 1 to point 2 crosses the one from point 3 to point 0: list the points "
        "in order around the bay",
        "bays[2].polygon: the side from point 1 to point 2 crosses the one from point 3 to point 4: list the points "
        "in order around the bay"]
    # in order, with a click along a side and a notch, they are fine
    fine = [{"id": "A", "polygon": [[100, 100], [300, 100], [300, 220], [100, 250]]},
            {"id": "C", "polygon": [[0, 300], [50, 300], [100, 300], [100, 400], [50, 360], [0, 400]]}]
    assert [b.id for b in parse_config({**GOOD, "bays": fine}).bays] == ["A", "C"]


def test_polygon_with_too_many_points():
    """A traced outline of thousands of points passed and took seconds to reload; a bay is its corners."""
    ring = [[200 + 100 * math.cos(2 * math.pi * k / 65), 200 + 100 * math.sin(2 * math.pi * k / 65)] for k in range(65)]
    assert problems(bays=[{"id": "A", "polygon": ring}]) == [
        "bays[0].polygon: List should have at most 64 items after validation, not 65"]
    assert len(parse_config({**GOOD, "bays": [{"id": "A", "polygon": ring[:-1]}]}).bays[0].polygon) == 64


def test_polygon_the_crop_cannot_use():
    """A corner drawn twice (a zero-length side) encloses area, but the crop has no quad to warp: refused here,
    by the crop's own rule, instead of a crash on the first frame of ``run``."""
    bays = [{"id": "A", "polygon": [[100, 100], [200, 100], [200, 100], [100, 150]]}, GOOD["bays"][1]]
    (problem,) = problems(bays=bays)
    assert problem.startswith("bays[0].polygon: bay polygon is degenerate (two corners within 1 px")


def test_a_polygon_with_a_corner_bent_inward():
    """A bay is a rectangle on the ground and a camera's view of it is convex: a corner clicked inside the
    bay (past the line between its neighbours) is a slip. Accepted until 2026-12-06, and the crop's
    perspective warp folded the picture over: on a rendered frame whose bay is painted white and the rest
    black, the crop was all black, ground from outside the outline. On bays-dev's 1,200 PKLot bays, each with one
    corner moved 1.1 of the way to the diagonal, 19 parked cars read surely empty (none as drawn)."""
    bay = np.array(BAY_A)  # the rendered scene's bay A
    mid = (bay[0] + bay[2]) / 2
    bent = bay.copy()
    bent[3] = bay[3] + 1.1 * (mid - bay[3])  # corner 3 just past the diagonal from corner 0 to corner 2
    sloppy = bay.copy()
    sloppy[3] = bay[3] + 0.8 * (mid - bay[3])  # badly drawn but convex: the installer's to fix, not refused
    bays = [{"id": "A", "polygon": bent.tolist()}, {"id": "B", "polygon": sloppy.tolist()}]
    (problem,) = problems(bays=bays, camera={**GOOD["camera"], "width": 960, "height": 540})
    assert problem.startswith("bays[0].polygon: bay polygon is concave at its corner (288.5, 348.5): a bay seen by "
                              "a camera is a convex quadrilateral"), problem
    # why: the crop of the bent outline is folded ground, much of it from outside the outline
    for poly, outside in ((sloppy, 0.0), (bent, 0.9)):
        frame = np.zeros((540, 960, 3), np.uint8)
        cv2.fillPoly(frame, [poly.round().astype(np.int32)], (255, 255, 255))
        share = float((bay_crop(frame, [tuple(p) for p in poly])[2:-2, 2:-2] < 128).mean())
        assert (share > outside) if outside else share < 0.02, (poly.tolist(), share)


def test_duplicate_bay_ids():
    bays = [GOOD["bays"][0], {**GOOD["bays"][1], "id": "A"}]
    assert problems(bays=bays) == ["bays[1].id: duplicate bay id 'A' (also bays[0])"]


def test_unknown_key_and_negative_timer_together():
    out = problems(timers={"fuel_grace_s": -1}, colour="red")
    assert "colour: unknown key (not a setting of this section; check the spelling)" in out
    assert "timers.fuel_grace_s: Input should be greater than or equal to 0" in out


def test_camera_size_half_given():
    assert problems(camera={"source": "0", "width": 640}) == [
        "camera: width and height go together (give both or neither)"]


def test_unknown_lock_id():
    bays = [{**GOOD["bays"][0], "lock_id": "L9"}, GOOD["bays"][1]]
    assert problems(bays=bays) == ["bays[0].lock_id: unknown lock 'L9' (locks: none configured)"]


@pytest.mark.parametrize("locks, bays, expected", [
    ([{"id": "L1"}], None, "locks[0].bay: lock 'L1' is not assigned to a bay (set locks[].bay or the bay's lock_id)"),
    ([{"id": "L1", "bay": "B"}], [{"lock_id": "L1"}, {}], "locks[0].bay: 'B', but bay 'A' names this lock in its lock_id"),
    ([{"id": "L1", "bay": "A"}, {"id": "L2", "bay": "A"}], None, "locks[1].bay: bay 'A' already has lock 'L1'"),
])
def test_locks_must_each_guard_one_bay(locks, bays, expected):
    data_bays = [{**b, **(extra or {})} for b, extra in zip(GOOD["bays"], bays or [{}, {}])]
    assert problems(locks=locks, bays=data_bays) == [expected]


def test_occupancy_hysteresis_must_be_ordered():
    out = problems(occupancy={"enter_p": 0.5, "exit_p": 0.6, "read_fast_s": 10, "read_medium_s": 5})
    assert out == ["occupancy.exit_p: must be below enter_p (0.5): hysteresis",
                   "occupancy.read_medium_s: must be ≥ read_fast_s (10)"]


@pytest.mark.parametrize(("occupancy", "expected"), [
    ({"enter_p": 0.2}, "occupancy.exit_p: must be below enter_p (0.2): hysteresis"),  # against the default exit_p 0.3
    ({"exit_p": 0.8}, "occupancy.exit_p: must be below enter_p (0.7): hysteresis"),
    ({"read_fast_s": 100}, "occupancy.read_medium_s: must be ≥ read_fast_s (100)"),  # the default read_medium_s 60
    ({"read_medium_s": 1}, "occupancy.read_medium_s: must be ≥ read_fast_s (8)"),
])
def test_rules_between_two_keys_hold_when_only_one_is_written(occupancy, expected):
    assert problems(occupancy=occupancy) == [expected]


@pytest.mark.parametrize("key, value", [("enter_p", float("nan")), ("exit_p", float("inf")), ("enter_p", 1.5),
                                        ("classify_every_s", 5), ("confirm_frames", 0)])
def test_occupancy_numbers_must_be_finite_and_in_range(key, value):
    out = problems(occupancy={key: value})
    assert len(out) == 1 and out[0].startswith(f"occupancy.{key}: ")


def test_old_change_fraction_keys_are_accepted_with_a_warning(caplog):
    cfg = parse_config({**GOOD, "occupancy": {"enter_fraction": 0.3, "exit_fraction": 0.1, "probe_s": 4}})
    assert cfg.occupancy.probe_s == 4
    assert "enter_fraction, exit_fraction no longer used" in caplog.text


def test_site_timezone_must_be_a_known_zone():
    assert problems(site={"site_id": "s", "device_id": "d", "timezone": "Mars/Olympus"}) == \
        ["site.timezone: unknown time zone 'Mars/Olympus' (an IANA name such as Asia/Shanghai)"]


def test_a_host_without_a_time_zone_database_is_named_not_the_zone():
    import importlib.util
    import zoneinfo

    if importlib.util.find_spec("tzdata") is not None:
        pytest.skip("the tzdata package supplies zones whatever the host has")
    zoneinfo.reset_tzpath(to=[])  # a slim container without /usr/share/zoneinfo
    zoneinfo.ZoneInfo.clear_cache()
    try:
        out = problems(site={"site_id": "s", "device_id": "d", "timezone": "Asia/Shanghai"})
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
    # was: "unknown time zone 'Asia/Shanghai' (an IANA name such as Asia/Shanghai)"
    assert out == ["site.timezone: cannot check time zone 'Asia/Shanghai': this host has no time zone database "
                   "(install the tzdata package)"]


def run_check(path) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)


def check_in_process(path: Path, capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess[str]:
    """``check-config`` through ``cli.main`` in this process: a subprocess costs about a second of imports each;
    test_check_config_lists_every_problem runs the real command (``run_check``) end to end."""
    from edge_agent.cli import main

    capsys.readouterr()
    code = main(["check-config", str(path)])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["edge-agent", "check-config", str(path)], code, out, err)


@pytest.mark.parametrize("text, expected", [
    ("site: {site_id: s\n  device_id: [", "(yaml): line "),
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0'}\nbays: []\nbogus: 1\n", "bogus: unknown key"),
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0'}\nbays:\n  - {id: A, polygon: [[0, 0], [1, 1]]}\n",
     "bays[0].polygon: needs at least 3 points"),
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0', width: 100, height: 100}\nbays:\n"
     "  - {id: A, polygon: [[0, 0], [90, 0], [90, 90]]}\n  - {id: A, polygon: [[0, 0], [190, 0], [90, 90]]}\n",
     "bays[1].id: duplicate bay id 'A'"),
    # an allow-list typo would leave that NEV flagged for ever: refused as set-lists and the page refuse it
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0'}\nbays: []\nlists: {allow: [粤B12345, 粤B1234]}\n",
     "lists.allow[1]: '粤B1234' is not a plate"),
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0'}\nbays: []\nlists: {deny: ['<script>']}\n",
     "lists.deny[0]: '<script>' is not a plate"),
    # the camera's turn: a quarter's multiple clockwise (-90 is 270), a mirror by name
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0', rotate: -90}\nbays: []\n",
     "camera.rotate: Input should be 0, 90, 180 or 270"),
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0', rotate: '180'}\nbays: []\n",
     "camera.rotate: Input should be 0, 90, 180 or 270"),
    ("site: {site_id: s, device_id: d}\ncamera: {source: '0', flip: both}\nbays: []\n",
     "camera.flip: Input should be 'none', 'horizontal' or 'vertical'"),
])
def test_check_config_exits_2_naming_the_key(tmp_path, text, expected, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    r = check_in_process(p, capsys)
    assert r.returncode == 2
    assert expected in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(ConfigError):
        load_config(p)


def test_check_config_lists_every_problem(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("site: {site_id: s, device_id: d}\ncamera: {source: '0', width: 100, height: 100}\nbays:\n"
                 "  - {id: A, polygon: [[0, 0], [1, 1]]}\n  - {id: B, polygon: [[0, 0], [190, 0], [90, 90]]}\n"
                 "timers: {arrival_confirm_s: -3}\n", encoding="utf-8")
    r = run_check(p)
    assert r.returncode == 2
    assert "(2 problems)" in r.stderr  # field errors first; cross-section checks run once fields are valid
    assert "bays[0].polygon: needs at least 3 points" in r.stderr
    assert "timers.arrival_confirm_s" in r.stderr


def test_check_config_never_prints_the_cameras_password(tmp_path, capsys):
    """An RTSP source carries the camera's password; check-config's summary reaches terminals and tickets."""
    import yaml

    from edge_agent.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "camera": {**GOOD["camera"],
                                                       "source": "rtsp://admin:S3cretPw@10.0.0.9:554/h264"}}))
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "S3cretPw" not in out and "rtsp://admin:***@10.0.0.9:554/h264" in out
