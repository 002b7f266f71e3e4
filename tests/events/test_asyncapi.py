"""docs/asyncapi.yaml is generated from the topic table and the JSON Schemas, and it is a valid AsyncAPI 3.0 file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from edge_agent.config.eventtypes import BUS_EVENT_TYPES, LINK_EVENT_TYPES
from edge_agent.config.models import SiteConfig
from edge_agent.events.asyncapi import PREFIX, build, render
from edge_agent.events.schemas import DIR as SCHEMA_DIR
from edge_agent.events.schemas import SCHEMA_VERSION
from edge_agent.events.topics import COMMANDS, SIM_COMMANDS, Topics
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.yaml"
TOOLS = ROOT / "tests" / "asyncapi"


def test_the_committed_document_is_what_the_code_generates():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: run `edge-agent api asyncapi --out docs/asyncapi.yaml`"
    )


def test_a_backend_reading_only_the_document_learns_every_event_type_and_the_config_keys_in_topics():
    """The event schema leaves ``type`` open; the channel's description names each type, or a backend built from
    this file had no list of what to expect. The topic parameters name real config keys (they said ``site.id``)."""
    doc = build()
    described = set(re.findall(r"`([a-z_]+)`", doc["channels"]["events"]["description"]))
    assert BUS_EVENT_TYPES | LINK_EVENT_TYPES <= described
    params = doc["channels"]["status"]["parameters"]
    for name in ("site", "device"):
        key = re.search(r"config `site\.([a-z_]+)`", params[name]["description"])
        assert key and key.group(1) in SiteConfig.model_fields, params[name]


def test_every_topic_and_every_schema_is_in_the_document():
    doc = build()
    t = Topics(PREFIX)
    addresses = {c["address"] for c in doc["channels"].values()}
    # every topic the agent publishes on, also the default reply topic (no response topic, no reply_to)
    assert {t.status, t.events, t.health, t.state("{bay}"), t.stats_daily, t.reply, t.reply + "/{path}"} <= addresses
    assert {t.command(name) for name in COMMANDS} <= addresses
    assert {t.sim(name) for name in SIM_COMMANDS} <= addresses
    assert set(doc["components"]["schemas"]) == {p.stem for p in SCHEMA_DIR.glob("*.json")}
    # every command is answered on the reply channel; every agent publish says its QoS and retain flag
    for name, op in doc["operations"].items():
        assert op["bindings"]["mqtt"]["qos"] in (0, 1)
        if op["action"] == "receive":
            assert op["reply"]["channel"] == {"$ref": "#/channels/reply"}, name
    assert doc["servers"]["site"]["bindings"]["mqtt"]["lastWill"]["topic"] == t.status
    # the agent connects with clean start (docs/mqtt.md): commands sent while it was offline are not kept for it
    assert doc["servers"]["site"]["bindings"]["mqtt"]["cleanSession"] is True


def test_a_schema_change_shows_in_the_document(tmp_path, monkeypatch):
    """Drift is impossible: a schema edit changes the generated document (so the committed-file test fails)."""
    import edge_agent.events.asyncapi as asyncapi

    before = render()
    copy = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, copy)
    event = copy / "event.json"
    event.write_text(event.read_text(encoding="utf-8").replace('"data": {"type": "object"}',
                                                                '"data": {"type": "object"}, "extra": {"type": "string"}'))
    monkeypatch.setattr(asyncapi, "SCHEMA_DIR", copy)
    assert render() != before
    assert "extra" in yaml.safe_load(render())["components"]["schemas"]["event"]["properties"]


def test_the_document_is_valid_for_the_asyncapi_parser():
    """The real AsyncAPI parser (npm @asyncapi/parser, installed by `make asyncapi-tools`) accepts it."""
    if not shutil.which("node") or not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI must validate docs/asyncapi.yaml: run `make asyncapi-tools` (needs node and npm)")
        pytest.skip("the AsyncAPI parser is not installed (make asyncapi-tools)")
    out = subprocess.run(["node", str(TOOLS / "validate.mjs"), str(DOC)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid: " in out.stdout


def test_the_parser_check_rejects_a_broken_document(tmp_path):
    """The validation above can fail: an operation pointing at a channel that does not exist is refused."""
    if not shutil.which("node") or not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.skip("the AsyncAPI parser is not installed (make asyncapi-tools)")
    doc = build()
    doc["operations"]["publishEvents"]["channel"] = {"$ref": "#/channels/noSuchChannel"}
    doc["channels"]["events"]["address"] = 42
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = subprocess.run(["node", str(TOOLS / "validate.mjs"), str(bad)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0


def _contract(doc: dict) -> str:
    """What a consumer can rely on: channels, operations, messages and schemas; prose (descriptions, titles,
    summaries) and ``info`` (which holds the version itself) left out."""

    def strip(x: object, top: bool = False) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()
                    if not (top and k == "info") and not (k in ("description", "summary", "title") and isinstance(v, str))}
        return [strip(v) for v in x] if isinstance(x, list) else x

    return hashlib.sha256(json.dumps(strip(doc, top=True), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# One contract per SCHEMA_VERSION (docs/consumer.md: a new optional field, topic or event type is a new minor).
# 1.3.0 is the contract as 1.3.0 shipped (commit 9835d85); 1.4.0 added status.restart_needed,
# stats-daily.clock_synced, lock_fault's restored / since and the {prefix}/reply channel, first sent as "1.3.0";
# 1.5.0 added state_class to the Home Assistant discovery configs; 1.6.0 stats-daily's per-bay unknown_s, the
# bay state's ts, the lock_maintenance event and an empty retained state for a bay taken out of the config;
# 1.7.0 the heartbeat's extra.bays_unseen with its codes camera_moved, camera_unmatched and mask_*;
# 1.8.0 vehicle_identified's and violation_started's data.partial (a plate no read showed whole);
# 1.9.0 the status's web_certificate (the page's certificate's dates), the web_certificate event, and
# vehicle_departed's data (stayed_s, plate, partial, reason) documented, partial new; 1.10.0 a command's sig in hex
# of either case (what the agent accepts, which it already compared lowered; nothing it sends changed); 1.11.0
# camera_aligned's earlier_run / moved_event_id (it closes a camera_moved an earlier run published) and the
# bays_unseen code bay_redrawn; 1.12.0 charger_status's visit_id (the bay's visit in progress, null before) and the
# bays_unseen code bay_blurred; 1.13.0 the bays_unseen codes bay_overlay (an on-screen clock over the bay) and
# picture_cut (the picture jumped to another moment); 1.14.0 the heartbeat's extra.commands_busy, commands_too_large and
# replies_dropped (a command flood the backend can now see); 1.15.0 a command's optional `device` (signed with it: a
# command for another device sharing its key is refused wrong_device) and the reply code wrong_device; outbox_lost's
# reason damaged_file (a salvaged outbox's lost events, said once).
# A change here needs a new SCHEMA_VERSION, its line below, and `edge-agent api asyncapi --out docs/asyncapi.yaml`.
CONTRACTS = {
    "1.3.0": "aefa20c16f2558fbf9cfdce695fa936768fa55cff97ec09600031be9bec003af",
    "1.4.0": "eba279a12cf6ab052648ba9f4ee2fb460d9ec5671b26a8667903cb1842556bca",
    "1.5.0": "1d8215600fa721365a7ad968b1cd8a1ac5b6f4a3c8c2a4ab5eed1c49204cf24e",
    "1.6.0": "84ede34a0084d1048466bff6d467aa9fdec4b211b4a2e822915cfadb105e40f3",
    "1.7.0": "369641d04660d1e0d0d926bfb1a1ae0fae9cd0387f8be52b3b499197cb747c30",
    "1.8.0": "a11621f01de564b9d0a5ae5a51934b2b66dc4a202433099d62c5902fed80cdf0",
    "1.9.0": "e28c44232307a4f2f8f3d366fe836947f8aca04b6ee2e9bef9a86271b32892e2",
    "1.10.0": "2c1cacb809f08870ffc4d902d6dd87c205713e3b25044251de6df1084881e7dd",
    "1.11.0": "a3f2b700dd60248d832fe054a2b14d0afe9e622864f9714cbca5627199174a5e",
    "1.12.0": "1c83d320f7c7fc9b5e8c265c4455799dc9db13656fec31a90651040c32d79fd2",
    "1.13.0": "31210340ce4ebdaa3712a48ea246f00c605030f3ec2747266ad181f1b64084b3",
    "1.14.0": "0fc94a76bb238fc09bb2543bebaa1122f8d4045368f344ad0a9e460a10cb02ea",
    "1.15.0": "b46efbe1d7498c4f8c415187ea4b7fe6d8b12d6dd07ae35cf7f3d16d37de030c",
    "1.16.0": "9fe9bf576b2eb47e0a7352838b667e9964ea61e5ecfbf47f7919f0c8d9067d60",
    "1.17.0": "5b817f290c895c9fbeee251e0bda8b871d60e8271fb85b96a84d336600604295",
    "1.18.0": "35544c99e54749f253eed6606027b9e3707a823302cdb502687fe7142f430804",
    "1.19.0": "b7d35ff755dce7300dd5c7a76317710a8e2a36eb8541b7fc602935590404d9e1",
}


def test_a_contract_change_comes_with_a_new_schema_version():
    """A backend tells payloads apart by the `schema-version` property alone: two contracts under one version
    (a field added, a topic documented) make that impossible."""
    assert CONTRACTS.get(SCHEMA_VERSION) == _contract(build()), (
        f"the MQTT contract changed under schema version {SCHEMA_VERSION}: raise SCHEMA_VERSION "
        "(edge_agent/events/schemas/__init__.py; minor for additions, major for removals) and pin the new contract here")
    assert SCHEMA_VERSION == max(CONTRACTS, key=lambda v: tuple(map(int, v.split(".")))), "the newest contract is the one sent"
    assert len(set(CONTRACTS.values())) == len(CONTRACTS)


def test_the_contract_fingerprint_sees_a_new_field_but_not_new_prose():
    doc = build()
    before = _contract(doc)
    doc["components"]["schemas"]["status"]["properties"]["state"]["description"] = "reworded"
    doc["info"]["version"] = "9.9.9"
    assert _contract(doc) == before
    doc["components"]["schemas"]["status"]["properties"]["uptime_s"] = {"type": "number"}
    assert _contract(doc) != before


def test_the_docs_name_the_current_schema_version():
    pages = {p: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")}
    named = {(p.name, v) for p, text in pages.items()
             for v in re.findall(r"(?:schema[- ]version:? |now `)(\d+\.\d+\.\d+)", text, flags=re.IGNORECASE)}
    assert named and all(v == SCHEMA_VERSION for _, v in named), named


def test_api_asyncapi_out_that_cannot_be_written_is_one_line(tmp_path, capsys):
    from edge_agent.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["api", "asyncapi", "--out", str(blocker / "asyncapi.yaml")]) == 2
    assert capsys.readouterr().err.startswith(f"api asyncapi: cannot write --out {blocker}/asyncapi.yaml: ")
    out = tmp_path / "site-docs" / "api" / "asyncapi.yaml"  # folders not made yet: made, as eval's --json's are
    assert main(["api", "asyncapi", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()


def test_api_asyncapi_out_on_a_full_disk_keeps_the_old_document(tiny_disk, capsys):  # noqa: F811
    """Written in place, a full disk left the document cut off under its own name (exit 2, but the old one gone);
    every command's output file is now written beside it and renamed over it (``cliargs.write_output``)."""
    from edge_agent.cli import main
    from tests.tmpfs import fill

    disk = tiny_disk(1)
    out = disk / "asyncapi.yaml"
    out.write_text("old document\n", encoding="utf-8")
    fill(disk, leave_bytes=8 * 1024)
    assert len(render().encode("utf-8")) > 16 * 1024  # more than the disk has left
    assert main(["api", "asyncapi", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"api asyncapi: cannot write --out {out}: No space left")
    assert out.read_text(encoding="utf-8") == "old document\n"
    assert sorted(p.name for p in disk.iterdir()) == ["asyncapi.yaml", "filler.bin"]  # no scratch copy left
