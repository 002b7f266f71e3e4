"""Fixtures for the occupancy classifier tests: the shipped model and the shared bays-dev set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MODELS, SHARED

BAYS_DEV = SHARED / "datasets" / "bays-dev"


@pytest.fixture(scope="session", params=["occupancy.onnx", "occupancy-site.onnx"])
def classifier(request):  # noqa: ANN001, ANN201 - each real shipped model: the default and the one to calibrate
    from edge_agent.bays.classifier import BayClassifier

    path = MODELS / request.param
    if not path.is_file():
        pytest.fail(f"{path} missing: it is committed with the repo (edge-agent occupancy train makes it)")
    return BayClassifier.load(path)


@pytest.fixture(scope="session")
def bays_dev() -> Path:
    """The shared labelled bays; tests using them skip cleanly when ../shared is absent."""
    if not (BAYS_DEV / "frames.csv").is_file():
        pytest.skip("../shared/datasets/bays-dev is not present (set EDGE_AGENT_SHARED in a worktree)")
    return BAYS_DEV
