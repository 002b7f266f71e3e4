"""``edge-agent check-config FILE``."""

from __future__ import annotations

import argparse

from edge_agent.config.load import load_config
from edge_agent.masking import mask_url_credentials


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate a config file (exit 2 with every problem listed)")
    p.add_argument("file")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    cfg = load_config(args.file)  # a ConfigError is reported by the cli (exit 2)
    locks = len(cfg.locks)
    print(
        f"{args.file}: ok — site {cfg.site.site_id}, device {cfg.site.device_id}, "
        f"{len(cfg.bays)} bay(s), {locks} lock(s), camera {mask_url_credentials(cfg.camera.source)}, "
        f"MQTT {'on' if cfg.mqtt.enabled else 'off'}, web {'on' if cfg.web.enabled else 'off'}"
    )
    if cfg.overrides_path is not None:
        print(f"  overrides applied from {cfg.overrides_path} (installer page, set-lists): {_overrides_line(args.file)}")
    return 0


def _overrides_line(path: str) -> str:
    from pathlib import Path

    from edge_agent.config.overrides import describe, overrides_path, read_overrides
    from edge_agent.config.yamlfile import read_yaml

    base, _text = read_yaml(Path(path))
    found = read_overrides(overrides_path(base))
    return describe(base, found[0]) if found else "nothing"
