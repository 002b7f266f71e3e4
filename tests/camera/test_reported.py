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


def test_an_event_id_with_anything_after_it_is_nothing_reported(tmp_path: Path, caplog) -> None:
    """The camera's own copy of the event-id rule (``re.match`` with ``$``) took an id with a line break after it,
    which the held events' copy refused: the next ``camera_aligned`` named a ``moved_event_id`` no event has. One
    rule now (``edge_agent.ids``), the whole text."""
    import json

    doc = {"version": 1, "state": "moved", "event_id": "0f6c1c4e-2b9a-4d55-9c1e-6a1d3f0b7e21", "ts": "2026-12-05T10:00:00+08:00",
           "kind": "shift", "data": {}, "bays": []}
    (tmp_path / "reported.json").write_text(json.dumps(doc), encoding="utf-8")
    assert ReportedState(tmp_path).load().event_id == doc["event_id"]
    for bad in (doc["event_id"] + "\n", doc["event_id"].upper(), " " + doc["event_id"]):
        (tmp_path / "reported.json").write_text(json.dumps({**doc, "event_id": bad}), encoding="utf-8")
        with caplog.at_level(logging.WARNING):
            assert ReportedState(tmp_path).load() is None, repr(bad)
