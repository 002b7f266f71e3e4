"""Mutual TLS against a mosquitto that requires a client certificate (``require_certificate true``)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import BrokerTls, LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from tests.events.helpers import RecordingControl, first_failure, make_config, wait_until

pytestmark = pytest.mark.broker


def _client_cert(tls_material, out: Path, ca: str) -> tuple[Path, Path]:
    """A device certificate signed by the fixture's ``ca`` or ``other-ca``."""
    d = tls_material.ca.parent
    out.mkdir()
    run = lambda *a: subprocess.run(["openssl", *a], cwd=out, check=True, capture_output=True)  # noqa: E731
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "dev.key", "-out", "dev.csr", "-subj", "/CN=dev1")
    run("x509", "-req", "-in", "dev.csr", "-CA", str(d / f"{ca}.crt"), "-CAkey", str(d / f"{ca}.key"),
        "-CAcreateserial", "-out", "dev.crt", "-days", "2")  # fmt: skip
    return out / "dev.crt", out / "dev.key"


def test_a_missing_or_untrusted_client_certificate_is_named_never_called_plain_mqtt(tls_material, tmp_path, caplog):
    """Before, both read "connection closed before the broker answered: plain mqtt:// to a TLS port? (use
    mqtts://)" on an mqtts:// link (TLS 1.3 refuses the client's certificate after the handshake): an operator
    was sent to change a URL that was right, and nothing named the certificate."""
    caplog.set_level(logging.INFO)
    m = tls_material
    broker = LocalBroker(tmp_path / "broker", tls=BrokerTls(m.ca, m.cert, m.key, require_certificate=True)).start()
    good_cert, good_key = _client_cert(m, tmp_path / "good", "ca")
    bad_cert, bad_key = _client_cert(m, tmp_path / "bad", "other-ca")
    ca = str(m.ca)
    links = {
        "good": {"ca_file": ca, "cert_file": str(good_cert), "key_file": str(good_key)},
        "none": {"ca_file": ca},
        "untrusted": {"ca_file": ca, "cert_file": str(bad_cert), "key_file": str(bad_key)},
    }
    built = {name: build_mqtt(make_config(broker.url(), tmp_path / name, reconnect_min_s=1, reconnect_max_s=1,
                                          client_id=f"dev-{name}", tls=tls), EventBus(), RecordingControl(),
                              FakeClock(), no_health) for name, tls in links.items()}  # fmt: skip
    for link in built.values():
        link.start()
    try:
        wait_until(lambda: built["good"].status().connected, what="mutual TLS with a good certificate")
        wait_until(lambda: all(built[n].status().failures >= 2 for n in ("none", "untrusted")), 20, "two attempts")
        none, untrusted = built["none"].status(), built["untrusted"].status()
    finally:
        for link in built.values():
            link.stop()
        broker.stop()
    # the TLS alert names the cause (tls_error); when a reset lost it (the broker closed before reading our
    # CONNECT: now and then under load) the line still asks about the certificate (closed_early)
    assert none.state in ("tls_error", "closed_early") and "client certificate" in none.last_error
    assert "mqtt.tls.cert_file" in none.last_error
    assert untrusted.state in ("tls_error", "closed_early") and "client certificate" in untrusted.last_error
    assert str(bad_cert) in untrusted.last_error
    assert "mqtts://" not in caplog.text.replace(broker.url(), "")  # never "use mqtts://" on an mqtts:// link


