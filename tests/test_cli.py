"""The ``edge-agent`` command table: every stage's subcommands load, or the CLI fails loudly."""

from __future__ import annotations

import pytest

from edge_agent import cli


def test_every_stage_registers_its_commands():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert {"models", "recognize", "run", "demo", "review", "doctor"} <= set(sub.choices)


def test_a_missing_command_module_is_an_error_not_a_silently_shorter_menu(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "edge_agent.bays.commands"))
    with pytest.raises(ModuleNotFoundError, match="edge_agent.bays.commands"):
        cli.build_parser()


def test_the_version_a_device_reports_is_the_packages(capsys):
    """``--version`` and the MQTT status's ``version`` are ``edge_agent.__version__``; pip and the fleet read
    pyproject.toml's. Two copies that drift tell the fleet an upgrade did not land (or did)."""
    from pathlib import Path

    from edge_agent import __version__

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (the Jetson's 3.10 skips)

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert __version__ in capsys.readouterr().out
