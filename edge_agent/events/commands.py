"""``edge-agent api asyncapi``: print or write the MQTT API document (docs/asyncapi.yaml)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_agent.cliargs import output_ready
from edge_agent.durable import write_output


def _asyncapi(args: argparse.Namespace) -> int:
    from edge_agent.events.asyncapi import render

    text = render()
    if args.out:
        if not output_ready("api asyncapi", "--out", args.out, Path(args.out).parent):  # as the --json of eval
            return 2
        try:
            write_output(Path(args.out), text)
        except OSError as exc:  # a folder that does not exist was a traceback
            print(f"api asyncapi: cannot write --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        print(text, end="")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="the MQTT API description")
    api_sub = api.add_subparsers(dest="api_command", metavar="WHAT", required=True)
    p = api_sub.add_parser("asyncapi", help="AsyncAPI 3.0 document generated from the topic table and JSON Schemas")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=_asyncapi)
