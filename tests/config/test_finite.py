"""Every number in the config is finite: NaN and ±Infinity are refused with the key named.

The outside probe put ``[[.nan, .nan], …]`` into a bay polygon: ``check-config`` said "ok",
the bay's mask held no pixel, the bay read "free" for ever and a remote ``lock`` raised the
arm under a parked car. These tests pin the hole shut at the config boundary.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from edge_agent.config import ConfigError, parse_config
from edge_agent.config.load import load_config

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
    "locks": [{"id": "L1", "bay": "A", "driver": "simulator"}],
}
NAN, INF = float("nan"), float("inf")


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return exc.value.problems


def with_key(path: str, value: object) -> dict:
    """GOOD with ``a.b[0].c`` set to ``value`` (lists by index, dicts created on the way)."""
    import copy
    import re

    data = copy.deepcopy(GOOD)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    node = data
    for p in parts[:-1]:
        if isinstance(node, dict) and p not in node:
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value
    return data


@pytest.mark.parametrize("key", [
    "timers.overstay_s", "timers.fuel_grace_s", "occupancy.plate_hold_s", "occupancy.assign_margin_px",
    "camera.lost_after_s", "camera.frozen_after_s", "camera.reconnect_max_s", "evidence.max_mb",
    "locks[0].flap_window_s",
])
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_numbers_are_refused_naming_the_key(key: str, value: float) -> None:
    out = problems(with_key(key, value))
    assert any(p.startswith(f"{key}: ") and "finite" in p for p in out), out


@pytest.mark.parametrize("point", [[NAN, NAN], [NAN, 100], [INF, 10], [10, -INF]])
def test_polygon_point_not_finite(point: list[float]) -> None:
    bay = {"id": "A", "polygon": [point, [300, 10], [300, 470]]}
    out = problems({**GOOD, "bays": [bay]})
    assert out and all(p.startswith("bays[0].polygon") for p in out), out
    assert any("finite" in p for p in out), out


def test_all_nan_polygon_without_camera_size_is_refused() -> None:
    """No camera size to check against: NaN must still not pass (the probe's exact config)."""
    data = {**GOOD, "camera": {"source": "0"}, "bays": [{"id": "A", "polygon": [[NAN, NAN]] * 4}]}
    out = problems(data)
    assert out and out[0].startswith("bays[0].polygon"), out


def test_polygon_area_must_be_positive_inside_the_frame() -> None:
    sliver = {"id": "A", "polygon": [[0, 0], [600, 0.001], [0, 0.002]]}
    assert problems({**GOOD, "bays": [sliver]}) == [
        "bays[0].polygon: points are in a line (the polygon encloses under 1 square pixel)"]
    huge = {"id": "A", "polygon": [[0, 0], [1e300, 0], [0, 1e300]]}  # finite, but far outside the frame
    assert problems({**GOOD, "bays": [huge]}) == [
        "bays[0].polygon: bay polygon has a coordinate beyond any camera frame (over 1e+06 px): "
        "[[0.0, 0.0], [1e+300, 0.0], [0.0, 1e+300]]"]
    # past ~1e305 the area overflowed to inf - inf: the fuzz's [[40, 300], [1e308, 300], …] from the installer page
    # was "points are in a line"
    overflow = {"id": "A", "polygon": [[40, 300], [1e308, 300], [470, 530], [20, 530]]}
    assert problems({**GOOD, "bays": [overflow]}) == [
        "bays[0].polygon: bay polygon has a coordinate beyond any camera frame (over 1e+06 px): "
        "[[40.0, 300.0], [1e+308, 300.0], [470.0, 530.0], [20.0, 530.0]]"]
    far = {"id": "A", "polygon": [[0, 0], [9000, 0], [0, 9000]]}  # in range for the crop: the frame check names it
    assert problems({**GOOD, "bays": [far]}) == ["bays[0].polygon: point (9000, 0) is outside the 640x480 camera frame"]


NAN_YAML = textwrap.dedent("""\
    site: {site_id: s1, device_id: d1}
    camera: {source: "0"}
    bays:
      - id: A
        polygon: [[.nan, .nan], [.nan, .nan], [.nan, .nan], [.nan, .nan]]
        lock_id: L1
    locks: [{id: L1, driver: simulator}]
    """)


def test_check_config_refuses_a_nan_polygon(tmp_path) -> None:  # noqa: ANN001
    """The probe, end to end: ``edge-agent check-config`` exits 2 naming the key."""
    path = tmp_path / "nan.yaml"
    path.write_text(NAN_YAML)
    with pytest.raises(ConfigError):
        load_config(path)
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bays[0].polygon" in proc.stderr and "finite" in proc.stderr, proc.stderr
    assert "ok" not in proc.stdout


def test_inf_timer_in_yaml_is_refused(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "inf.yaml"
    path.write_text(NAN_YAML.replace(".nan", "1").replace("locks:", "timers: {overstay_s: .inf}\nlocks:"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(p.startswith("timers.overstay_s: ") and "finite" in p for p in exc.value.problems)


def test_occupancy_max_age_needs_two_frame_periods() -> None:
    data = with_key("camera.fps", 0.5)
    assert problems(data) == ["locks[0].occupancy_max_age_s: 3s is under two frame periods at camera.fps 0.5 "
                              "(needs ≥ 4s)"]
    data["locks"][0]["occupancy_max_age_s"] = 4
    assert parse_config(data).locks[0].occupancy_max_age_s == 4
    assert any(p.startswith("locks[0].occupancy_max_age_s: ") and "finite" in p
               for p in problems(with_key("locks[0].occupancy_max_age_s", NAN)))


def test_occupancy_max_age_spans_the_classification_interval() -> None:
    """A still bay is measured once per ``classify_every_s``: a lock whose limit is shorter saw its
    evidence go stale between measurements (an empty bay, 300 s, never raised; remote ``lock``
    refused ``occupancy_stale`` most of the time), though two frame periods fitted."""
    data = with_key("camera.fps", 5)
    data.setdefault("occupancy", {})["classify_every_s"] = 2
    data["locks"][0]["occupancy_max_age_s"] = 1.5
    assert problems(data) == ["locks[0].occupancy_max_age_s: 1.5s is under occupancy.classify_every_s 2 and one "
                              "frame period at camera.fps 5 (needs ≥ 2.2s)"]
    data["locks"][0]["occupancy_max_age_s"] = 2.2  # a gap of 2 s, and a frame dropped
    assert parse_config(data).locks[0].occupancy_max_age_s == 2.2


def test_the_view_is_checked_at_least_as_often_as_lock_evidence_may_age() -> None:
    """``camera.shift_every_s`` took up to 60 s. A camera knocked between two checks (its zoom slipped) read a parked
    NEV's bay as empty asphalt: the visit ended and the policy raised the arm under the car 23 s after the knock,
    long before the next check would have blinded the bay. Where the camera looks is evidence, and ages like it."""
    data = with_key("camera.shift_every_s", 60)
    assert problems(data) == ["camera.shift_every_s: 60s is over locks[0].occupancy_max_age_s 3s: a camera knocked "
                              "between two checks of where it looks has its bays judged on outlines that no longer "
                              "fit, for longer than a lock trusts any evidence (set it ≤ the shortest "
                              "occupancy_max_age_s)"]
    data["locks"][0]["occupancy_max_age_s"] = 60
    data["camera"]["lost_after_s"] = 60  # a lock trusts no picture longer than the camera is given to send one
    assert parse_config(data).camera.shift_every_s == 60
    data = with_key("camera.shift_every_s", 60)
    data["camera"]["track_shift"] = False  # nothing checked at all: nothing to pace
    assert parse_config(data).camera.shift_every_s == 60
    assert parse_config(with_key("camera.shift_every_s", 3)).camera.shift_every_s == 3
