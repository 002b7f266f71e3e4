"""``config.datadir.planted_problem``: the agent's own files in its data folder that are no regular file."""

from __future__ import annotations

import os
from pathlib import Path

from edge_agent.config.datadir import planted_problem


def _folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for sub in ("evidence", "notify-dead"):
        (data / sub).mkdir(parents=True)
    for name in ("events.jsonl", "events.jsonl.1", "mqtt-outbox.sqlite", "mqtt-outbox.sqlite-wal",
                 "evidence/evidence.db", "evidence/evidence.db-wal", "evidence/evidence.db-shm",
                 "notify-dead/hook.sqlite", "lock-latches.json", "overrides.yaml"):
        (data / name).write_text("x")
    return data


def test_an_agents_own_regular_files_pass(tmp_path):
    assert planted_problem(_folder(tmp_path)) is None


def test_each_kind_planted_is_named(tmp_path):
    data = _folder(tmp_path)
    (data / "mqtt-outbox.sqlite-wal").unlink()
    (data / "mqtt-outbox.sqlite-wal").symlink_to("/dev/zero")
    os.mkfifo(data / "evidence" / "evidence.db-journal")
    (data / "events.jsonl.1").unlink()
    (data / "events.jsonl.1").mkdir()
    (data / "notify-dead" / "hook.sqlite").unlink()
    (data / "notify-dead" / "hook.sqlite").symlink_to(data / "events.jsonl")  # a link to a regular file too
    line = planted_problem(data)
    assert line is not None and "\n" not in line
    for said in ("mqtt-outbox.sqlite-wal (a symbolic link)", "evidence/evidence.db-journal (a FIFO)",
                 "events.jsonl.1 (a folder)"):
        assert said in line, line
    assert "(+1 more)" in line and "remove them" in line


def test_other_names_and_the_photo_days_are_not_its_to_judge(tmp_path):
    """Only the names the agent opens by name: a link elsewhere (``labels``, an operator's own file) is left."""
    data = _folder(tmp_path)
    (data / "labels").symlink_to(tmp_path)
    (data / "notes.txt").symlink_to("/etc/hostname")
    os.mkfifo(data / "camera-pipe")
    os.mkfifo(data / ".lgd-nfy-3")  # lgpio's own pipe, made in data_dir on a Raspberry Pi 5 (locks/lgpio_dir.py)
    assert planted_problem(data) is None


def test_review_refuses_a_fifo_at_the_evidence_index(tmp_path, models_dir, capsys):
    """``review`` opens ``evidence.db`` by name too: one line, exit 2, before the page starts."""
    from edge_agent.cli import main
    from tests.runtime.test_startup_errors import _config

    data = tmp_path / "data"
    (data / "evidence").mkdir(parents=True)
    config = _config(tmp_path, models_dir, data)
    (tmp_path / "pw").write_text("a-long-password\n")
    assert main(["users", "add", "admin", "--config", str(config), "--password-file", str(tmp_path / "pw")]) == 0
    os.mkfifo(data / "evidence" / "evidence.db")
    capsys.readouterr()
    assert main(["review", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("review: data_dir ") and "evidence/evidence.db (a FIFO)" in err, err


def test_a_folder_of_its_own_moved_behind_a_link_is_looked_in(tmp_path):
    """``evidence`` linked to a larger disk is a lawful install (passes); the agent opens ``evidence.db`` by name through
    the link, so a FIFO there is named as one beside it would be (it was skipped: the start hung or said disk full)."""
    data = _folder(tmp_path)
    moved = tmp_path / "big-disk" / "evidence"
    moved.parent.mkdir()
    (data / "evidence").rename(moved)
    (data / "evidence").symlink_to(moved)
    assert planted_problem(data) is None
    (moved / "evidence.db-shm").unlink()
    os.mkfifo(moved / "evidence.db-shm")
    line = planted_problem(data)
    assert line is not None and "evidence/evidence.db-shm (a FIFO)" in line, line
