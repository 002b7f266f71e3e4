"""A site calibration may make the agent more accurate, never make a lock rise on weaker evidence than the shipped
model gives: the bay's verdict is the calibrated head's, but an empty verdict vouches for a raise only while the
shipped head reads the same crop empty too (at most ``exit_p``). DOWN never waits for it.

The real agent and bay monitor, simulated locks (``tests/locks/test_vision_paths.Rig``); the first test runs the real
calibratable model with a site head that reads every bay p 0.1, the second a classifier of two given heads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.bays.calibration import Head, SiteCalibration
from edge_agent.bays.classifier import SITE_MODEL, BayClassifier
from edge_agent.sim.scenario import BAYS, EMPTY
from edge_agent.sim.synthetic import Car, Scene, render
from tests.bays.test_vision import Frames
from tests.locks.test_vision_paths import Rig, _never_up

PARKED = Scene(cars=(Car(x=250.0, plate=None),))  # a car without a plate in bay A


def _reads_everything(p: float, tmp_path) -> BayClassifier:  # noqa: ANN001
    """The site model with a calibration whose head reads every crop ``p`` (a fit gone wrong on a few frames)."""
    site = BayClassifier.load(SITE_MODEL)
    head = Head((0.0,) * site.n_features, math.log(p / (1 - p)))
    SiteCalibration(head, site.model_sha256, 10, 10, 0.9, 0.95, model=SITE_MODEL.name).save(tmp_path / "cal.json")
    return BayClassifier.load(SITE_MODEL, calibration=tmp_path / "cal.json")


def test_a_car_the_calibration_reads_empty_raises_no_arm_while_the_shipped_head_sees_it(tmp_path, clock):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), _reads_everything(0.1, tmp_path), out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(PARKED)
        rig.run(60, lambda: _never_up(manager, "UP driven under a car only the calibration reads empty"))
        v = agent.monitor.verdicts()["A"]
        assert v.occupied is False and v.p_occupied == pytest.approx(0.1, abs=1e-3)  # the verdict is the site head's
        assert v.p_shipped is not None and v.p_shipped > 0.9  # the shipped head of the same run sees the car
        assert agent.bus.states()["A"].state == "free"  # events and the page keep the calibrated verdict
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_unsure", res
        assert "by the shipped model" in res.message, res
        assert manager.state("A") == "down"
        # the car leaves: both heads read the bay empty, and the arm rises as before (auto_raise_delay_s 20 s)
        rig.src.next = render(EMPTY)
        rig.run(40)
        assert agent.monitor.verdicts()["A"].p_shipped < 0.3
        assert manager.state("A") == "up"
    finally:
        agent.stop()


class _Reads:
    """An onnxruntime-like session of a model that reads every crop ``p`` and counts the crops it was given."""

    class _Arg:
        def __init__(self, name: str, shape: list) -> None:
            self.name, self.shape = name, shape

    def __init__(self, p: float) -> None:
        self.p, self.crops = p, 0

    def get_inputs(self):  # noqa: ANN201
        return [self._Arg("x", ["N", 3, 64, 64])]

    def get_outputs(self):  # noqa: ANN201
        return [self._Arg("p", ["N"])]

    def run(self, outputs, feeds):  # noqa: ANN001, ANN201
        n = len(feeds["x"])
        self.crops += n
        return [np.full(n, self.p, np.float32)]


@pytest.mark.parametrize(("baseline", "rises"), [(0.95, False), (0.5, False), (0.1, True)])
def test_a_raise_on_a_calibrated_site_needs_the_model_an_uncalibrated_site_runs_to_read_the_bay_empty_too(
        tmp_path, clock, baseline, rises):  # noqa: ANN001
    """The "both heads" a raise needed were the calibrated model's own: its shipped head reads more parked cars
    surely empty than ``occupancy.onnx``, the model an uncalibrated site runs (NORPark, 5 labelled frames: a raise's
    evidence read 1.07 % of cars p <= 0.3 against 0.82 % uncalibrated; 24 of 30 fits weaker). A calibration may make the agent
    more careful, never less: here the site head and its shipped head read the bay empty (0.1 and 0.04) and
    the baseline model (``BayClassifier.baseline``) sees a car; no arm rises, a remote lock is refused."""
    clf = _reads_everything(0.1, tmp_path)
    clf.baseline, clf.baseline_below = BayClassifier(_Reads(baseline)), 0.8
    rig = Rig(tmp_path, clock, Frames(clock), clf, out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(EMPTY)
        rig.run(40, None if rises else lambda: _never_up(manager, "UP driven on a bay the baseline model reads taken"))
        v = agent.monitor.verdicts()["A"]
        assert v.occupied is False and v.p_occupied == pytest.approx(0.1, abs=1e-3)  # the verdict is the site head's
        assert v.p_shipped == pytest.approx(max(baseline, 0.038), abs=0.01)  # the higher of the shipped readings
        assert agent.bus.states()["A"].state == "free"
        assert manager.state("A") == ("up" if rises else "down")
        if not rises:
            res = agent.lock("A", "close the bay", "ops")
            assert not res.ok and res.data["code"] == "occupancy_unsure", res
    finally:
        agent.stop()


def test_the_baseline_model_reads_only_the_bays_the_shipped_head_does_not_surely_see_a_car_in(tmp_path):  # noqa: ANN001
    """Its cost: one more run over the bays the calibrated model's shipped head reads below ``baseline_below`` (empty
    bays, and doubt); a bay it surely sees a car in is a car to the baseline's higher reading too."""
    clf = _reads_everything(0.1, tmp_path)
    session = _Reads(0.6)
    clf.baseline, clf.baseline_below = BayClassifier(session), 0.8
    frame = render(PARKED)  # a car in bay A (the shipped head reads it 0.97), bay B empty (0.05)
    polygons = {"A": BAYS["A"], "B": BAYS["B"], "A2": BAYS["A"]}
    clf.shipped_bays = frozenset({"A2"})  # a bay redrawn since the fit: read as an uncalibrated site reads it
    p = clf.classify(frame, polygons)
    assert session.crops == 2  # bay B for the raise, bay A2 for its verdict (probe calib41)
    assert clf.shipped["A"] > 0.9 and clf.shipped["B"] == pytest.approx(0.6)
    assert p["A"] == pytest.approx(0.1, abs=1e-3) and p["B"] == pytest.approx(0.1, abs=1e-3)
    assert p["A2"] == pytest.approx(0.6)  # the baseline model's p, occupancy.onnx where it is that one
    assert clf.shipped["A2"] == pytest.approx(clf.shipped["A"])  # the raise: the higher of the two


