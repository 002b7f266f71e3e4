"""Fixtures for the bays tests: one real perception pipeline shared by the scenario tests."""

from __future__ import annotations

import pytest

from edge_agent.perception.lists import PlateLists


@pytest.fixture(scope="session")
def pipeline(models_dir):  # noqa: ANN001, ANN201 - the real detector + recogniser
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline

    return Pipeline.from_config(PerceptionConfig(threads=1), models_dir, PlateLists())