def test_a_broker_name_its_certificate_does_not_carry_is_refused_and_turning_the_check_off_is_loud(
        tls_material, tmp_path, caplog):  # fmt: skip
    """A certificate from the right CA for another name (another device's, a copied one) is refused; with
    ``mqtt.tls.check_hostname: false`` it is taken, and that was silent: now a warning at start and in the
    doctor's broker row."""
    from edge_agent.ops.broker_check import check_brokers

    caplog.set_level(logging.INFO)
    m = tls_material
    d = tmp_path / "other-name"
    d.mkdir()
    run = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)  # noqa: E731
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=other.example")
    (d / "ext.cnf").write_text("subjectAltName=DNS:other.example\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", str(m.ca), "-CAkey", str(m.ca.parent / "ca.key"), "-CAcreateserial",
        "-out", "srv.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    broker = LocalBroker(tmp_path / "broker", tls=BrokerTls(m.ca, d / "srv.crt", d / "srv.key")).start()
    configs = {check: make_config(broker.url(), tmp_path / f"data-{check}", reconnect_min_s=1, reconnect_max_s=1,
                                  client_id=f"dev-{check}", tls={"ca_file": str(m.ca), "check_hostname": check})
               for check in (True, False)}  # fmt: skip
    links = {check: build_mqtt(cfg, EventBus(), RecordingControl(), FakeClock(), no_health)
             for check, cfg in configs.items()}  # fmt: skip
    warned = [r for r in caplog.records if "check_hostname is false" in r.getMessage()]
    for link in links.values():
        link.start()
    try:
        wait_until(lambda: links[False].status().connected, what="the unchecked link to connect")
        wait_until(lambda: links[True].status().failures >= 1, what="the checked link to fail")
        checked = links[True].status()
        doctor = check_brokers(configs[False])[0]
    finally:
        for link in links.values():
            link.stop()
        broker.stop()
    assert checked.state == "tls_error" and "certificate check failed" in checked.last_error
    assert not checked.connected
    assert [r.levelno for r in warned] == [logging.WARNING]  # the unchecked one only, at start
    assert doctor.status == "pass" and "WITHOUT the name check" in doctor.detail


def test_a_broker_certificate_outside_its_dates_points_at_the_clock_not_the_ca_file(tls_material, tmp_path):
    """A Pi without a real-time clock boots at its last shutdown's time (or 1970) until NTP sets it: every broker
    certificate then reads "not yet valid" or "expired", and the hint said "check mqtt.tls.ca_file and the
    broker's name", both right. Here the broker's certificate expired in 2020 (made with ``openssl ca``, which
    takes the dates)."""
    m = tls_material
    d = tmp_path / "ca"
    d.mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "ca.cnf").write_text(f"""[ca]
default_ca = here
[here]
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
""")
    run = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)  # noqa: E731
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1")  # fmt: skip
    run("ca", "-batch", "-config", "ca.cnf", "-cert", str(m.ca), "-keyfile", str(m.ca.parent / "ca.key"),
        "-in", "srv.csr", "-out", "srv.crt", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z")  # fmt: skip
    broker = LocalBroker(tmp_path / "broker", tls=BrokerTls(m.ca, d / "srv.crt", d / "srv.key")).start()
    link = build_mqtt(make_config(broker.url(), tmp_path / "data", reconnect_min_s=1, reconnect_max_s=1,
                                  tls={"ca_file": str(m.ca)}), EventBus(), RecordingControl(), FakeClock(),
                      no_health)  # fmt: skip
    st = first_failure(link, broker, "the refused certificate")
    assert st.state == "tls_error" and "certificate has expired at this device's clock" in st.last_error
    assert "is the clock right" in st.last_error and "ca_file" not in st.last_error


def test_the_doctors_broker_row_names_a_client_certificate_the_broker_requires(tls_material, tmp_path):
    """The doctor's row said "connection closed by the broker before CONNACK" alone."""
    from edge_agent.ops.broker_check import check_brokers

    m = tls_material
    broker = LocalBroker(tmp_path / "broker", tls=BrokerTls(m.ca, m.cert, m.key, require_certificate=True)).start()
    try:
        row = check_brokers(make_config(broker.url(), tmp_path / "data", tls={"ca_file": str(m.ca)}))[0]
    finally:
        broker.stop()
    assert row.status == "fail" and "client certificate" in row.detail and "mqtt.tls.cert_file" in row.detail
