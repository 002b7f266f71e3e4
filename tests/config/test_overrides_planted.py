"""The overrides file's backup reads the file once, as the loader does: never a FIFO, a device or a link's target.

Why: ``write_overrides`` backed up ``overrides.yaml`` by reading it again by name after the edit had been checked. A
FIFO put there meanwhile hung the Save (for ``set-lists``: the command thread, every later command with it) for
ever, a link to ``/dev/zero`` was read until memory ran out, and a link to another file (the web session key) was
copied into ``config-backups/``. Such a name is not backed up; the edit replaces it (renamed over it, not through
it), and a regular file is still backed up."""

from __future__ import annotations

import os

from edge_agent.clock import FakeClock
from edge_agent.config.overrides import BACKUPS_DIR, backups, write_overrides
from tests.fifo_reads import without_waiting

EDIT = {"lists": {"allow": ["苏E12345"], "deny": []}}


def test_a_fifo_at_the_overrides_file_is_replaced_not_waited_on(tmp_path):
    path = tmp_path / "overrides.yaml"
    os.mkfifo(path)
    assert without_waiting(lambda: write_overrides(path, EDIT, FakeClock()), path) is None
    assert path.is_file() and not path.is_symlink() and "苏E12345" in path.read_text(encoding="utf-8")
    assert backups(path) == []


def test_a_link_at_the_overrides_file_copies_nothing_it_leads_to(tmp_path):
    secret = tmp_path / "web-secret.key"
    secret.write_bytes(b"k" * 64)
    path = tmp_path / "overrides.yaml"
    path.symlink_to(secret)
    assert write_overrides(path, EDIT, FakeClock()) is None
    assert not path.is_symlink() and secret.read_bytes() == b"k" * 64
    assert not (tmp_path / BACKUPS_DIR).exists() or not any(
        b"k" * 64 in p.read_bytes() for p in (tmp_path / BACKUPS_DIR).iterdir())


def test_a_regular_overrides_file_is_still_backed_up(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text("lists: {allow: [], deny: []}\n", encoding="utf-8")
    backup = write_overrides(path, EDIT, FakeClock())
    assert backup is not None and backup.read_text(encoding="utf-8") == "lists: {allow: [], deny: []}\n"
