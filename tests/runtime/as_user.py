"""Tests that run the agent as an unprivileged user from this checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def skip_unless_it_can_import(uid: int, gid: int, repo: Path, who: str) -> None:
    """Skip when ``who`` cannot import the agent from ``repo`` with this interpreter at all: a clone under a 0700
    ``mktemp -d`` folder, or a Python built as a shared library under a private home. That says nothing about the
    agent, and the test would fail on ``No module named edge_agent`` instead."""
    probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", sys.executable,
                            "-c", "import edge_agent.cli"], env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
                           cwd="/", capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"{who} cannot read the checkout {repo} (a parent folder is private): "
                    f"{probe.stderr.strip().splitlines()[-1:]}")
