"""JSON Schemas of every MQTT payload, the contract shared with the backend.

The same files validate incoming commands at run time and every published payload in the
tests, so the documentation cannot drift from the code. ``date-time`` is checked as
ISO-8601 *with an offset* (naive timestamps are a bug on devices in other time zones).
"""

from __future__ import annotations

import json
from functools import lru_cache
from itertools import islice
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from edge_agent.clock import parse_iso

DIR = Path(__file__).resolve().parent

# Version of the payload contract (semantic: minor = compatible additions, major = a field removed or changed).
# Sent as the MQTT 5 user property ``schema-version`` on every publish and as ``info.version`` in docs/asyncapi.yaml.
SCHEMA_VERSION = "1.19.0"

# topic kind -> schema file
PAYLOAD_SCHEMAS = {
    "status": "status.json",
    "state": "bay-state.json",
    "event": "event.json",
    "health": "health.json",
    "reply": "reply.json",
    "discovery": "ha-discovery.json",
    "stats_daily": "stats-daily.json",
}


def command_schema(name: str) -> str:
    return f"cmd-{name}.json"


def sim_schema(name: str) -> str:
    return f"sim-{name}.json"


FORMATS = FormatChecker(formats=())


def _aware_iso(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return parse_iso(value).tzinfo is not None


FORMATS.checks("date-time", raises=ValueError)(_aware_iso)  # not as a decorator: it is untyped


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for path in DIR.glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((path.name, Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def validator(filename: str) -> Draft202012Validator:
    """A validator for one schema file (``$ref`` between the files resolves by file name)."""
    schema = _registry().contents(filename)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry(), format_checker=FORMATS)


QUOTE_MAX = 200  # characters of a received value that an error reply or a log line may repeat
# the errors read to say the first: each costs the validator about 60 µs, and a set-lists of 2 × 100,000 zeros (within
# the value cap, 0.4 MiB) made one per item, 11-16 s of the command thread, the largest valid one 2.5 s (review106)
ERRORS_READ = 64


def quote(value: object, limit: int = QUOTE_MAX) -> str:
    """``repr(value)`` cut to ``limit`` characters: a hostile 1 MB value is never echoed whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    # a list's length is its items: "(1500000 characters)" under a list of 1.5 million one-letter plates misled
    unit = "characters" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else "items"
    size = f"{len(value)} {unit}" if isinstance(value, (str, bytes, list, dict)) else "long"
    return f"{text[:limit]}… ({size})"


def clip(text: str, limit: int = 2 * QUOTE_MAX) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def first_error(filename: str, instance: object) -> str | None:
    """A one-line description of the first violation by path (of the first ``ERRORS_READ`` found), or None when valid
    (values quoted short)."""
    errors = sorted(islice(validator(filename).iter_errors(instance), ERRORS_READ), key=lambda e: list(e.path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.path) or "(payload)"
    message = e.message
    full = repr(e.instance)
    if len(full) > QUOTE_MAX and full in message:
        message = message.replace(full, quote(e.instance))
    if e.validator == "anyOf" and all(set(b) == {"required"} for b in e.validator_value):
        message = "needs at least one of: " + ", ".join(k for b in e.validator_value for k in b["required"])
    said = e.schema.get("description") if e.path and isinstance(e.schema, dict) else None
    if isinstance(said, str) and said:  # what the field takes: "ts: 'nonsense' is too short" alone read as a length
        message += f" ({said})"
    return clip(f"{clip(where, 80)}: {message}")
