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
