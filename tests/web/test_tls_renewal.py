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


@pytest.fixture
def agent_on_tls(tmp_path, models_dir, cert):  # noqa: ANN001, ANN201
    """``run``'s parts serving the page with ``cert`` (started; stopped at teardown)."""
    from edge_agent.clock import FakeClock
    from edge_agent.runtime.assemble import assemble
    from edge_agent.sim.scenario import ScriptedSource, demo_story, scene_config

    clock = FakeClock()
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                       web={"enabled": True, "port": 0, "users_file": str(tmp_path / "u"),
                            "session_secret_file": str(tmp_path / "k"),
                            "tls": {"cert_file": str(cert[0]), "key_file": str(cert[1])}})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(demo_story(5.0), clock))
    parts.start()
    yield parts
    parts.stop()


def test_the_agents_config_reload_serves_the_renewed_certificate(agent_on_tls, cert):
    """The wiring: ``run``'s reload (SIGHUP, MQTT ``reload-config``, the installer's Save) reaches the page."""
    parts = agent_on_tls
    assert parts.web is not None
    old = der(cert[0])
    assert served(parts.web.port) == old
    renew(cert)
    assert parts.agent.reloader.apply(parts.agent.cfg).ok
    assert served(parts.web.port) == der(cert[0]) != old


def with_tls(cfg, tls: dict | None):  # noqa: ANN001, ANN201
    from edge_agent.config.web import WebTlsConfig

    return cfg.model_copy(update={"web": cfg.web.model_copy(
        update={"tls": None if tls is None else WebTlsConfig.model_validate(tls)})})


def test_a_reload_naming_another_certificate_and_key_serves_them(agent_on_tls, cert, tmp_path, caplog):
    """``web.tls.cert_file`` / ``key_file`` moved (a site CA's files instead of the self-signed pair): served from
    the reload, checked as a renewal is. Before: "web changes need a restart", and the old pair served on."""
    parts, old = agent_on_tls, der(cert[0])
    other = make_cert(tmp_path / "site-ca", "edge-cam-1", days=90)
    with caplog.at_level(logging.INFO, "edge_agent"):
        result = parts.agent.reloader.apply(with_tls(parts.agent.cfg, {"cert_file": str(other[0]),
                                                                         "key_file": str(other[1])}))
    assert result.ok and result.data["restart_needed"] == [], result
    assert served(parts.web.port) == der(other[0]) != old
    assert str(parts.agent.cfg.web.tls.cert_file) == str(other[0])  # what runs: the next reload compares with it
    assert any(f"serving the certificate now in {other[0]}" in r.getMessage() for r in caplog.records)
    assert parts.agent.reloader.apply(parts.agent.cfg).data["restart_needed"] == []


def test_a_reload_naming_a_pair_that_fails_the_checks_keeps_the_served_one(agent_on_tls, cert, tmp_path, caplog):
    """The pair at the new paths changed between the load's checks and the switch (a copy half done): one error, the
    old pair goes on being served, and the new paths' pair is served once it is whole (the minute's look)."""
    parts, old = agent_on_tls, der(cert[0])
    other = make_cert(tmp_path / "site-ca", days=90)
    new = with_tls(parts.agent.cfg, {"cert_file": str(other[0]), "key_file": str(other[1])})  # the load's checks
    stray = make_cert(tmp_path / "stray", days=90)
    good_key = other[1].read_bytes()
    other[1].write_bytes(stray[1].read_bytes())  # then the key of another certificate copied over
    with caplog.at_level(logging.INFO, "edge_agent"):
        assert parts.agent.reloader.apply(new).ok
    assert served(parts.web.port) == old
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "not served, the page keeps the one it has" in errors[0], errors
    other[1].write_bytes(good_key)
    parts.web.config_applied(parts.agent.cfg, [])  # the next reload, or the minute's look at the files
    assert served(parts.web.port) == der(other[0])


def test_turning_tls_off_or_on_by_reload_waits_for_a_restart_and_says_so(agent_on_tls, cert, caplog):
    parts, old = agent_on_tls, der(cert[0])
    with caplog.at_level(logging.INFO, "edge_agent"):
        result = parts.agent.reloader.apply(with_tls(parts.agent.cfg, None))
    assert result.ok and result.data["restart_needed"] == ["web"]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "web.tls" in r.getMessage()]
    assert said == ["web.tls: taken out of the config by this reload: the page goes on speaking HTTPS until a "
                    "restart (systemctl restart edge-agent)"], said
    assert served(parts.web.port) == old and parts.agent.cfg.web.tls is not None  # as it runs
