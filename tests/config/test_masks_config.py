"""``camera.masks``: each a polygon the installer drew on the bays' frame; a readable error naming the mask, and
``check-config`` exits 2 on one. Why so strict: a mask blinds the bays under it (their locks never rise on the
camera's word) and fills in what the bays' eyes see; one that is not where the installer meant covers the wrong
ground."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from edge_agent.config import ConfigError, parse_config
from edge_agent.config.camera import MAX_MASKS
from tests.config.test_finite import GOOD

BOX = [[10, 10], [200, 10], [200, 40], [10, 40]]


def with_masks(masks: object, size: bool = True) -> dict:
    data = copy.deepcopy(GOOD)
    data["camera"]["masks"] = masks
    if not size:
        del data["camera"]["width"], data["camera"]["height"]
    return data


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return exc.value.problems


def test_a_box_is_a_mask() -> None:
    assert parse_config(with_masks([BOX, [[0, 0], [640, 0], [0, 480]]])).camera.masks[0][2] == (200, 40)
    assert parse_config(GOOD).camera.masks == []


@pytest.mark.parametrize(("mask", "said"), [
    ([[10, 10], [200, 10]], "camera.masks[0]: needs at least 3 points (a box is its 4 corners)"),
    ([[10, 10], [700, 10], [10, 40]], "camera.masks[0]: point (700, 10) is outside the 640x480 camera frame"),
    ([[-1, 10], [200, 10], [10, 40]], "camera.masks[0]: points must have non-negative pixel coordinates"),
    ([[10, 10], [200, 40], [200, 10], [10, 40]], "camera.masks[0]: the side from point 0 to point 1 crosses the one "
                                                 "from point 2 to point 3: list the points in order around the "
                                                 "masked area"),
    ([[10, 10], [100, 10], [200, 10]], "camera.masks[0]: points are in a line (the polygon encloses under 1 square "
                                       "pixel)"),
])
def test_a_mask_that_is_no_area_of_the_frame_is_refused_naming_it(mask: list, said: str) -> None:
    assert problems(with_masks([mask])) == [said]


def test_not_finite_nor_beyond_any_frame_nor_too_many() -> None:
    assert problems(with_masks([[[10, 10], [float("nan"), 10], [10, 40]]]))[0].startswith("camera.masks[0][1][0]: ")
    assert problems(with_masks([[[0, 0], [1e308, 0], [0, 1e308]]], size=False)) == [
        "camera.masks[0]: a point is beyond any camera frame (over 16384 px)"]
    assert problems(with_masks([BOX] * (MAX_MASKS + 1)))[0].startswith("camera.masks: ")
    assert problems(with_masks([[[i, 0] for i in range(65)]]))[0].startswith("camera.masks[0]: ")


def test_check_config_exits_2_naming_the_mask(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(with_masks([BOX, [[10, 10], [9000, 10], [10, 40]]])))
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "camera.masks[1]: point (9000, 10) is outside the 640x480 camera frame" in proc.stderr, proc.stderr
