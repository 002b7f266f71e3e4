"""Tests that act as root beside another account (the agent's, the broker's): skipped cleanly elsewhere."""

from __future__ import annotations

import os
import pwd

import pytest


def root_beside(user: str, why: str) -> pwd.struct_passwd:
    """``user``'s account, in a test running as root; skips (saying ``why`` root is needed) otherwise."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {why}")
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pytest.skip(f"no user {user} on this host")
