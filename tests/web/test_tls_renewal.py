"""A renewed certificate (certbot, a site CA: every 60–90 days) served without a restart, over real sockets with
certificates made by openssl and an injected clock.

Before, the pair was read once, at start: the renewed files were served only from the next restart, and the day
the old certificate expired every browser refused the page."""

from __future__ import annotations

import logging
import os
import socket
import ssl
from pathlib import Path

import pytest

from edge_agent.config import load_config
from edge_agent.web.certs import CHECK_EVERY_S, ServedCertificate
from edge_agent.web.server import WebServer
from tests.web.test_tls import cert, https_site, make_cert, pinned  # noqa: F401 - cert: a fixture

__all__ = ["cert"]


def der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text(encoding="ascii"))


def served(port: int) -> bytes:
    """The certificate a new connection is given (whatever it is: checked by the caller)."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            client.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        got = s.getpeercert(binary_form=True)
    assert got is not None
    return got


def renew(pair: tuple[Path, Path], *, key: bool = True) -> tuple[Path, Path]:
    """As certbot does: new files swapped in under the same names (``key=False``: only the certificate yet)."""
    new = make_cert(pair[0].parent / f"renewed{len(os.listdir(pair[0].parent))}")
    os.replace(new[0], pair[0])
    if key:
        os.replace(new[1], pair[1])
    return new


def get(sock: ssl.SSLSocket) -> bytes:
    sock.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\n\r\n")
    head = sock.recv(12)
    while b"</html>" not in sock.recv(65536):  # the rest of the page: the connection is kept alive
        pass
    return head


def test_a_renewed_certificate_is_served_to_new_connections_at_a_reload(site, cert):
    old = der(cert[0])
    with https_site(site, cert) as srv, \
            pinned(cert[0]).wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=5),
                                        server_hostname="127.0.0.1") as kept:
        assert get(kept) == b"HTTP/1.1 200"
        renew(cert)
        assert served(srv.port) == old  # until the reload (the clock's check is a minute away)
        srv.config_applied(load_config(site.config_path), [])  # SIGHUP, MQTT reload-config, the installer's Save
        assert served(srv.port) == der(cert[0]) != old
        with pinned(cert[0]).wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=5),
                                         server_hostname="127.0.0.1") as fresh:
            assert get(fresh) == b"HTTP/1.1 200"
        assert get(kept) == b"HTTP/1.1 200"  # an open connection is untouched
        assert kept.getpeercert(binary_form=True) == old


def test_a_renewed_pair_the_load_would_refuse_is_one_error_and_the_old_pair_stays_served(cert, caplog, site):
    old = der(cert[0])
    pair = ServedCertificate(str(cert[0]), str(cert[1]))
    with WebServer(site.app(), "127.0.0.1", 0, tls=pair) as srv, caplog.at_level(logging.INFO, "edge_agent.web"):
        renew(cert, key=False)  # the certificate is new, the key still the old one's (a copy half done)
        assert not pair.reload() and not pair.reload()
        assert served(srv.port) == old
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "web.tls" in errors[0] and "is not the key of cert_file" in errors[0], errors
        new = make_cert(cert[0].parent / "next")
        os.replace(new[0], cert[0])
        os.replace(new[1], cert[1])
        cert[1].chmod(0o644)  # readable by every user: refused, as at a load
        assert not pair.reload()
        assert served(srv.port) == old
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 2 and "web.tls.key_file" in errors[1] and "readable by every user" in errors[1]
        cert[1].chmod(0o600)  # the files change again: read again, and now served
        assert pair.reload()
        assert served(srv.port) == der(cert[0]) != old


def test_renewed_files_are_served_within_a_minute_without_a_reload(cert, site):
    old = der(cert[0])
    with https_site(site, cert) as srv:  # on the page's injected clock
        renew(cert)
        site.clock.advance(CHECK_EVERY_S - 1)
        assert served(srv.port) == old  # not looked at yet
        site.clock.advance(1)
        assert served(srv.port) == der(cert[0]) != old  # the next connection after a minute: the new pair


def test_the_files_are_looked_at_at_most_once_a_minute(cert, monkeypatch):
    now = [0.0]
    pair = ServedCertificate(str(cert[0]), str(cert[1]), clock=lambda: now[0])
    looked = []
    real = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: looked.append(p) or real(p, *a, **k))
    for _ in range(1000):  # a thousand connections in a second
        pair.context()
    assert looked == []
    now[0] = CHECK_EVERY_S
    pair.context()
    assert looked == [str(cert[0]), str(cert[1])]


@pytest.mark.parametrize("gone", [0, 1])
def test_a_missing_file_keeps_the_served_pair(cert, caplog, gone):
    pair = ServedCertificate(str(cert[0]), str(cert[1]))
    before = pair.context()
    cert[gone].unlink()
    with caplog.at_level(logging.ERROR, "edge_agent.web"):
        assert not pair.reload()
    assert pair.context() is before
    # errors only: a 2-day certificate is also one warning of its end date at the start (test_cert_expiry)
    assert ["cannot read" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [True]


def test_the_agents_config_reload_serves_the_renewed_certificate(tmp_path, models_dir, cert):
    """The wiring: ``run``'s reload (SIGHUP, MQTT ``reload-config``, the installer's Save) reaches the page."""
    from edge_agent.clock import FakeClock
    from edge_agent.runtime.assemble import assemble
    from edge_agent.sim.scenario import ScriptedSource, demo_story, scene_config

    clock = FakeClock()
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                       web={"enabled": True, "port": 0, "users_file": str(tmp_path / "u"),
                            "session_secret_file": str(tmp_path / "k"),
                            "tls": {"cert_file": str(cert[0]), "key_file": str(cert[1])}})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(demo_story(5.0), clock))
    assert parts.web is not None
    parts.start()
    try:
        old = der(cert[0])
        assert served(parts.web.port) == old
        renew(cert)
        assert parts.agent.reloader.apply(parts.agent.cfg).ok
        assert served(parts.web.port) == der(cert[0]) != old
    finally:
        parts.stop()
