"""A real PostgreSQL server for the consumer tests: Debian's binaries, a throw-away cluster in a temp dir,
listening on loopback only. PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` system user (created by the Debian package)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.events.broker import free_port
from tests.events.conftest import broker  # noqa: F401 - the real mosquitto fixture, shared


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_owner(args: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *args] if user else args


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A DSN to a fresh PostgreSQL cluster (one per test session)."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg")
    user = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to own the cluster")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="edge-agent-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if user:
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(sock, pw.pw_uid, pw.pw_gid)
    owner = user or pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(_as_owner([initdb, "-D", str(data), "-A", "trust", "-U", owner, "--no-sync"], user),
                   check=True, capture_output=True)
    port = free_port()
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} -c fsync=off"
    subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"], user),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://{owner}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], user), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(postgres: str) -> str:
    """A fresh database per test, in the session's cluster."""
    import psycopg

    name = f"t{os.getpid()}_{free_port()}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"
