"""Real mosquitto brokers for the MQTT tests: plain, and TLS + passwords with a throw-away CA."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_agent.events.broker import BrokerTls, LocalBroker, mosquitto_path

DEVICE_USER, DEVICE_PASSWORD = "dev1", "s3cret-pass"


def _need_mosquitto() -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")


@pytest.fixture
def broker(tmp_path: Path):
    """A mosquitto on a free loopback port, with persistence, per test."""
    _need_mosquitto()
    b = LocalBroker(tmp_path / "broker").start()
    yield b
    b.stop()


@dataclass(frozen=True)
class TlsMaterial:
    ca: Path
    cert: Path
    key: Path
    passwords: Path
    other_ca: Path  # a CA the broker's certificate is not signed by


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    _need_mosquitto()
    if not shutil.which("openssl") or not shutil.which("mosquitto_passwd"):
        pytest.skip("openssl and mosquitto_passwd are needed for the TLS tests")
    d = tmp_path_factory.mktemp("tls")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "2", "-subj", f"/CN=edge-agent test {ca}", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf", cwd=d)  # fmt: skip
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(d / "passwords"), DEVICE_USER, DEVICE_PASSWORD], check=True)
    for user, pw in (("backend", "backend-pass"), ("homeassistant", "ha-pass")):
        subprocess.run(["mosquitto_passwd", "-b", str(d / "passwords"), user, pw], check=True)
    return TlsMaterial(d / "ca.crt", d / "server.crt", d / "server.key", d / "passwords", d / "other-ca.crt")


@pytest.fixture
def tls_broker(tmp_path: Path, tls_material: TlsMaterial):
    """TLS-only listener, anonymous logins refused, passwords from ``mosquitto_passwd``."""
    b = LocalBroker(
        tmp_path / "tls-broker",
        tls=BrokerTls(tls_material.ca, tls_material.cert, tls_material.key),
        password_file=tls_material.passwords,
    ).start()
    yield b
    b.stop()
