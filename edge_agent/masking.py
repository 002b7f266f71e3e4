"""Credentials inside URLs, masked for display: ``rtsp://admin:pw@cam`` → ``rtsp://admin:***@cam``,
``http://cam/snap?user=a&password=pw`` → ``…&password=***``.

At the bottom of the import order (beside ``clock``) because every place that shows a camera source or a
broker URL needs the same rule: the log filter (``ops/logging_setup.py``), every config error
(``config/errors.py``), ``check-config``'s summary line, ``doctor``. A camera's RTSP URL carries its password,
and these texts reach terminals, tickets and logs.
"""

from __future__ import annotations

import re

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
