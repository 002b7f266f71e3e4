"""camera/reported.json read at the start: a file the agent did not write as it is is nothing reported, never a
crash of the start (review13)."""

from __future__ import annotations

import logging
from pathlib import Path

from edge_agent.camera.reported import ReportedState


def test_deeply_nested_file_is_nothing_reported(tmp_path: Path, caplog) -> None:
    """``[[[[…`` deeper than the parser's stack was json's RecursionError out of CameraWatch(): the agent did not
    start while the file was there."""
    (tmp_path / "reported.json").write_bytes(b"[" * 200_000)
    with caplog.at_level(logging.WARNING):
        assert ReportedState(tmp_path).load() is None
    assert "nothing taken as reported" in caplog.text


def test_oversized_file_is_not_read_whole(tmp_path: Path, caplog) -> None:
    """The agent's own file is a few hundred bytes: a huge one is not loaded into memory to be parsed."""
    big = tmp_path / "reported.json"
    with big.open("wb") as f:
        f.write(b'{"version": 1, "pad": "')
        f.truncate(64 * 1024 * 1024)  # sparse: 64 MB without writing them
    with caplog.at_level(logging.WARNING):
        assert ReportedState(tmp_path).load() is None
    assert "too large" in caplog.text
