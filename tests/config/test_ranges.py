"""Every number in the config has a range that keeps its check alive and meaningful.

The probe's HIGH find: ``camera.black_level: 0`` / ``flat_level: 0`` switched the black and uniform-frame
checks off, ``frozen_after_s`` / ``lost_after_s`` / ``ops.watchdog.camera_deadline_s`` took ``1e300``
("never"), and the lock interlock then raised the arm over an all-black feed it counted as healthy.
"""

from __future__ import annotations

import typing

import numpy as np
import pytest
from annotated_types import Le, Lt
from pydantic import BaseModel

from edge_agent.camera.health import HealthTracker
from edge_agent.config import ConfigError, parse_config
from edge_agent.config.camera import CameraConfig
from edge_agent.config.models import AgentConfig
from tests.config.walk import models_in

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
    "locks": [{"id": "L1", "bay": "A", "driver": "simulator"}],
}
PINS = {"pin", "trigger", "echo"}  # pin names, checked against the GPIO header (test_pins.py)


def problems(section: str, key: str, value: object) -> list[str]:
    data = {**GOOD, section: {**GOOD.get(section, {}), key: value}} if "." not in key else None
    if data is None:
        outer, inner = key.split(".")
        data = {**GOOD, section: {outer: {inner: value}}}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return exc.value.problems


@pytest.mark.parametrize(("section", "key", "value"), [
    ("camera", "black_level", 0), ("camera", "flat_level", 0),
    ("camera", "frozen_after_s", 1e300), ("camera", "lost_after_s", 1e300),
    ("camera", "reconnect_max_s", 1e300), ("camera", "width", 10**43),
    ("ops", "watchdog.camera_deadline_s", 1e300), ("ops", "watchdog.perception_deadline_s", 1e300),
    ("timers", "arrival_confirm_s", 1e300), ("timers", "departure_confirm_s", 1e300),
    ("timers", "fuel_grace_s", 1e300), ("timers", "unidentified_timeout_s", 1e300), ("timers", "overstay_s", 1e300),
    ("occupancy", "probe_s", 1e300), ("occupancy", "plate_hold_s", 1e308), ("occupancy", "read_fast_s", 1e300),
    ("mqtt", "command_max_age_s", 1e300), ("evidence", "max_age_days", 1e300),
])
def test_values_that_switch_a_check_off_are_refused_naming_the_key(section, key, value):
    out = problems(section, key, value)
    assert any(p.startswith(f"{section}.{key}: Input should be") for p in out), out


@pytest.mark.parametrize("key", ["det_zoom_pass", "det_region_zoom"])
@pytest.mark.parametrize("value", [0.5, 1])
def test_a_zoom_pass_that_is_no_enlargement_is_refused_naming_the_key(key, value):
    """``perception.det_zoom_pass`` / ``det_region_zoom``: 0 is off; a factor in (0, 1] would be a pass smaller
    than the first."""
    assert any(p.startswith(f"perception.{key}: must be 0 (off) or above 1")
               for p in problems("perception", key, value))


@pytest.mark.parametrize("value", [-5, 46, float("nan")])
def test_a_roll_pass_outside_0_to_45_degrees_is_refused_naming_the_key(value):
    """``perception.det_roll_pass``: degrees each way; beyond 45 a plate is more upright turned the other way."""
    assert any(p.startswith("perception.det_roll_pass") for p in problems("perception", "det_roll_pass", value))


def test_the_camera_health_checks_stay_alive_at_the_edges_of_their_ranges(clock):
    """At the lowest allowed levels an all-black and a uniform grey feed are still unhealthy; at the highest,
    an ordinary view (mean ≈ 110, spread ≈ 37, as in the probe's frames) is still healthy."""
    lo = {n: CameraConfig.model_fields[n].metadata for n in ("black_level", "flat_level")}
    floor = {n: next(m.ge for m in meta if hasattr(m, "ge")) for n, meta in lo.items()}
    ceil = {n: next(m.le for m in meta if hasattr(m, "le")) for n, meta in lo.items()}
    for image, reason in ((np.zeros((48, 64, 3), np.uint8), "black"),
                          (np.full((48, 64, 3), 128, np.uint8), "flat"),
                          (np.clip(np.random.default_rng(1).normal(5.5, 2.5, (48, 64, 3)), 0, 255).astype(np.uint8),
                           "black")):  # a lens cap on a noisy sensor
        h = HealthTracker(clock, black_level=floor["black_level"], flat_level=floor["flat_level"])
        h.on_frame(image)
        assert h.health().reason == reason
    view = np.clip(np.random.default_rng(2).normal(110, 37, (48, 64, 3)), 0, 255).astype(np.uint8)
    h = HealthTracker(clock, black_level=ceil["black_level"], flat_level=ceil["flat_level"])
    h.on_frame(view)
    assert h.health().ok


def _unbounded(model: type[BaseModel], prefix: str, seen: set[type]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    out = []
    for name, field in model.model_fields.items():
        nested = models_in(field.annotation)
        if nested:
            out += [k for sub in nested for k in _unbounded(sub, f"{prefix}{name}.", seen)]
            continue
        args = {field.annotation, *typing.get_args(field.annotation)}
        numeric = args & {int, float}
        if numeric and name not in PINS and not any(isinstance(m, (Le, Lt)) for m in field.metadata):
            out.append(prefix + name)
    return out


def test_every_number_in_the_config_has_a_ceiling():
    assert _unbounded(AgentConfig, "", set()) == []
