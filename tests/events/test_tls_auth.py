"""TLS and passwords against a mosquitto with a CA made by the fixture."""

from __future__ import annotations

import logging

import pytest

from edge_agent.clock import FakeClock
from edge_agent.config import ConfigError
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event
from tests.events.conftest import DEVICE_PASSWORD, DEVICE_USER
from tests.events.helpers import RecordingControl, Subscriber, first_failure, make_config, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"


def _link(url, tmp_path, name, **mqtt):
    cfg = make_config(url, tmp_path / name, reconnect_min_s=1, reconnect_max_s=2, **mqtt)
    return build_mqtt(cfg, EventBus(), RecordingControl(), FakeClock(), no_health)


def test_good_credentials_connect_over_tls(tls_broker, tls_material, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    (tmp_path / "pw").write_text(DEVICE_PASSWORD + "\n")
    backend = Subscriber(tls_broker.port, f"{PREFIX}/#", ca=tls_material.ca, username="backend",
                         password="backend-pass").start()  # fmt: skip
    cfg = make_config(tls_broker.url(), tmp_path / "data", username=DEVICE_USER, password_file=str(tmp_path / "pw"),
                      tls={"ca_file": str(tls_material.ca)})  # fmt: skip
    bus = EventBus()
    link = build_mqtt(cfg, bus, RecordingControl(), FakeClock(), no_health)
    link.start()
    try:
        assert backend.wait_for(f"{PREFIX}/status").json()["state"] == "online"
        assert link.status().connected and link.status().broker == tls_broker.url()
        bus.publish(Event(type="vehicle_arrived", ts="2026-01-01T08:00:00.000+08:00", bay_id="B1"))
        backend.wait_for(f"{PREFIX}/events")
    finally:
        link.stop()
        backend.stop()
    assert DEVICE_PASSWORD not in caplog.text


def test_wrong_password_anonymous_and_plain_tcp_retry_with_clear_errors(tls_broker, tls_material, tmp_path,
                                                                         monkeypatch, caplog):  # fmt: skip
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("EDGE_MQTT_PW", "not-the-password")
    ca = {"ca_file": str(tls_material.ca)}
    links = {
        "wrong_password": _link(tls_broker.url(), tmp_path, "a", username=DEVICE_USER, password_env="EDGE_MQTT_PW",
                                tls=ca),  # fmt: skip
        "anonymous": _link(tls_broker.url(), tmp_path, "b", tls=ca),
        "plain_to_tls_port": _link(tls_broker.url("mqtt"), tmp_path, "c", username=DEVICE_USER),
        "unknown_ca": _link(tls_broker.url(), tmp_path, "d", tls={"ca_file": str(tls_material.other_ca)}),
    }
    expected = {
        "wrong_password": ("refused", "check mqtt.username='dev1' and the password from $EDGE_MQTT_PW"),
        "anonymous": ("refused", "anonymous login"),
        "plain_to_tls_port": ("closed_early", "use mqtts://"),
        "unknown_ca": ("tls_error", "TLS certificate check failed"),
    }
    for link in links.values():
        link.start()
    try:
        # each keeps retrying (with backoff) and stays alive
        wait_until(lambda: all(link.status().failures >= 3 for link in links.values()), 30, "three attempts each")
        for name, link in links.items():
            state, hint = expected[name]
            st = link.status()
            assert (st.state, st.connected) == (state, False), (name, st)
            assert hint in st.last_error, (name, st.last_error)
            assert any(hint in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records), name
            assert link.conn.client._thread.is_alive(), f"{name}: the network loop died"
            assert link.conn.client._reconnect_delay == 2, f"{name}: no backoff (1 s doubled, capped at 2 s)"
    finally:
        for link in links.values():
            link.stop()
    assert "not-the-password" not in caplog.text
    assert all(link.status().state == "stopped" for link in links.values())


def test_missing_secret_or_tls_file_is_a_config_error(tmp_path, tls_material, monkeypatch):
    monkeypatch.delenv("EDGE_MQTT_PW", raising=False)
    with pytest.raises(ConfigError, match=r"mqtt.password_env: environment variable EDGE_MQTT_PW is not set"):
        _link("mqtts://127.0.0.1:1", tmp_path, "a", username="u", password_env="EDGE_MQTT_PW")
    with pytest.raises(ConfigError, match=r"mqtt.password_file: cannot read"):
        _link("mqtts://127.0.0.1:1", tmp_path, "b", username="u", password_file=str(tmp_path / "nope"))
    # ssl's own text ("[Errno 2] No such file or directory") named neither the key nor the file
    with pytest.raises(ConfigError, match=r"mqtt.tls.ca_file: cannot read \S*missing-ca.pem \(No such file"):
        _link("mqtts://127.0.0.1:1", tmp_path, "c", tls={"ca_file": str(tmp_path / "missing-ca.pem")})
    with pytest.raises(ConfigError, match=r"mqtt.tls.key_file: cannot read \S*missing.key \(No such file"):
        _link("mqtts://127.0.0.1:1", tmp_path, "d", tls={"ca_file": str(tls_material.ca),
                                                          "cert_file": str(tls_material.ca),
                                                          "key_file": str(tmp_path / "missing.key")})
    (tmp_path / "not-a-ca.pem").write_text("-----BEGIN NOTHING-----\n")
    with pytest.raises(ConfigError, match=r"mqtt.tls.ca_file: \S*not-a-ca.pem is not a PEM CA bundle"):
        _link("mqtts://127.0.0.1:1", tmp_path, "e", tls={"ca_file": str(tmp_path / "not-a-ca.pem")})


def test_a_password_sent_unencrypted_across_a_network_is_a_warning(tmp_path, monkeypatch, caplog):
    """``mqtt://`` with a password to another machine puts the password on the wire for anyone on the path, and
    nothing said so (a broker on this machine itself is no network)."""
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("EDGE_MQTT_PW", "pw-on-the-wire")
    for n, url in enumerate(("mqtt://192.0.2.7:1883", "mqtt://127.0.0.1:1883", "mqtt://localhost:1883",
                             "mqtt://[::1]:1883")):  # fmt: skip
        _link(url, tmp_path, f"d{n}", username=DEVICE_USER, password_env="EDGE_MQTT_PW").outbox.close()
    _link("mqtt://192.0.2.8:1883", tmp_path, "anonymous").outbox.close()  # no password: nothing to read
    said = [r for r in caplog.records if "goes unencrypted" in r.getMessage()]
    assert [(r.levelno, "mqtt://192.0.2.7:1883" in r.getMessage()) for r in said] == [(logging.WARNING, True)]
    assert "use mqtts://" in said[0].getMessage() and "pw-on-the-wire" not in caplog.text


def test_a_listener_that_never_answers_is_no_answer_not_a_tls_port(tmp_path):
    """Something that accepts the connection and never answers CONNECT (a hung broker, another service on that
    port, a proxy swallowing it): paho gives up after ``keepalive_s``, and the line said "plain mqtt:// to a TLS
    port? (use mqtts://)". A real listening socket that accepts and says nothing."""
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        link = _link(f"mqtt://127.0.0.1:{srv.getsockname()[1]}", tmp_path, "mute", keepalive_s=5)
        link.start()
        try:
            wait_until(lambda: link.status().failures >= 1, 30, "paho to give up on the silent listener")
            st = link.status()
        finally:
            link.stop()
    assert st.state == "unreachable" and "no answer to CONNECT within keepalive_s (5 s)" in st.last_error
    assert "mqtts" not in st.last_error


@pytest.mark.parametrize(("setting", "said"), [
    ("max_qos 0", "QoS not supported: the agent publishes at QoS 1"),
    ("retain_available false", "Retain not supported: the agent's status (its last will)"),
])  # fmt: skip
def test_a_connect_refused_for_what_the_agent_needs_says_what_it_needs(tmp_path, setting, said):
    """mosquitto refuses the CONNECT of a client whose last will is QoS 1 / retained under ``max_qos 0`` /
    ``retain_available false``; the line gave the bare reason."""
    from edge_agent.events.broker import LocalBroker
    from tests.events.conftest import _need_mosquitto

    _need_mosquitto()
    broker = LocalBroker(tmp_path / "broker")
    broker.config = broker.config_text() + setting + "\n"
    broker.start()
    st = first_failure(_link(broker.url(), tmp_path, "data"), broker, "the refused CONNECT")
    assert st.state == "closed_early" and said in st.last_error, st.last_error


def _forward(listener, upstream_port: int) -> None:
    """A TCP proxy in front of the broker (HAProxy, a cloud load balancer): it accepts every connection and, when the
    broker behind it is down, closes it at once."""
    import select
    import socket
    import threading

    def serve(client: socket.socket) -> None:
        with client:
            try:
                upstream = socket.create_connection(("127.0.0.1", upstream_port))
            except OSError:
                return  # the broker is down: the proxy just closes
            with upstream:
                while True:
                    ready, _, _ = select.select([client, upstream], [], [])
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (upstream if s is client else client).sendall(data)

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the test closed the listener
            threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def test_a_broker_down_behind_a_proxy_is_not_called_a_tls_port(tmp_path):
    """The broker behind a proxy restarts: the proxy accepts each reconnect and closes it. On an ``mqtt://`` link
    that answered before, the line said "plain mqtt:// to a TLS port? (use mqtts://)" at every attempt of the
    outage (measured: attempts 1, 10, 20 of a 40 s broker stop), sending the operator to change a setting that
    was right."""
    import socket

    from edge_agent.events.broker import LocalBroker
    from tests.events.conftest import _need_mosquitto

    _need_mosquitto()
    broker = LocalBroker(tmp_path / "broker").start()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        _forward(listener, broker.port)
        link = _link(f"mqtt://127.0.0.1:{listener.getsockname()[1]}", tmp_path, "behind-proxy")
        link.start()
        try:
            wait_until(lambda: link.status().state == "connected", what="the link to connect through the proxy")
            broker.stop()
            wait_until(lambda: link.status().state == "closed_early", 30, "a reconnect the proxy closes")
            st = link.status()
        finally:
            link.stop()
    assert "mqtts" not in st.last_error and "TLS port" not in st.last_error, st.last_error
    assert "answered on this address before" in st.last_error
