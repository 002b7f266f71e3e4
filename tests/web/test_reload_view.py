"""The page inside ``run`` shows the bays the agent runs after a reload, so the installer's Save (which sends every
bay the page shows) cannot undo an operator's edit of the config file."""

from __future__ import annotations

import json
import re
import warnings

import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config
from edge_agent.web.auth import UsersFile
from tests.web.conftest import PASSWORD

with warnings.catch_warnings():  # as the other page tests: starlette's note about httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_a_bay_added_by_sighup_is_on_the_installer_page_and_survives_its_save(tmp_path, clock):
    data = scene_config(str(tmp_path / "data"), web={"enabled": True, "port": 0, "users_file": "users.txt",
                                                     "session_secret_file": "secret.key"}).model_dump(mode="json")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    UsersFile(tmp_path / "users.txt").set("admin", PASSWORD)
    parts = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock))
    data["bays"].append({"id": "C", "polygon": [[300, 20], [600, 20], [600, 150], [300, 150]]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert parts.agent.reload_config().ok and parts.agent.bay_ids() == ["A", "B", "C"]  # what SIGHUP does

    c = TestClient(parts.web.app)
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok})
    shown = json.loads(re.search(r'id="installer-data">(.*?)</script>', c.get("/installer").text).group(1))
    assert [b["id"] for b in shown["bays"]] == ["A", "B", "C"]
    r = c.post("/installer", json={"bays": shown["bays"]}, headers={"X-CSRF-Token": shown["csrf"]})
    assert r.json()["ok"] and parts.agent.bay_ids() == ["A", "B", "C"]  # before: C removed by the Save
