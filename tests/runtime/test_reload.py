"""Reloading a running agent's config (SIGHUP, MQTT ``reload-config``, the installer's Save): what the
reload reads, what it applies and what it says it could not apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


class NoPlates:
    def process(self, frame, region=None):  # noqa: ANN001, ANN201 - PlateReader: no plate in these scenes
        return []


def _data(tmp_path: Path) -> dict[str, Any]:
    return scene_config(str(tmp_path / "data")).model_dump(mode="json")


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _agent(path: Path, clock) -> Agent:  # noqa: ANN001 - FakeClock
    return Agent(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock), reader=NoPlates())


def test_a_reload_reads_the_file_a_symlinked_config_names_now(tmp_path, clock):
    """A deploy that writes config-v2.yaml and repoints the link (``ln -sfn``, Ansible) then reloads: the
    agent had kept the link's old target and re-read config-v1.yaml ("applied", nothing changed)."""
    data = _data(tmp_path)
    _write(tmp_path / "config-v1.yaml", data)
    data["timers"]["overstay_s"] = 600
    _write(tmp_path / "config-v2.yaml", data)
    link = tmp_path / "config.yaml"
    link.symlink_to("config-v1.yaml")
    agent = _agent(link, clock)

    link.unlink()
    link.symlink_to("config-v2.yaml")
    res = agent.reload_config()
    assert res.ok and res.data["changed"] == ["timers"] and agent.cfg.timers.overstay_s == 600
