"""The page's certificate's end date (``web.tls``): a doctor row and a log warning, with certificates made by openssl
and the wall clock injected (an expired one: a clock past its end; one not valid yet: a clock before its start).

Before, the expiry was shown nowhere: an operator learned the certificate had expired when browsers refused the page."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge_agent.cert_dates import WARN_DAYS, validity
from edge_agent.clock import FakeClock
from edge_agent.config import load_config
from edge_agent.events.bus import EventBus
from edge_agent.ops.checks import Check
from edge_agent.ops.doctor import check_web_certificate, render_table
from edge_agent.web.cert_notices import CertificateNotices
from edge_agent.web.certs import ServedCertificate
from tests.ops.conftest import write_config  # noqa: F401 - a fixture
from tests.runtime.test_reload import _Watched
from tests.web.test_tls import make_cert

__all__ = ["write_config"]


def openssl_dates(cert: Path) -> tuple[datetime, datetime]:
    """What ``openssl x509`` says (the reference the parse is held to)."""
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-startdate", "-enddate"],
                         check=True, capture_output=True, text=True).stdout
    got = dict(line.split("=", 1) for line in out.splitlines())
    return tuple(datetime.strptime(got[k], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)  # type: ignore[return-value]
                 for k in ("notBefore", "notAfter"))


@pytest.mark.parametrize("days", [2, 20, 30000])  # 30000: past 2049, a GeneralizedTime instead of a UTCTime
def test_the_dates_read_are_openssls(tmp_path, days):
    cert, _ = make_cert(tmp_path, days=days)
    assert validity(str(cert)) == openssl_dates(cert)
    with_chain = tmp_path / "chain.crt"  # the page's certificate first, its chain after it: the first is read
    other, _ = make_cert(tmp_path / "ca", days=400)
    with_chain.write_text(cert.read_text() + other.read_text())
    assert validity(str(with_chain)) == openssl_dates(cert)


def test_a_file_that_is_no_certificate_says_so(tmp_path):
    bad = tmp_path / "bad.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")  # DER: SEQUENCE { 0 }
    with pytest.raises(ValueError, match="cannot read the certificate's dates"):
        validity(str(bad))


def tls_config(write_config, cert: Path, key: Path):
    return load_config(write_config(web={"enabled": True, "tls": {"cert_file": str(cert), "key_file": str(key)}}))


def test_the_doctor_row_passes_warns_and_fails_on_the_injected_clock(write_config, tmp_path):
    cert, key = make_cert(tmp_path / "tls", days=90)
    cfg = tls_config(write_config, cert, key)
    start, end = openssl_dates(cert)
    at = lambda t: (lambda: t)  # noqa: E731
    row = check_web_certificate(cfg, at(start + timedelta(days=1)))
    assert row == Check("web certificate", "pass", f"{cert}: valid until {end:%Y-%m-%d %H:%M} UTC")
    assert check_web_certificate(cfg, at(end - timedelta(days=WARN_DAYS) - timedelta(seconds=1))).status == "pass"
    row = check_web_certificate(cfg, at(end - timedelta(days=WARN_DAYS) + timedelta(seconds=1)))
    assert row.status == "warn" and f"expires on {end:%Y-%m-%d %H:%M} UTC, in 13 day(s)" in row.detail
    row = check_web_certificate(cfg, at(end))
    assert row.status == "fail" and f"expired on {end:%Y-%m-%d %H:%M} UTC" in row.detail
    row = check_web_certificate(cfg, at(end + timedelta(days=3650)))
    assert row.status == "fail" and "expired" in row.detail
    row = check_web_certificate(cfg, at(start - timedelta(seconds=1)))
    assert row.status == "fail" and f"not valid before {start:%Y-%m-%d %H:%M} UTC" in row.detail


def test_the_doctor_row_is_skipped_without_web_tls_and_the_table_counts_a_warning(write_config):
    assert check_web_certificate(load_config(write_config())).status == "skip"
    assert check_web_certificate(load_config(write_config(web={"enabled": True}))).status == "skip"
    rows = [Check("disk", "pass", "ok"), Check("web certificate", "warn", "soon")]
    assert render_table(rows).splitlines()[-1] == "no check failed; 1 warned: web certificate"
    rows.append(Check("clock", "fail", "no"))
    assert render_table(rows).splitlines()[-1] == "1 failed: clock; 1 warned: web certificate"


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "web.tls" in r.getMessage()]


def test_the_log_warns_at_start_and_when_a_renewed_pair_is_served(tmp_path, caplog):
    cert, key = make_cert(tmp_path / "tls", days=10)
    _, end = openssl_dates(cert)
    now = [end - timedelta(days=10) + timedelta(hours=1)]
    with caplog.at_level(logging.INFO, "edge_agent.web"):
        pair = ServedCertificate(str(cert), str(key), now=lambda: now[0])
        assert warnings_of(caplog) == [f"web.tls: the certificate in {cert} expires on {end:%Y-%m-%d %H:%M} UTC, in "
                                       "9 day(s) 23 h: renew it (certbot renew; docs/web.md#https)"]
        caplog.clear()
        fresh = make_cert(tmp_path / "new", days=90)  # renewed: 90 days, no warning
        os.replace(fresh[0], cert)
        os.replace(fresh[1], key)
        assert pair.reload() and warnings_of(caplog) == []
        old = make_cert(tmp_path / "old", days=90)  # a renewal whose certificate has expired by the clock
        os.replace(old[0], cert)
        os.replace(old[1], key)
        now[0] = end + timedelta(days=400)
        assert pair.reload()
        got = warnings_of(caplog)
        assert len(got) == 1 and "expired on" in got[0] and "browsers refuse the page" in got[0], got
        caplog.clear()
        assert not pair.reload() and warnings_of(caplog) == []  # the same files: not said again


def test_no_warning_for_a_certificate_far_from_its_end(tmp_path, caplog):
    cert, key = make_cert(tmp_path / "tls", days=90)
    start, _ = openssl_dates(cert)
    with caplog.at_level(logging.INFO, "edge_agent.web"):
        ServedCertificate(str(cert), str(key), now=lambda: start + timedelta(days=1))
    assert warnings_of(caplog) == []


def test_doctor_with_only_a_warning_exits_0_and_shows_it(write_config, tmp_path, capsys):
    """A WARN needs a hand soon but works today: ``install.sh`` and scripts that stop on exit 1 go on. (The
    certificate and the row read the same wall clock here: 10 days left is a WARN however long the run takes.)"""
    from edge_agent.cli import main

    cert, key = make_cert(tmp_path / "tls", days=10)
    config = write_config(web={"enabled": True, "tls": {"cert_file": str(cert), "key_file": str(key)}})
    # a user: with none the web row warns too ("nobody can sign in", probe newuser41), and this counts one warning
    (config.parent / "users.txt").write_text("ana:$argon2id$x:reviewer\n", encoding="utf-8")
    skip = [a for name in ("camera", "models", "onnx providers", "broker", "gpio", "service sandbox", "clock")
            for a in ("--skip", name)]
    assert main(["doctor", "--config", str(config), *skip]) == 0
    out = capsys.readouterr().out
    assert "web certificate" in out and " WARN " in out and "in 9 day(s)" in out
    assert out.splitlines()[-1] == "no check failed; 1 warned: web certificate"


def test_a_long_running_page_warns_once_as_its_certificate_nears_its_end_and_once_more_when_it_expires(tmp_path, caplog):
    """No restart and no renewal for weeks (certbot failing quietly): the minute's look at the files says it."""
    cert, key = make_cert(tmp_path / "tls", days=30)
    start, end = openssl_dates(cert)
    now = [start + timedelta(days=1)]
    with caplog.at_level(logging.INFO, "edge_agent.web"):
        pair = ServedCertificate(str(cert), str(key), now=lambda: now[0])
        assert not pair.reload() and warnings_of(caplog) == []
        now[0] = end - timedelta(days=WARN_DAYS - 1)
        assert not pair.reload() and not pair.reload()
        got = warnings_of(caplog)
        assert len(got) == 1 and "in 13 day(s) 0 h" in got[0], got
        now[0] = end + timedelta(minutes=1)
        pair.reload()
        pair.reload()
        got = warnings_of(caplog)
        assert len(got) == 2 and "expired on" in got[1], got


