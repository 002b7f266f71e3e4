"""When the page's certificate (``web.tls.cert_file``) is valid: its notBefore and notAfter, read from the PEM.

Why a parse of our own: the standard library reads a certificate's dates only through a private function
(``ssl._ssl._test_decode_cert``) or for CA certificates (``SSLContext.get_ca_certs``: a certbot leaf is none),
``cryptography`` is no dependency of the agent, and ``openssl x509`` would be a subprocess at run time. The
dates sit at a fixed place in every X.509 certificate (RFC 5280 §4.1): the fifth field of ``tbsCertificate``
(the fourth without the optional ``[0] version``), so walking four DER headers finds them.
"""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone

WARN_DAYS = 14  # certbot renews 30 days ahead: a certificate this close to its end was not renewed


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``at``."""
    tag, length = der[at], der[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        if not 0 < n <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[at:at + n], "big")
        at += n
    if at + length > len(der):
        raise ValueError("truncated DER")
    return tag, at, at + length


def _time(tag: int, text: bytes) -> datetime:
    """UTCTime (YYMMDDHHMMSSZ; years 50–99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 writes them."""
    s = text.decode("ascii")
    if tag == 0x17:
        year = int(s[:2])
        s = f"{1900 + year if year >= 50 else 2000 + year}{s[2:]}"
    elif tag != 0x18:
        raise ValueError(f"a validity time of tag {tag:#x}")
    return datetime.strptime(s, "%Y%m%d%H%M%SZ").replace(tzinfo=timezone.utc)


def validity(cert_file: str) -> tuple[datetime, datetime]:
    """The first certificate's (the page's own, the chain after it) notBefore and notAfter, in UTC."""
    with open(cert_file, encoding="ascii") as f:
        pem = f.read()
    end = pem.find(ssl.PEM_FOOTER)
    if end < 0:
        raise ValueError(f"{cert_file}: no PEM certificate")
    der = ssl.PEM_cert_to_DER_cert(pem[:end + len(ssl.PEM_FOOTER)])
    try:
        _, at, _ = _tlv(der, 0)  # Certificate
        _, at, _ = _tlv(der, at)  # tbsCertificate
        tag, _, after = _tlv(der, at)
        if tag == 0xA0:  # [0] version: then serialNumber
            at = after
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, at = _tlv(der, at)
        _, at, _ = _tlv(der, at)  # validity
        tag, start, end_ = _tlv(der, at)
        not_before = _time(tag, der[start:end_])
        tag, start, end_ = _tlv(der, end_)
        return not_before, _time(tag, der[start:end_])
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{cert_file}: cannot read the certificate's dates ({exc})") from None


def state_of(not_before: datetime, not_after: datetime, now: datetime) -> str:
    """``"valid"``, ``"expiring"`` (under ``WARN_DAYS`` left), ``"expired"`` or ``"not_yet_valid"``: what the MQTT
    status and the ``web_certificate`` event say of it."""
    if now >= not_after:
        return "expired"
    if now < not_before:
        return "not_yet_valid"
    return "expiring" if not_after - now < timedelta(days=WARN_DAYS) else "valid"


def expiry_problem(not_before: datetime, not_after: datetime, now: datetime) -> tuple[str, str] | None:
    """("fail" | "warn", what) when browsers refuse the certificate now or will within ``WARN_DAYS``; else None."""
    if now >= not_after:
        return "fail", f"expired on {not_after:%Y-%m-%d %H:%M} UTC: browsers refuse the page"
    if now < not_before:
        return "fail", (f"not valid before {not_before:%Y-%m-%d %H:%M} UTC: browsers refuse the page "
                        "(or this device's clock is behind)")
    left = not_after - now
    if left < timedelta(days=WARN_DAYS):
        return "warn", (f"expires on {not_after:%Y-%m-%d %H:%M} UTC, in {left.days} day(s) "
                        f"{left.seconds // 3600} h: renew it (certbot renew; docs/web.md#https)")
    return None
