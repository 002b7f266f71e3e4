"""A photo served by the page is the store's own file, never what a link planted in the data folder leads to.

Why: the page opened ``evidence/<day>/<id>.jpg`` by name, and a link put there by anyone who may write in the data
folder handed every signed-in viewer (a reviewer too) a file only the agent may read: the session key below, with
which any session cookie can be forged."""

from __future__ import annotations

import os
import shutil

from tests.web.conftest import PASSWORD  # noqa: F401 - the site fixture's login
from tests.web.test_api import logged_in


def _secret(site) -> bytes:
    return (site.root / "secret.key").read_bytes()  # web.session_secret_file, made 0600 by the app


def test_a_link_at_a_photos_name_is_not_followed(site):
    client = logged_in(site)
    eid = site.log.get(1).evidence_id
    path = site.store.image_path(eid)
    assert client.get(f"/evidence/{eid}/frame.jpg").content[:2] == b"\xff\xd8"
    path.unlink()
    os.symlink(site.root / "secret.key", path)
    r = client.get(f"/evidence/{eid}/frame.jpg")
    assert r.status_code == 404 and _secret(site).strip() not in r.content


def test_a_linked_day_folder_is_not_followed(site, tmp_path):
    client = logged_in(site)
    eid = site.log.get(1).evidence_id
    path = site.store.image_path(eid)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(site.root / "secret.key", elsewhere / path.name)
    for p in path.parent.iterdir():
        p.unlink()
    path.parent.rmdir()
    os.symlink(elsewhere, path.parent)
    r = client.get(f"/evidence/{eid}/frame.jpg")
    assert r.status_code == 404 and _secret(site).strip() not in r.content


def test_a_fifo_at_a_photos_name_is_no_photo(site):
    client = logged_in(site)
    eid = site.log.get(1).evidence_id
    path = site.store.image_path(eid, which="crop")
    path.unlink()
    os.mkfifo(path)
    assert client.get(f"/evidence/{eid}/crop.jpg").status_code == 404  # not a wait for a writer, nor a 500
