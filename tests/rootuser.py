"""Tests that act as root beside another account (the agent's, the broker's): skipped cleanly elsewhere."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest


def root_beside(user: str, why: str) -> pwd.struct_passwd:
    """``user``'s account, in a test running as root; skips (saying ``why`` root is needed) otherwise."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {why}")
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pytest.skip(f"no user {user} on this host")


def with_file_modes(argv: list[str]) -> list[str]:
    """``argv`` made to run with file modes applying to it: as is for a user; for root, under ``setpriv`` without the
    two capabilities that let root ignore modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), still root and the files'
    owner. Skips where that cannot be done. Why: a test of "permission denied" passed as root only by skipping."""
    if os.geteuid() != 0:
        return argv
    cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if not shutil.which("setpriv") or subprocess.run([*cmd, "true"], capture_output=True).returncode != 0:
        pytest.skip("root ignores file modes here, and setpriv cannot drop that")
    return [*cmd, *argv]
