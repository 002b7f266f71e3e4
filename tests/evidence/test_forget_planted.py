"""``evidence forget`` is run as root (the runbook: stop the agent, forget, start it) on a folder the agent's user
writes: what that user left there must not steer root's hand, and root must leave the agent's files the agent's.

Before: the photo rows' file names were unlinked as written (``/etc/shadow``, ``../../x``, a day folder linked
elsewhere: root deleted any file the index named); ``events.jsonl`` was read through a link and rewritten in its
place, root-owned; and the rewritten ``events.jsonl`` (and an ``agent.lock`` made new) was ``root:root``, so the
agent's next start refused its own folder ("not writable by this user")."""

from __future__ import annotations

import os
import pwd
import sqlite3
from pathlib import Path

import pytest

from tests.evidence.test_forget import GONE, KEPT, _forget, _site
from tests.rootuser import root_beside


def test_a_file_an_edited_index_names_outside_the_evidence_is_never_deleted(tmp_path, repo):
    config, data = _site(tmp_path, repo)
    outside = tmp_path / "etc"
    outside.mkdir()
    victims = {n: outside / n for n in ("shadow", "passwd", "group", "sudoers")}
    for p in victims.values():
        p.write_text("root's\n")
    day = "2099-01-01"
    os.symlink(outside, data / "evidence" / day)  # a day folder that is a link
    photo = "0123abcd-0000-4000-8000-000000000000"
    os.symlink(outside / "sudoers", outside / f"{photo}.jpg")
    db = sqlite3.connect(data / "evidence" / "evidence.db")
    with db:
        eid = db.execute("SELECT id FROM evidence WHERE plate=? AND crop_file IS NOT NULL", (GONE,)).fetchone()[0]
        real = [data / "evidence" / r for r in db.execute("SELECT frame_file, crop_file FROM evidence WHERE id=?",
                                                          (eid,)).fetchone()]
        db.execute("UPDATE evidence SET frame_file=?, crop_file=? WHERE id=?",
                   (str(victims["shadow"]), "../../etc/passwd", eid))
        for n, rel in enumerate((f"{day}/group", f"{day}/{photo}.jpg")):
            db.execute("INSERT INTO evidence (id, bay_id, visit_id, kind, ts, epoch, plate, frame_file) "
                       "SELECT ?, bay_id, visit_id, kind, ts, epoch, plate, ? FROM evidence WHERE id=?",
                       (f"x{n}", rel, eid))
    db.close()
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    assert "4 file name(s) in photo rows that are no evidence photo (an edited index?) left alone" in r.stdout
    assert all(p.read_text() == "root's\n" for p in victims.values())  # through the linked day folder too
    assert all(p.exists() for p in real)  # the edited row no longer names them: orphans, the hourly sweep's


@pytest.mark.parametrize("name", ["events.jsonl", "evidence/evidence.db", "notify-wecom.sqlite"])
def test_a_link_where_the_agent_keeps_a_file_is_refused_and_nothing_is_deleted(tmp_path, repo, name):
    config, data = _site(tmp_path, repo)
    target = tmp_path / "elsewhere" / Path(name).name  # a file of another program, or one only root may read
    target.parent.mkdir()
    (data / name).rename(target)
    (data / name).symlink_to(target)
    before = target.read_bytes()
    photos = sorted((data / "evidence").rglob("*.jpg"))
    r = _forget(config, GONE)
    assert r.returncode == 2, r.stdout
    assert f"{data / name}: a symbolic link where the agent keeps a file" in r.stderr and "Traceback" not in r.stderr
    assert (data / name).is_symlink() and target.read_bytes() == before
    assert sorted((data / "evidence").rglob("*.jpg")) == photos  # nothing deleted
    assert KEPT.encode() in target.read_bytes()


def _as_the_agents(tmp_path: Path, repo: Path) -> tuple[Path, Path, pwd.struct_passwd]:
    """A site whose folder the user ``nobody`` stands in for the agent's in; the forget is run as root (skips else)."""
    agent = root_beside("nobody", "the forget as the runbook runs it")
    config, data = _site(tmp_path, repo)
    return config, data, agent


def test_a_forget_run_as_root_leaves_the_agents_files_the_agents(tmp_path, repo):
    config, data, agent = _as_the_agents(tmp_path, repo)
    (data / "agent.lock").unlink(missing_ok=True)  # a folder the agent never ran in (a backup restored)
    os.chmod(data / "events.jsonl", 0o640)
    for p in (data, *data.rglob("*")):
        os.lchown(p, agent.pw_uid, agent.pw_gid)
    r = _forget(config, GONE)
    assert r.returncode == 0, r.stderr
    assert "4 events.jsonl line(s)" in r.stdout  # the file was rewritten
    root_owned = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.lstat().st_uid != agent.pw_uid)
    assert root_owned == []
    assert (data / "events.jsonl").stat().st_mode & 0o777 == 0o640


def test_root_never_writes_or_gives_away_a_file_the_agent_lock_is_another_name_of(tmp_path, repo):
    """A hard link at ``agent.lock`` (``O_NOFOLLOW`` stops only symbolic ones): root's forget wrote its pid over the
    linked file's content and, since it hands a ``root:root`` lock to the folder's owner, gave that file to the
    agent's user. The agent never links its lock."""
    config, data, agent = _as_the_agents(tmp_path, repo)
    for p in (data, *data.rglob("*")):
        os.lchown(p, agent.pw_uid, agent.pw_gid)
    victim = tmp_path / "root-only"
    victim.write_text("root's\n")
    victim.chmod(0o600)
    (data / "agent.lock").unlink(missing_ok=True)
    os.link(victim, data / "agent.lock")
    r = _forget(config, GONE)
    assert r.returncode == 2, r.stdout
    assert f"{data / 'agent.lock'} has another name (a hard link)" in r.stderr and "Traceback" not in r.stderr
    assert victim.read_text() == "root's\n" and victim.stat().st_uid == 0 and victim.stat().st_mode & 0o777 == 0o600
    assert KEPT.encode() in (data / "events.jsonl").read_bytes() and GONE.encode() in (data / "events.jsonl").read_bytes()


@pytest.mark.parametrize("name", ["labels", "labels/frames"])
def test_a_labels_folder_linked_elsewhere_is_refused_and_nothing_there_is_deleted(tmp_path, repo, name):
    """The installer page's labelled pictures (``labels/frames/<id>.jpg``) that a car's visit spans go with a forget
    (by name and file time). A ``labels`` or ``labels/frames`` linked to another folder had root's forget delete the
    pictures of that name and time there, outside the data folder."""
    from datetime import datetime, timezone

    config, data = _site(tmp_path, repo)
    outside = tmp_path / "elsewhere"
    frames = outside / "frames" if name == "labels" else outside
    frames.mkdir(parents=True)
    victim = frames / "00000000-0000-4000-8000-000000000000.jpg"
    victim.write_bytes(b"another program's picture")
    during = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + 300  # while the forgotten car stood there
    os.utime(victim, (during, during))
    (data / name).parent.mkdir(exist_ok=True)
    (data / name).symlink_to(outside)
    r = _forget(config, GONE)
    assert r.returncode == 2, r.stdout
    assert f"{data / name}: a symbolic link where the agent keeps a file" in r.stderr and "Traceback" not in r.stderr
    assert victim.read_bytes() == b"another program's picture"
    assert GONE.encode() in (data / "events.jsonl").read_bytes()  # nothing forgotten: the refusal comes first
