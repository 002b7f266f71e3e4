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
from tests.events.helpers import RecordingControl, make_config, wait_until

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
    assert none.state == "tls_error" and "requires a client certificate" in none.last_error
    assert "mqtt.tls.cert_file" in none.last_error
    assert untrusted.state == "tls_error" and "refused this device's client certificate" in untrusted.last_error
    assert str(bad_cert) in untrusted.last_error
    assert "mqtts://" not in caplog.text.replace(broker.url(), "")  # never "use mqtts://" on an mqtts:// link
