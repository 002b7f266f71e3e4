"""The session key file (``web.session_secret_file``): made where there is none, never written over.

The probe's finds: a file holding anything under 32 characters was replaced by a new key without a word (the
operator's file — or another secret the key was pointed at by mistake — gone); a binary one was a traceback.
"""

from __future__ import annotations

import pytest

from edge_agent.config.mqtt import SecretError
from edge_agent.config.web import SESSION_KEY_MIN
from edge_agent.web.auth import session_secret


def test_a_missing_or_empty_key_file_is_made_and_then_kept(tmp_path):
    missing, empty = tmp_path / "sub" / "k", tmp_path / "empty"
    empty.write_text("")  # a power cut between creating the file and writing the key
    for path in (missing, empty):
        key = session_secret(path)
        assert len(key) >= SESSION_KEY_MIN and path.read_text() == key + "\n"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert session_secret(path) == key


def test_an_operators_key_is_used_as_written(tmp_path):
    path = tmp_path / "k"
    path.write_bytes(b"\xef\xbb\xbf" + b"x" * SESSION_KEY_MIN + b"\r\n")  # Notepad's BOM and line end
    assert session_secret(path) == "x" * SESSION_KEY_MIN


@pytest.mark.parametrize(("content", "why"), [
    (b"operator-key-20chars\n", "holds 20 characters on its first line, and a session key is at least 32"),
    (b"\n" + b"x" * 40 + b"\n", "holds 0 characters on its first line"),
    (b"\x8f\x00\xfe" * 16, "is not UTF-8 text"),
])
def test_a_file_that_holds_no_key_is_refused_naming_the_key_and_never_written_over(tmp_path, content, why):
    path = tmp_path / "k"
    path.write_bytes(content)
    with pytest.raises(SecretError) as exc:
        session_secret(path)
    assert str(exc.value).startswith(f"web.session_secret_file: {path} {why}")
    assert path.read_bytes() == content