class _TwoHeads:
    """A calibrated classifier: bay A's site head reads ``p``, the shipped head ``shipped`` (the other bays 0.05)."""

    def __init__(self, p: float, shipped: float) -> None:
        self.p, self.p_shipped = p, shipped
        self.shipped: dict[str, float] = {}

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        self.shipped = {b: self.p_shipped if b == "A" else 0.05 for b in polygons}
        return {b: self.p if b == "A" else 0.05 for b in polygons}


@pytest.mark.parametrize(("shipped", "rises"), [(0.6, False), (0.31, False), (float("nan"), False), (0.1, True),
                                                (0.3, True)])
def test_a_raise_needs_both_heads_at_or_below_exit_p(tmp_path, clock, shipped, rises):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), _TwoHeads(0.1, shipped), out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(EMPTY)
        rig.run(40, None if rises else lambda: _never_up(manager, f"UP driven with the shipped head at {shipped}"))
        assert agent.bus.states()["A"].state == "free"
        assert manager.state("A") == ("up" if rises else "down")
        if not rises:
            res = agent.lock("A", "close the bay", "ops")
            assert not res.ok and res.data["code"] == "occupancy_unsure", res
    finally:
        agent.stop()


class _ShippedFlickers(_TwoHeads):
    """Bay A: the site head reads 0.1 always; the shipped head sees the car (0.9) but reads one classification in
    ``every`` at 0.25 — a glint, a headlight's reflection, a frame the car's roof washes out."""

    def __init__(self, every: int, calibrated: bool = True) -> None:
        super().__init__(0.1, 0.9)
        self.every, self.calibrated, self.n = every, calibrated, 0

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        self.n += 1
        shipped = 0.25 if self.n % self.every == 0 else 0.9
        self.shipped = {b: shipped if b == "A" else 0.05 for b in polygons} if self.calibrated else {}
        if not self.calibrated:  # the shipped model alone: its p is the verdict's
            return {b: shipped if b == "A" else 0.05 for b in polygons}
        return {b: 0.1 if b == "A" else 0.05 for b in polygons}


