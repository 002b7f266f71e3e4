"""The ``occupancy`` group's actions that need the agent (``eval-visits``: ``runtime/visits.py``; ``label``:
``runtime/label.py``), added to the group ``edge_agent.occupancy.commands`` makes.

Their parsers live here, apart from the work: every ``edge-agent`` command builds every parser, and those two
modules import NumPy, OpenCV and the occupancy dataset at their top (~0.2 s of CPU, ×3–5 on a Pi), so they are
imported only when their command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from edge_agent.occupancy.commands import actions

    osub = actions(sub)
    _register_eval_visits(osub)
    _register_label(osub)


def _register_eval_visits(osub: argparse._SubParsersAction) -> None:
    """``occupancy eval-visits``."""
    p = osub.add_parser("eval-visits", help="score a replay's events against truth visits per bay")
    p.add_argument("truth", type=Path, metavar="TRUTH.csv", help="bay_id,start_s,end_s[,scene] in clip seconds")
    p.add_argument("events", type=Path, metavar="EVENTS.jsonl", help="what edge-agent replay wrote")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="the full report as JSON")
    p.set_defaults(func=_eval_visits)


def _register_label(osub: argparse._SubParsersAction) -> None:
    """``occupancy label``."""
    p = osub.add_parser("label", help="pre-fill a labels file for `occupancy calibrate` from this camera's frames "
                                      "(the classifier's guesses, a sheet per frame to check them)")
    p.add_argument("config", type=Path, metavar="CONFIG", help="the agent's config (bays, camera, model)")
    p.add_argument("images", type=Path, nargs="*", metavar="IMAGE|DIR",
                   help="frames of this camera (default: grab one now from camera.source)")
    p.add_argument("--out", type=Path, required=True, metavar="LABELS.csv",
                   help="labels file, appended to (rows already there are kept)")
    p.set_defaults(func=_label, more=("images", Path))  # frames after --out too (cli._parse)


def _eval_visits(args: argparse.Namespace) -> int:
    from edge_agent.runtime.visits import eval_visits_command

    return eval_visits_command(args)


def _label(args: argparse.Namespace) -> int:
    from edge_agent.runtime.label import label_command

    return label_command(args)
