"""``/metrics`` as ``run`` wires it: every documented figure moves with the running agent.

Before, ``edge_agent_camera_fps`` stayed 0 and ``edge_agent_inference_seconds`` empty on a camera
delivering 5 fps with the plate reader running: declared, documented, never fed."""

from __future__ import annotations

import pytest

from edge_agent.ops.metrics import AgentMetrics
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config


def test_fps_and_inference_follow_the_camera_and_the_reader(tmp_path, clock, models_dir) -> None:  # noqa: ANN001
    src = ScriptedSource(hold(3, EMPTY) + hold(10, Scene(cars=(FUEL,))) + hold(30, None), clock)
    parts = assemble(scene_config(str(tmp_path)), clock=clock, source=src, review=False)
    metrics = AgentMetrics()
    parts.export_metrics(metrics)
    value = metrics.registry.get_sample_value
    parts.start()
    try:
        run_scripted(parts.agent.step, clock, 13, 5)
        assert value("edge_agent_camera_fps") == pytest.approx(5.0, abs=0.3)
        runs = parts.agent.monitor.detector_runs
        assert runs > 0
        assert value("edge_agent_inference_seconds_count") == runs
        assert 0 < value("edge_agent_inference_seconds_sum") < 5 * runs
        run_scripted(parts.agent.step, clock, 10, 5)  # the camera is gone: no frame for 10 s
        assert value("edge_agent_camera_fps") == 0
        assert value("edge_agent_inference_seconds_count") == parts.agent.monitor.detector_runs
    finally:
        parts.stop()


def test_a_photo_the_writer_loses_to_an_error_is_counted_where_an_operator_sees_it(tmp_path, clock) -> None:  # noqa: ANN001
    """A full or read-only card counts in ``edge_agent_evidence_skipped``; any other error the photo writer met
    (here a file where the day's folder should be; "database is locked" or a folder gone alike) was counted only in
    ``PhotoWriter.failed``, which no metric or heartbeat showed (probe leftovers21)."""

    parts = assemble(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource([], clock), review=False,
                     photo_thread=True)
    metrics = AgentMetrics()
    parts.export_metrics(metrics)
    value = metrics.registry.get_sample_value
    writer, store = parts.agent.photo_writer, parts.agent.evidence
    assert writer is not None and value("edge_agent_evidence_failed") == 0
    try:
        (store.root / clock.now().strftime("%Y-%m-%d")).write_text("not a folder")  # ENOTDIR, not the card's space
        store.save("A", "v1", "vehicle_identified", b"\xff\xd8" + b"x" * 100 + b"\xff\xd9", None)
        assert writer.drain(timeout=30)
        assert writer.failed == 1 and value("edge_agent_evidence_failed") == 1
        assert value("edge_agent_evidence_skipped") == 0  # not the card's space
    finally:
        parts.stop()
        parts.agent.close()
