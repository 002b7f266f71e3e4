"""``edge-agent evidence forget PLATE``: one plate's records out of the data folder (a data subject's request).

In ``ops`` (not ``evidence``): it takes the data folder's agent lock (``ops.instance_lock``) around ``evidence.forget``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from zoneinfo import ZoneInfo


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evidence", help="the stored evidence: forget one plate")
    es = e.add_subparsers(dest="evidence_cmd", metavar="ACTION", required=True)
    f = es.add_parser("forget", help="delete one plate's photos, violations and undelivered messages, and take it "
                                     "out of the events and the audit log (the agent stopped); audited")
    f.add_argument("plate", help="the plate, e.g. 粤BD12345 (spaces, dots and full-width characters are ignored)")
    f.add_argument("--config", "-c", required=True, help="agent YAML config (names the data folder)")
    f.add_argument("--by", help="who asks, for the audit log (default: the login name)")
    f.add_argument("--partial", action="append", default=[], metavar="VISIT",
                   help="also forget this visit of a partial read the plate fills (listed by a run without it; "
                        "another car may have been read the same: look at its photos first); repeatable")
    f.set_defaults(func=_forget)


def _forget(args: argparse.Namespace) -> int:
    from edge_agent.clock import SystemClock
    from edge_agent.config.load import load_config
    from edge_agent.evidence.forget import LinkedFile, forget_plate, masked, partial_visits, refuse_links
    from edge_agent.ops.instance_lock import DataDirBusy, hold_data_dir
    from edge_agent.plates import normalise_plate, not_a_plate

    plate = normalise_plate(args.plate)
    why = not_a_plate(plate)
    if why:
        print(f"plate: {why}; nothing deleted", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    data_dir = Path(cfg.data_dir)
    if not data_dir.is_dir():
        print(f"data_dir {data_dir}: no such folder; nothing to forget", file=sys.stderr)
        return 2
    try:  # the agent appends to these files while it runs: stop it first
        open_to_others = hold_data_dir(data_dir, "evidence forget")
    except DataDirBusy as exc:
        print(f"{exc}: stop the agent (systemctl stop edge-agent) and run this again; nothing deleted",
              file=sys.stderr)
        return 2
    if open_to_others:
        print(f"warning: {open_to_others}", file=sys.stderr)
    mqtt_box = Path(cfg.mqtt.outbox.path) if cfg.mqtt.outbox.path else data_dir / "mqtt-outbox.sqlite"
    boxes = [mqtt_box, *sorted(data_dir.glob("notify-*.sqlite")), *sorted((data_dir / "notify-dead").glob("*.sqlite"))]
    try:  # root would open, read or rewrite what a link there points at: whatever the agent's user chose
        refuse_links(data_dir, boxes)
    except LinkedFile as exc:
        print(exc, file=sys.stderr)
        return 2
    candidates = partial_visits(data_dir, plate)
    named = frozenset(args.partial)
    unknown = sorted(named - {c.visit_id for c in candidates})
    if unknown:
        print(f"--partial {unknown[0]}: not a visit of a partial read {masked(plate)} fills (run without --partial "
              "to list them); nothing deleted", file=sys.stderr)
        return 2
    from edge_agent.occupancy.labels import PAGE_LABELS, forget_page_frames, taken_within

    def labelled(spans: list[tuple[float, float]]) -> int:  # the installer page's labelled pictures: whole views
        return forget_page_frames(data_dir / PAGE_LABELS, taken_within(spans))

    try:
        out = forget_plate(data_dir, plate, SystemClock(ZoneInfo(cfg.site.timezone)),
                           args.by or getpass.getuser(), boxes, named, copies=labelled)
    except LinkedFile as exc:  # one planted between the check above and the forget's own
        print(exc, file=sys.stderr)
        return 2
    print(f"{masked(plate)}: {out.summary()}")
    left = [c for c in candidates if c.visit_id not in named]
    if left:  # never deleted unseen: such a read may be another car's
        print(f"{len(left)} visit(s) never read whole whose partial read this plate fills, kept (another car may have "
              "been read the same: look at their photos on the review page, then run again with --partial VISIT "
              "for each that is this car):")
        for c in left:
            cases = ", violation " + ", ".join(f"#{n}" for n in c.violations) if c.violations else ""
            print(f"  --partial {c.visit_id}  bay {c.bay_id}, {c.first_seen}, read {c.read}, {c.photos} photo(s)"
                  f"{cases}")
    listed = [name for name, plates in (("allow", cfg.lists.allow), ("deny", cfg.lists.deny))
              if plate in {normalise_plate(p) for p in plates}]
    if listed:
        print(f"still on the {' and '.join(listed)} list (the operator's own entry): remove it there if the request "
              "covers it")
    print("already delivered copies (the MQTT broker and backend, push endpoints) are outside this device")
    return 0
