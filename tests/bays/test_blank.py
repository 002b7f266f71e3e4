"""A bay the camera shows as a uniform or burnt-out patch is no evidence (``bays/blank.py``).

The probe behind it: the shipped classifier reads any uniform crop as empty asphalt, so glare, a leaf on the
lens or an unlit corner over one bay made it "confidently empty" while the whole-frame checks saw nothing wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.bays.blank import CLIPPED_SHARE, FLAT_STD, crop_problem
from edge_agent.bays.classifier import BayClassifier
from edge_agent.bays.crop import bay_crop
from edge_agent.config.bays import OccupancyConfig
from edge_agent.sim.scenario import EMPTY, NEV, Scene
from edge_agent.sim.synthetic import BAYS, render

EXIT_P = OccupancyConfig().exit_p


def noisy(level: int, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + rng.normal(0, sigma, (64, 64, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def classifier() -> BayClassifier:
    return BayClassifier.load()


@pytest.mark.parametrize("level", [0, 30, 128, 220, 255])
def test_a_uniform_crop_is_flat_and_the_classifier_would_have_called_it_empty(level: int, classifier) -> None:  # noqa: ANN001
    crop = noisy(level, 0.8)
    assert crop_problem(crop) == "bay_flat"
    p = classifier.predict([crop])[0]
    assert p <= EXIT_P, "why the rule exists: the shipped model reads a crop with nothing in it as an empty bay"


@pytest.mark.parametrize("value", [0, 255])
def test_a_crop_mostly_burnt_out_or_crushed_is_clipped(value: int) -> None:
    crop = noisy(110, 25)
    crop[:, : int(64 * (CLIPPED_SHARE + 0.1))] = value  # glare or headlights / an unlit corner over part of the bay
    assert crop_problem(crop) == "bay_clipped"
    crop = noisy(110, 25)
    crop[:, : int(64 * (CLIPPED_SHARE - 0.1))] = value  # a white car in sun: a third of the bay at the top of the range
    assert crop_problem(crop) is None


def test_a_low_contrast_view_still_counts() -> None:
    assert crop_problem(noisy(40, FLAT_STD * 1.5)) is None  # dim, but something is there: the classifier judges it
    assert crop_problem(noisy(40, FLAT_STD * 0.5)) == "bay_flat"


def test_rendered_bays_show_something_whether_empty_or_taken(classifier) -> None:  # noqa: ANN001
    for scene in (EMPTY, Scene(cars=(NEV,))):
        frame = render(scene)
        unseen: dict[str, str] = {}
        p = classifier.classify(frame, BAYS, unseen)
        assert unseen == {} and all(np.isfinite(v) for v in p.values())
        assert crop_problem(bay_crop(frame, BAYS["A"])) is None


def test_the_classifier_leaves_a_bay_it_cannot_see_unclassified(classifier) -> None:  # noqa: ANN001
    frame = render(EMPTY).copy()
    frame[200:540, 0:480] = 255  # bay A burnt out by glare; bay B untouched
    unseen: dict[str, str] = {}
    p = classifier.classify(frame, BAYS, unseen)
    assert unseen == {"A": "bay_flat"} and np.isnan(p["A"]) and p["B"] <= EXIT_P
    assert classifier.classify(frame, BAYS)["A"] <= EXIT_P  # without the check (label sheets, eval): what it thinks


def test_pixels_across_is_the_short_side_in_the_cameras_pixels() -> None:
    from edge_agent.bays.blank import MIN_BAY_PX, pixels_across, too_small

    tilted = [(100.0, 100.0), (130.0, 140.0), (90.0, 170.0), (60.0, 130.0)]  # sides 50, 50, 50, 50 (a square)
    assert pixels_across(tilted) == pytest.approx(50.0)
    slim = [(0.0, 0.0), (12.0, 0.0), (12.0, 40.0), (0.0, 40.0)]
    assert pixels_across(slim) == pytest.approx(12.0) and pixels_across(slim, 0.5) == pytest.approx(6.0)
    assert too_small({"S": slim, "T": tilted}, 1.0) == {}
    assert too_small({"S": slim, "T": tilted}, 0.5) == {"S": "bay_too_small"}  # 6 px: under MIN_BAY_PX
    assert too_small({"S": slim, "T": tilted}, MIN_BAY_PX / 50 * 0.99) == {"S": "bay_too_small", "T": "bay_too_small"}
    nan = [(float("nan"), 0.0)] * 4  # no quad at all: nothing across, never "seen"
    assert pixels_across(nan) == 0.0 and too_small({"N": nan}, 1.0) == {"N": "bay_too_small"}
    assert too_small({"S": slim}, float("nan")) == {"S": "bay_too_small"}