def test_a_check_and_a_renewal_at_the_same_moment_announce_the_renewed_state_last(tmp_path):
    """A connection's check (the certificate has just entered its last days) and a renewal tell the notices at the
    same moment. The check read ``expiring`` outside the lock, the renewal announced its ``valid`` (nothing to say:
    ``valid`` was told), then the check announced its stale ``expiring`` last: the backend was told a renewed
    certificate was about to expire. The read, the compare and the queueing are one step under the lock now, the
    publishing outside it in that order."""
    cert, key = make_cert(tmp_path / "tls", days=30)
    renewed, renewed_key = make_cert(tmp_path / "renewed", days=90)
    start, end = openssl_dates(cert)
    now = [start + timedelta(days=1)]
    reading, go_on, through = threading.Event(), threading.Event(), threading.Event()
    check: threading.Thread | None = None  # the check's thread, below

    def wall() -> datetime:
        seen = now[0]
        if threading.current_thread() is check and not reading.is_set():
            reading.set()  # the check has read the old certificate's dates and the time: it is "expiring"
            go_on.wait()
        return seen

    bus, clock = EventBus(), FakeClock()
    told: list[str] = []
    bus.subscribe(lambda e: told.append(e.data["state"]))
    pair = ServedCertificate(str(cert), str(key), now=wall)
    notices = CertificateNotices(pair, bus, clock)
    statuses: list[str] = []
    notices.on_status.append(lambda: statuses.append(notices.status()["web_certificate"]["state"]))
    notices.started()  # valid: nothing to announce
    notices._lock = _Watched(through)  # type: ignore[assignment]
    now[0] = end - timedelta(days=WARN_DAYS - 1)
    checking = threading.Thread(target=notices._changed)  # as the served certificate tells its listeners
    check = checking
    checking.start()
    reading.wait()

    def renew() -> None:
        assert pair.switch(str(renewed), str(renewed_key))  # the reload: the renewed pair served, told
        through.set()

    renewal = threading.Thread(target=renew)
    renewal.start()
    through.wait()  # the renewal has told (the old code), or waits for the check's lock (now)
    go_on.set()
    checking.join()
    renewal.join()
    notices.stop()  # what was queued is published (on the notices' own thread)
    assert told == ["expiring", "valid"]
    assert statuses[-1] == notices.status()["web_certificate"]["state"] == "valid"
