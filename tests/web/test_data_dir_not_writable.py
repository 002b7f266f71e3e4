"""The data folder the page writes its Saves to, full or read-only: the operator is told where and why, with the
status the page uses for a disk problem (507 full, 503 read-only), and nothing is half-saved. Until 2026-12-05 the
installer's Save, a list edit from a violation and the teach mode's writes answered these with a 500.

Real file systems (a tmpfs remounted read-only, a tiny tmpfs filled up): the errno and where it strikes (the
backup, the scratch file, the rename) are what a fake would have to guess. Skipped where mounting is not allowed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from edge_agent.config.overrides import backups
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)
from tests.web.test_api import HTML, logged_in, token

BAYS_DRAWN = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530], [10, 530]]}]}
MOVED = {"bays": [{"id": "A1", "polygon": [[20, 300], [400, 300], [400, 530], [20, 530]]}]}


def _data_dir_on(site, disk: Path) -> Path:
    """Point the config's data dir (where the overrides go) at ``disk``; the page's database stays where it was,
    so only the Save's own file meets the disk. Returns the overrides' path."""
    doc = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    doc["data_dir"] = str(disk)
    site.config_path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return disk / "overrides.yaml"


def _saved_once(site, client, disk: Path) -> tuple[Path, bytes, list[Path], bytes]:
    overrides = _data_dir_on(site, disk)
    r = client.post("/installer", json=BAYS_DRAWN, headers={"X-CSRF-Token": token(client, "/installer")})
    assert r.status_code == 200 and r.json()["ok"], r.text
    return overrides, overrides.read_bytes(), backups(overrides), site.config_path.read_bytes()


def _read_only(disk: Path) -> None:
    if subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot remount a tmpfs read-only here")


def test_installer_save_on_a_read_only_data_dir_is_a_503_naming_the_file_and_changes_nothing(site, tiny_disk):  # noqa: F811
    client = logged_in(site)
    overrides, before, kept, config = _saved_once(site, client, tiny_disk(1))
    reloads = len(site.control.reloads)
    _read_only(overrides.parent)
    r = client.post("/installer", json=MOVED, headers={"X-CSRF-Token": token(client, "/installer"),
                                                       "Accept": "application/json"})
    assert r.status_code == 503 and r.headers["retry-after"] == "60", r.text
    body = r.json()
    assert body["ok"] is False and body["title"] and "Traceback" not in r.text
    assert str(overrides) in body["message"] and "Read-only file system" in body["message"], body
    assert overrides.read_bytes() == before and backups(overrides) == kept and site.config_path.read_bytes() == config
    assert len(site.control.reloads) == reloads  # nothing reloaded: nothing was saved
    row = site.log.audit_entries()[0]
    assert row["action"] == "save_bays" and "not written: Read-only file system" in row["detail"], row


def test_installer_save_on_a_full_data_dir_is_a_507_and_leaves_the_overrides_and_backups_as_they_were(site, tiny_disk):  # noqa: F811
    client = logged_in(site)
    disk = tiny_disk(1)
    overrides, before, kept, config = _saved_once(site, client, disk)
    fill(disk)
    r = client.post("/installer", json=MOVED, headers={"X-CSRF-Token": token(client, "/installer"),
                                                       "Accept": "application/json"})
    assert r.status_code == 507, r.text
    assert str(overrides) in r.json()["message"] and "No space left on device" in r.json()["message"], r.text
    assert overrides.read_bytes() == before and backups(overrides) == kept and site.config_path.read_bytes() == config
    assert sorted(p.name for p in disk.iterdir() if p.name.startswith(".")) == []  # no scratch copy left


def test_a_list_edit_on_a_read_only_data_dir_is_the_error_page_not_a_500(site, tiny_disk):  # noqa: F811
    client = logged_in(site)
    overrides, before, _kept, _config = _saved_once(site, client, tiny_disk(1))
    _read_only(overrides.parent)
    r = client.post("/violations/1/list", data={"which": "allow", "csrf": token(client, "/violations")},
                    headers=HTML, follow_redirects=False)
    assert r.status_code == 503 and "Traceback" not in r.text, r.text
    assert str(overrides) in r.text and overrides.read_bytes() == before
