"""onnxruntime's own telemetry stays off: a session made by the agent writes nothing under $HOME.

onnxruntime 1.32's Linux wheel keeps a device id and an event queue for Microsoft in
``$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (the installed service's home is its data dir).
It skips that on a CI machine (``CI``, ``GITHUB_ACTIONS``, …), so the child here runs with only
PATH, PYTHONPATH and a fresh HOME, as the service does."""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import sys
from edge_agent.perception.sessions import SessionFactory
SessionFactory(threads=1).get(sys.argv[1])
print("loaded")
"""


def test_loading_a_model_writes_nothing_to_home(tmp_path, repo):
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH")) if p)}
    res = subprocess.run([sys.executable, "-c", CHILD, str(repo / "models" / "occupancy.onnx")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == "loaded\n", res.stdout + res.stderr
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []
    assert "telemetry" not in res.stderr


def test_an_operator_may_still_turn_it_on(tmp_path, repo):
    """The default only: an ``ORT_DISABLE_TELEMETRY`` the environment sets is left as it is."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "ORT_DISABLE_TELEMETRY": "0",
           "PYTHONPATH": str(repo)}
    res = subprocess.run([sys.executable, "-c", "import os, edge_agent; print(os.environ['ORT_DISABLE_TELEMETRY'])"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.stdout == "0\n", res.stderr
