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
import uuid
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


class PgCluster:
    """A throw-away PostgreSQL cluster: ``start()`` / ``stop()`` may be repeated (the data stays)."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        pytest.importorskip("psycopg")
        self.user = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user to own the cluster")
            self.user = "postgres"
        self.root = Path(tempfile.mkdtemp(prefix="edge-agent-pg-"))
        self.data, sock = self.root / "data", self.root / "sock"
        sock.mkdir()
        if self.user:
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chown(sock, pw.pw_uid, pw.pw_gid)
        owner = self.user or pwd.getpwuid(os.geteuid()).pw_name
        subprocess.run(_as_owner([initdb, "-D", str(self.data), "-A", "trust", "-U", owner, "--no-sync"], self.user),
                       check=True, capture_output=True)
        port = free_port()
        self.opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} -c fsync=off"
        self.dsn = f"postgresql://{owner}@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(_as_owner([self.pg_ctl, "-D", str(self.data), *args], self.user), check=check,
                       capture_output=True)

    def start(self) -> "PgCluster":
        self._ctl("-o", self.opts, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A DSN to a fresh PostgreSQL cluster (one per test session)."""
    cluster = PgCluster().start()
    try:
        yield cluster.dsn
    finally:
        cluster.remove()


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A cluster of the test's own, for a test that stops and starts the server."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_db(postgres: str) -> str:
    """A fresh database per test, in the session's cluster."""
    import psycopg

    name = f"t{uuid.uuid4().hex}"  # a free port named it: ports come round again, and two tests met one name
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"