@pytest.mark.parametrize("calibrated", [False, True])
def test_one_stray_empty_reading_of_the_shipped_head_raises_no_arm(tmp_path, clock, calibrated):  # noqa: ANN001
    """Uncalibrated, one reading of 0.25 among the shipped head's 0.9s turns no verdict (``confirm_frames`` in a
    row): the arm stays down. Calibrated, the shipped head's word must be as strong: until review72 the one stray
    reading alone vouched beside the site head's "empty", and the policy raised the arm over the parked car."""
    rig = Rig(tmp_path, clock, Frames(clock), _ShippedFlickers(5, calibrated), out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(EMPTY)
        rig.run(60, lambda: _never_up(manager, "UP driven on one stray reading of the shipped head"))
        assert manager.state("A") == "down"
        clf = agent.monitor.classifier
        while clf.n % clf.every:  # up to the stray reading: a remote lock (MQTT, the page) right after it
            rig.run(1 / 5)
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] in ("occupancy_unsure", "bay_occupied"), res
        rig.run(5, lambda: _never_up(manager, "UP driven on one stray reading of the shipped head"))
    finally:
        agent.stop()


def test_a_calibration_set_aside_leaves_no_verdict_of_its_head_for_one_stray_reading_to_vouch_for(tmp_path, clock):  # noqa: ANN001
    """A calibration set aside while the agent runs (a reload after a model update, or one that redraws most of its
    bays: ``runtime.models.default_classifier``; or taken out of the config) hands each kept bay's hysteresis to the
    shipped head (``BayMonitor.adopt``). The site head had read a parked car empty (0.1) while the shipped head
    held it "occupied" (0.9) and no arm rose. Once set aside, the kept verdict was still the site head's "empty",
    backed by its readings: one stray 0.25 of the shipped head made it confident, and a lock rose over the car
    (review72's fault, through the reload). The shipped head's own verdict is what an uncalibrated agent holds: it
    becomes the bay's."""
    rig = Rig(tmp_path, clock, Frames(clock), _ShippedFlickers(5, calibrated=True), out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(EMPTY)
        rig.run(60, lambda: _never_up(manager, "UP driven on one stray reading of the shipped head"))
        clf = agent.monitor.classifier
        clf.calibrated = False  # set aside: the shipped head's p is the verdict's now
        rig.run(1 / 5)
        while clf.n % clf.every:  # up to the stray reading: a remote lock (MQTT, the page) right after it
            rig.run(1 / 5)
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] in ("occupancy_unsure", "bay_occupied"), res
        rig.run(30, lambda: _never_up(manager, "UP driven on the set-aside head's verdict"))
        assert agent.monitor.verdicts()["A"].occupied is True  # the shipped head's verdict: a car
    finally:
        agent.stop()


def test_a_bay_the_calibration_was_not_fitted_on_costs_the_baseline_one_read_per_frame(tmp_path):  # noqa: ANN001
    """A bay not fitted on (``shipped_bays``) is read by the baseline model for its verdict (probe calib41); where
    the shipped head also reads it below ``baseline_below`` the raise's reading needed the baseline's p of the same
    crop, and it was run a second time: 10 unfitted bays of 46 on PKLot, 10 crops more per frame. One run serves
    both; the readings stay as they were."""
    clf = _reads_everything(0.1, tmp_path)
    session = _Reads(0.6)
    clf.baseline, clf.baseline_below = BayClassifier(session), 0.8
    polygons = {"A": BAYS["A"], "B": BAYS["B"], "B2": BAYS["B"]}
    clf.shipped_bays = frozenset({"B2"})  # bay B redrawn as B2: the shipped head reads it empty (0.05)
    p = clf.classify(render(PARKED), polygons)
    assert session.crops == 2  # bay B for the raise, bay B2 for its verdict and its raise at once
    assert p["B2"] == pytest.approx(0.6) and clf.shipped["B2"] == pytest.approx(0.6)
    assert clf.shipped["B"] == pytest.approx(0.6) and p["B"] == pytest.approx(0.1, abs=1e-3)
