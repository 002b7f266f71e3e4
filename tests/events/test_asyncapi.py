"""docs/asyncapi.yaml is generated from the topic table and the JSON Schemas, and it is a valid AsyncAPI 3.0 file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from edge_agent.events.asyncapi import PREFIX, build, render
from edge_agent.events.schemas import DIR as SCHEMA_DIR
from edge_agent.events.topics import COMMANDS, SIM_COMMANDS, Topics

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.yaml"
TOOLS = ROOT / "tests" / "asyncapi"


def test_the_committed_document_is_what_the_code_generates():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: run `edge-agent api asyncapi --out docs/asyncapi.yaml`"
    )


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
