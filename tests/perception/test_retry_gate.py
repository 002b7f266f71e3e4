"""The incomplete-read retry runs once per change in what the camera sees of a plate, not on every read.

A far NEV plate (the demo scene shrunk to 0.3: ~50 px) reads ``?BD12345`` on every frame and its retry (a
re-detection and widened crops, ``retry.Completer``) completes nothing. Before: every read of the bay's fast pace
ran it (issue 14's CPU budget broken: 6.6 % → 41 % of a core). Real detector and recogniser; a FakeClock."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.clock import FakeClock
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.retry_gate import AGAIN_S, RetryGate
from edge_agent.sim.scenario import NEV, Scene
from edge_agent.sim.synthetic import render

PERIOD = 0.2  # the fast read pace: every frame at 5 fps


@pytest.fixture(scope="module")
def far_nev() -> np.ndarray:
    frame = render(Scene(cars=(NEV,)))
    h, w = frame.shape[:2]
    small = cv2.resize(frame, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _counted(pipeline: Pipeline, gate: RetryGate | None) -> tuple[Pipeline, list[int]]:
    """A pipeline on the session's models whose retries are counted."""
    pipe = Pipeline(pipeline.detector, pipeline.recognizer, pipeline.cfg, pipeline.lists, gate)
    calls = [0]
    complete = pipe.completer.complete

    def counting(*args):
        calls[0] += 1
        return complete(*args)

    pipe.completer.complete = counting  # type: ignore[method-assign]
    return pipe, calls


def test_a_partial_read_the_retry_cannot_complete_is_retried_once_per_view_and_interval(pipeline, far_nev):
    clock = FakeClock()
    pipe, calls = _counted(pipeline, RetryGate(clock.monotonic))
    texts = []
    for _ in range(20):  # 4 s of reads at the fast pace
        texts.append([(r.text, r.complete) for r in pipe.process(far_nev)])
        clock.advance(PERIOD)
    assert texts == [[("?BD12345", False)]] * 20  # what the agent is told is unchanged: the same partial read
    assert calls[0] == 1
    clock.advance(AGAIN_S)  # long enough for the light or a passer-by to have changed the view
    pipe.process(far_nev)
    assert calls[0] == 2
    moved = np.roll(far_nev, 60, axis=1)  # the plate somewhere else: another view of it (the car moved, a new car)
    assert [r.text for r in pipe.process(moved)] == ["?BD12345"]
    assert calls[0] == 3
    pipe.process(moved)
    assert calls[0] == 3


def test_without_a_gate_every_partial_read_is_retried(pipeline, far_nev):
    """Photos (``recognize``, ``eval``): each is new, its retry always runs."""
    pipe, calls = _counted(pipeline, None)
    for _ in range(3):
        assert [r.text for r in pipe.process(far_nev)] == ["?BD12345"]
    assert calls[0] == 3


def test_the_gate_holds_back_only_the_same_text_at_the_same_place():
    clock = FakeClock()
    gate = RetryGate(clock.monotonic)
    box = (100.0, 100.0, 150.0, 115.0)
    assert gate.due(box, "?BD12345")
    gate.failed(box, "?BD12345")
    assert not gate.due((101.0, 100.0, 151.0, 116.0), "?BD12345")  # jitter: the same view
    assert gate.due(box, "?BD1234?")  # another partial text: what the camera sees changed
    assert gate.due((130.0, 100.0, 180.0, 115.0), "?BD12345")  # moved by more than half its width
    clock.advance(AGAIN_S - 0.1)
    assert not gate.due(box, "?BD12345")
    clock.advance(0.1)
    assert gate.due(box, "?BD12345")
    assert gate.skipped == 2
