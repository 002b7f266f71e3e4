"""Credentials inside URLs, masked for display: ``rtsp://admin:pw@cam`` → ``rtsp://admin:***@cam``,
``http://cam/snap?user=a&password=pw`` → ``…&password=***``.

At the bottom of the import order (beside ``clock``) because every place that shows a camera source or a
broker URL needs the same rule: the log filter (``ops/logging_setup.py``), every config error
(``config/errors.py``), ``check-config``'s summary line, ``doctor``. A camera's RTSP URL carries its password,
and these texts reach terminals, tickets and logs.
"""

from __future__ import annotations

import re
from typing import Iterable

MASK = "***"
# The password runs to the last "@" before the host (an unencoded "@" in it, which FFmpeg reads so, left its end
# shown: rtsp://admin:***@ss@cam).
URL_CREDENTIALS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)([^\s/]+?)(?=@[^@\s/?#]*(?:[/\s?#]|$))")
# query parameters that carry a secret (some cameras and brokers take ?user=…&password=…; a DingTalk robot's
# 加签 request carries ?timestamp=…&sign=…, which httpx's own INFO line "HTTP Request: POST <url>" logged)
URL_QUERY_SECRETS = re.compile(
    r"(?i)([?&;](?:password|passwd|pass|pwd|secret|token|access_token|api[_-]?key|key|sig|sign|signature)=)"
    r"([^&#;\s'\"]+)")


def mask_url_credentials(text: str) -> str:
    text = URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK, text)
    return URL_QUERY_SECRETS.sub(lambda m: m.group(1) + MASK, text)


# A known secret at least this long is masked wherever it appears; a shorter one only where it stands as a value.
# Why: a broker password "edge" or "123" masked by substring garbled the log ("/var/lib/***-agent",
# "***4 events"), and an 8-character run of a real password inside unrelated text is all but impossible.
SUBSTRING_MIN = 8
# where a short secret is a value: after "=" or ":" (password=ab, "pwd": "ab", key: ab; a quote after them
# allowed), ending at the end, a space, a quote or a separator; or quoted whole ('ab' in a repr). URL userinfo is
# URL_CREDENTIALS's.
_VALUE = r"(=['\"]?|:\s*['\"]|:\s+)({s})(?=$|[\s'\",;&)\]}}#])|(['\"])({s})(?=\3)"


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each known secret value masked: one of :data:`SUBSTRING_MIN` characters or more wherever it
    appears, a shorter one only where it stands as a value (``password=ab``, ``"pwd": "ab"``, ``'ab'``)."""
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(s) >= SUBSTRING_MIN:
            text = text.replace(s, MASK)
        else:
            text = re.sub(_VALUE.format(s=re.escape(s)), lambda m: (m.group(1) or m.group(3)) + MASK, text)
    return text
