"""Fixtures every stage's tests share: repo paths, the shared dataset, models, a fake clock."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from edge_agent.bays.lens import LensWatch
from edge_agent.clock import FakeClock
from edge_agent.perception.lists import PlateLists

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
# ../shared beside a checkout; a worktree is one level deeper: EDGE_AGENT_SHARED points at the shared folder there
SHARED = Path(os.environ.get("EDGE_AGENT_SHARED", REPO.parent / "shared"))
PLATES_DEV = SHARED / "datasets" / "plates-dev"


@pytest.fixture(autouse=True)
def _root_logger_as_it_was():
    """A test that sets logging up in-process (``setup_logging``, the cli's ``basicConfig``, an in-process ``run``)
    left its handler on the root logger, writing to that test's captured stderr: a later test's warnings came out
    as "--- Logging error ---" on a closed stream, or in its output (seen with the suite in two workers, whose
    order differs). Handlers a test added are taken off again, pytest's own excepted; the level is put back."""
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler).__module__ != "_pytest.logging":
            root.removeHandler(handler)
            if (writer := getattr(handler, "background", None)) is not None:  # ``run``'s log writer thread ends too
                writer.stop()
    root.setLevel(level)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def models_dir() -> Path:
    from edge_agent.perception.fetch import verify

    bad = verify(MODELS, {"default"})
    if bad:
        pytest.fail(f"model files missing: run `edge-agent models fetch` ({bad[0][0].dest}: {bad[0][1]})")
    return MODELS


@pytest.fixture(scope="session")
def plates_dev() -> Path:
    """The shared labelled photos; tests using them skip cleanly when ../shared is absent."""
    if not (PLATES_DEV / "labels.csv").is_file():
        pytest.skip("../shared/datasets/plates-dev is not present")
    return PLATES_DEV


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def pipeline(models_dir: Path):  # noqa: ANN201 - the real detector + recogniser, loaded once per session
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline

    return Pipeline.from_config(PerceptionConfig(threads=1), models_dir, PlateLists())


@pytest.fixture
def untold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lens check tells no bay (``bays.lens.LensWatch``): for tests of rules the lens check would otherwise
    pre-empt — a drop over part of a bay too small to be told, whose still car still reads surely empty. Without it
    the lens check calls some of the rigs' synthetic bays (``edge_agent.sim.synthetic``: a car's smooth paint beside
    grainy ground, a quarter-size stream scaled back up) "blurred", and the bay vouches for nothing anyway, so such a
    test could not fail: an availability cost of the lens check on such pictures (docs/occupancy.md), not a fault."""
    monkeypatch.setattr(LensWatch, "see", lambda *_a, **_k: set())
