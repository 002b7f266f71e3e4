"""What an endpoint's answer means for the event at the head of a sink: delivered, try again, or refused.

Why three outcomes: a sink sends in order, so an event the endpoint will never take (its body is
what is wrong: 400, 413, 422 …) must not hold every later event behind it; it is retried a few
times (``refused_tries``: a receiver being redeployed can answer 400 for a minute) and then moved
to the dead letters. An answer that is about the endpoint, not the event — no such route (404),
a wrong or rotated key (401, 403), a method or resource gone (405, 410) — would refuse every
event alike, so those are retried like an outage: the queue waits, in order, until the URL or the
key is fixed, instead of draining into the dead letters. 408, 425, 429, 3xx (redirects are not
followed) and 5xx are "later". A robot's refusal (HTTP 200 with ``errcode`` ≠ 0) is "later" too:
their codes mix rate limits with keyword and IP rules that hold for every message.

``Retry-After`` (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) is read on 429 and 503 only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from edge_agent.notify.messages import robot_ok

Outcome = Literal["delivered", "retry", "refused"]
LATER_4XX = frozenset({408, 425, 429})  # timeout, too early, too many requests
ENDPOINT_4XX = frozenset({401, 403, 404, 405, 407, 410, 421})  # the endpoint or its key, not this event
RETRY_AFTER_ON = frozenset({429, 503})
_SECONDS = re.compile(r"^\d{1,12}(\.\d{1,6})?$")


@dataclass(frozen=True)
class Answer:
    """An endpoint's answer: status, the first bytes of its body, its ``Retry-After`` and ``Location`` headers."""

    status: int
    text: str
    retry_after: str | None = None
    location: str | None = None  # where a 3xx points (not followed: said in the sink's error)


def outcome(kind: str, answer: Answer) -> Outcome:
    if robot_ok(kind, answer.status, answer.text):
        return "delivered"
    s = answer.status
    if 400 <= s < 500 and s not in LATER_4XX and s not in ENDPOINT_4XX:
        return "refused"
    return "retry"


def retry_after_s(answer: Answer, now: datetime) -> float | None:
    """Seconds the endpoint asked us to wait, or None (no header, another status, or not a valid value).

    A date in the past means 0; the caller caps and floors the wait.
    """
    if answer.status not in RETRY_AFTER_ON or answer.retry_after is None:
        return None
    value = answer.retry_after.strip()
    if _SECONDS.match(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP-dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


__all__ = ["ENDPOINT_4XX", "LATER_4XX", "RETRY_AFTER_ON", "Answer", "Outcome", "outcome", "retry_after_s"]
