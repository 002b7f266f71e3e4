"""``edge-agent check-config FILE``.

Here, after the packages it reads with, not in ``config``: the site calibration a config names is read as ``run``
reads it (``bays.calibration``), which ``config`` may not import."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from edge_agent.config.errors import ConfigError
from edge_agent.masking import mask_url_credentials
from edge_agent.ops.logging_setup import load_config_in_site_zone

if TYPE_CHECKING:  # the models when a config is checked, not in every command's parser
    from edge_agent.config.models import AgentConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate a config file (exit 2 with every problem listed)")
    p.add_argument("file", nargs="?", help="the YAML config file (its overrides.yaml is read too)")
    # every other command takes the config as --config / -c, and an operator types it here too: it was
    # "edge-agent: error: unrecognized arguments: --config", the top level's usage, no word of check-config's
    # (probe newuser36)
    p.add_argument("--config", "-c", dest="config_option", metavar="FILE", help="the same, as the other commands take it")

    def check(args: argparse.Namespace) -> int:
        if (args.file is None) == (args.config_option is None):
            p.error("name the config file once: check-config FILE (or --config FILE)")
        args.file = args.file or args.config_option
        return _check(args)

    p.set_defaults(func=check)


def _check(args: argparse.Namespace) -> int:
    from edge_agent.config.camera import RELATIVE_HINT, missing_path

    cfg = load_config_in_site_zone(args.file)  # a ConfigError is reported by the cli (exit 2)
    check_calibration(cfg)
    locks = len(cfg.locks)
    print(
        f"{args.file}: ok — site {cfg.site.site_id}, device {cfg.site.device_id}, "
        f"{len(cfg.bays)} bay(s), {locks} lock(s), camera {mask_url_credentials(cfg.camera.source)}, "
        f"MQTT {'on' if cfg.mqtt.enabled else 'off'}, web {'on' if cfg.web.enabled else 'off'}"
    )
    if cfg.overrides_path is not None:
        print(f"  overrides applied from {cfg.overrides_path} (installer page, set-lists): {overrides_line(args.file)}")
    unbound = cfg.mqtt.unbound_requirements() if cfg.mqtt.enabled else None
    if unbound:  # it runs (exit 0), but not as the operator meant: doctor's ``commands`` row warns too
        print(f"  warning: {unbound}")
    missing = missing_path(cfg.camera.source)
    if missing:
        # not a refusal: without a real lock a recording still to come is allowed (a real lock's is refused); but
        # from 0.15.0 a relative source is read beside the config, and one that worked from /var/lib/edge-agent
        # passed here (exit 0) while run then saw no frame (camera_lost)
        print(f"  note: camera.source: {missing}: run will see no frame ({RELATIVE_HINT})")
    return 0


def check_calibration(cfg: AgentConfig) -> None:
    """``occupancy.calibration`` read and checked as ``run`` loads it, else ``ConfigError`` naming the key (exit 2).

    Why: ``check-config`` said ok for ``calibration: /dev/zero``, a missing, oversized or broken file, or one made
    for another model, and ``run`` then refused the config, exit 2 — after ``install.sh`` had restarted the agent
    on the strength of that ok. The file is read by the same bounded reader (``read_document``: no device, FIFO,
    or file over 1 MiB is read); against the model when its file is here (``doctor`` names a missing model)."""
    if not cfg.occupancy.calibration:
        return
    from edge_agent.bays.calibration import CalibrationError, SiteCalibration
    from edge_agent.perception.sessions import ModelLoadError
    from edge_agent.runtime.models import classifier_files, default_classifier

    model, cal = classifier_files(cfg)
    where = str(cfg.source_path or "<config>")
    try:
        if cal is not None:
            SiteCalibration.load(cal, None, None)
        if model.is_file():
            default_classifier(cfg)  # ConfigError naming occupancy.calibration (another model) or occupancy.model
    except CalibrationError as exc:
        raise ConfigError(where, [f"occupancy.calibration: {exc}"]) from None
    except ModelLoadError as exc:
        raise ConfigError(where, [f"occupancy.model: {exc}"]) from None


def overrides_line(path: str) -> str:
    """What the overrides beside the config at ``path`` change (``check-config``, and ``run`` at its start)."""
    from pathlib import Path

    from edge_agent.config.overrides import describe, overrides_path, read_overrides
    from edge_agent.config.yamlfile import read_yaml

    base, _text = read_yaml(Path(path))
    found = read_overrides(overrides_path(base))
    return describe(base, found[0]) if found else "nothing"
