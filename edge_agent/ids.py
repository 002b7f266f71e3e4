"""The event id as the agent writes it: a UUID's text in lower case (``uuid.uuid4()``, as ``Event.make`` makes it).

At the bottom of the import order because the files the agent reads back and others may write check it — the
camera's ``reported.json`` (``camera``) and the held events (``evidence``) — and one rule keeps them from drifting
apart: the camera's copy took an id with a line break after it (``re.match`` with ``$``).
"""

from __future__ import annotations

import re

UUID_TEXT = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID = re.compile(UUID_TEXT)


def is_uuid(value: object) -> bool:
    """Whether ``value`` is an event id's text, whole (nothing before or after it, not even a line break)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
