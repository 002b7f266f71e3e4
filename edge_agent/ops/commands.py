"""``edge-agent doctor --config FILE``: the pass/warn/fail/skip table (exit 1 on any failure, 0 with warnings only, 2 on a bad config)."""

from __future__ import annotations

import argparse
import json
import sys

from edge_agent.ops.logging_setup import load_config_in_site_zone


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check camera, models, broker, web page, GPIO, disk, service sandbox and clock on this device")
    p.add_argument("--config", "-c", required=True, help="the agent's YAML config")
    p.add_argument("--json", action="store_true", help="one JSON object per check instead of a table")
    skip = p.add_argument("--skip", action="append", default=[], metavar="CHECK",
                          help="leave out a check (%(checks)s); repeatable")
    skip.checks = _CheckNames()  # type: ignore[attr-defined]  # what argparse fills %(checks)s from
    p.set_defaults(func=_doctor)


class _CheckNames:
    """The doctor's checks by name, read from ``doctor.CHECKS`` when the help is shown (importing it at every
    command's start costs a second: OpenCV). Why: the list written by hand here left out ``web`` and ``service
    sandbox`` when those checks came."""

    def __str__(self) -> str:
        from edge_agent.ops.doctor import CHECKS

        return ", ".join(CHECKS)


def _doctor(args: argparse.Namespace) -> int:
    from edge_agent.ops.doctor import CHECKS, render_table, run_doctor

    cfg = load_config_in_site_zone(args.config)  # its warnings, and doctor's, in the site's zone
    # `--skip service-sandbox` (or _): a name with a space had to be quoted, and the shell's way was refused
    # (probe newuser36)
    skip = {" ".join(s.replace("-", " ").replace("_", " ").split()) for s in args.skip}
    unknown = sorted(skip - set(CHECKS))
    if unknown:
        print(f"doctor: unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    checks = run_doctor(cfg, skip=skip)
    if args.json:
        for c in checks:
            print(json.dumps(c.to_dict(), ensure_ascii=False))
    else:
        print(render_table(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0
