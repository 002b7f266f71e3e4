"""A command's ``operator`` and ``reason`` are a person's words: a NUL or another control character that is no
whitespace is refused naming the field, nothing acts; line breaks and tabs pass, as on the review page.

Why: a NUL went on into the lock's events, the outbox and ``events.jsonl`` as ``\\u0000``, which PostgreSQL's jsonb
refuses: one command's text could keep a device's event out of a backend's store."""

from __future__ import annotations

import json

import pytest

from tests.events.test_command_every_field import send


@pytest.mark.parametrize(("full", "field"), [("lock", "reason"), ("unlock", "operator"), ("lock-reset", "reason"),
                                             ("maintenance", "operator")])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x9b"])
def test_a_control_character_in_a_persons_words_is_refused_naming_the_field(full, field, char):
    reply, calls, unmoved = send(full, field, json.dumps(f"ok{char}text"))
    assert not reply["ok"] and reply["code"] == "schema_violation" and not calls and unmoved, reply
    assert reply["message"] == f"{field}: control character U+{ord(char):04X} is not text"


def test_line_breaks_and_tabs_are_words():
    reply, calls, _ = send("lock", "reason", json.dumps("NEV confirmed\tby phone\r\nsee ticket 12"), watched=True)
    assert reply["ok"] and calls, reply


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x85"])
def test_the_other_white_space_controls_pass_as_docs_mqtt_says(char):
    """docs/mqtt.md lists them: what the review page takes in a dismissal's reason, the same rule."""
    reply, calls, _ = send("lock", "reason", json.dumps(f"NEV{char}confirmed"), watched=True)
    assert reply["ok"] and calls, reply


@pytest.mark.parametrize(("raw", "said"), [
    ('"nonsense"', "ts: 'nonsense' is too short (ISO-8601 with offset;"),
    ("1765076000", "ts: 1765076000 is not of type 'string' (ISO-8601 with offset;"),
])
def test_a_field_refused_by_its_schema_says_what_it_takes(raw, said):
    """Probe newuser34, as a backend developer: a `ts` of 'nonsense' was refused as "ts: 'nonsense' is too short",
    which reads as a length to pad; the field's own description from its schema now follows."""
    reply, calls, unmoved = send("unlock", "ts", raw)
    assert reply["code"] == "schema_violation" and not calls and unmoved, reply
    assert reply["message"].startswith(said), reply


@pytest.mark.parametrize(("full", "field"), [("lock", "operator"), ("unlock", "reason")])
@pytest.mark.parametrize(("char", "name"), [("\u202e", "RIGHT-TO-LEFT OVERRIDE"), ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
                                            ("\u2069", "POP DIRECTIONAL ISOLATE"), ("\u200b", "ZERO WIDTH SPACE"),
                                            ("\u200f", "RIGHT-TO-LEFT MARK"), ("\ufeff", "ZERO WIDTH NO-BREAK SPACE")])
def test_an_invisible_character_that_reorders_or_hides_words_is_refused_naming_the_field(full, field, char, name):
    """Trojan Source (attacker41): an ``operator`` of ``"ops\\u202e nimda"`` was taken, and a log viewer, the page or
    a spreadsheet showed it as ``ops admin``; a zero-width space makes two operators' names look the same."""
    reply, calls, unmoved = send(full, field, json.dumps(f"ops{char} nimda"))
    assert not reply["ok"] and reply["code"] == "schema_violation" and not calls and unmoved, reply
    assert reply["message"] == f"{field}: invisible character U+{ord(char):04X} ({name}) is not text"


@pytest.mark.parametrize("words", ["\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "fixed \U0001f468\u200d\U0001f527"])
def test_the_joiners_words_need_pass(words):
    """ZWNJ parts Persian letters, ZWJ joins an emoji sequence: format characters words are written with."""
    reply, calls, _ = send("lock", "reason", json.dumps(words), watched=True)
    assert reply["ok"] and calls, reply
