"""edge-agent replay: a video file through the run pipeline on clip time, events in the site's zone,
then scored by eval-visits (real models, real file, no sleeping)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.cli import main
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, drive, hold, scene_config
from edge_agent.sim.synthetic import H, W, render
from tests.camera.test_unopened import cut_recording

NATIVE_FPS = 10


def write_clip(path: Path, segments, noise: float = 0.0) -> float:  # noqa: ANN001
    """``noise``: a sensor's grain (grey-level σ) on every frame; without it a still scene is a frozen camera."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), NATIVE_FPS, (W, H))
    rng = np.random.default_rng(7)
    t = 0.0
    for s in segments:
        for _ in range(max(1, round(s.seconds * NATIVE_FPS))):
            img = render(s.scene)
            if noise:
                img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
            w.write(img)
        t += s.seconds
    w.release()
    return t


def _replay_a_visit(tmp_path, models_dir, timezone: str, start: str):  # noqa: ANN001, ANN202
    """A fuel car drives into bay B, stays 14 s and leaves, in a 10 fps file, replayed from ``start`` in
    ``timezone``: (the output's lines, the clip's length, the output's path)."""
    covered = Scene(cars=(FUEL,))
    segs = (hold(4, EMPTY) + drive(FUEL, W + 200, FUEL.x, 1.6, NATIVE_FPS) + hold(14, covered)
            + drive(FUEL, FUEL.x, W + 200, 1.6, NATIVE_FPS) + hold(12, EMPTY))
    clip = tmp_path / "clip.avi"
    length = write_clip(clip, segs)
    cfg = scene_config(str(tmp_path / "data"), site={"site_id": "s", "device_id": "d", "timezone": timezone},
                       perception={"models_dir": str(models_dir), "threads": 1})
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(cfg_path), str(clip), "-o", str(out), "--start", start]) == 0
    return [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()], length, out


def test_replay_plays_a_file_on_clip_time_and_eval_visits_scores_it(tmp_path, models_dir, capsys):
    lines, length, out = _replay_a_visit(tmp_path, models_dir, "America/Sao_Paulo", "2026-05-01T08:00:00")
    assert lines[0]["type"] == "replay_started" and lines[0]["ts"] == "2026-05-01T08:00:00.000-03:00"
    assert lines[0]["bays"] == ["A", "B"]  # eval-visits names truth bays the config does not have
    from edge_agent.config.load import load_config  # the marker names the config file played, as run's status does
    assert lines[0]["config_hash"] == load_config(out.parent / "site.yaml").config_hash != ""
    done = lines[-1]
    assert done["type"] == "replay_finished" and done["clip_s"] == pytest.approx(length, abs=0.3)
    assert done["frames"] == pytest.approx(length * 5, abs=2)  # sampled at camera.fps 5, not the file's 10
    events = [x for x in lines if x.get("kind") == "event" and x["type"].startswith("vehicle_")]
    assert [(e["type"], e["bay_id"]) for e in events[:1]] == [("vehicle_arrived", "B")]
    assert all(e["ts"].endswith("-03:00") for e in events)  # the site's zone, not the host's
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nB,4.8,20.6\n")
    assert main(["occupancy", "eval-visits", str(truth), str(out), "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())["total"]
    assert (r["visits_found"], r["false_arrivals"], r["false_departures"]) == (1, 0, 0)
    assert 0 < r["arrival_latency_s"]["mean"] <= 3 + 1.6  # arrival_confirm_s 3 (+ the drive in)
    assert 0 < r["departure_latency_s"]["mean"] <= 5 + 1.6 + 1  # departure_confirm_s 5
    # the bay state follows the events, so the confirm times are its only disagreement (~8 of 33 s)
    assert r["accuracy"] > 0.7
    assert "TOTAL" in capsys.readouterr().out


def test_the_replay_marker_names_the_config_file_that_was_read(tmp_path):
    """docs/occupancy.md: `replay_started` carries `config_hash`, as the MQTT status does for `run`, so two
    replays can be told apart by the config they ran; the replay's rewritten copy of the config had none ("")."""
    from edge_agent.config.load import load_config
    from edge_agent.runtime.replay import replay_config

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(scene_config(str(tmp_path / "data")).model_dump(mode="json"), allow_unicode=True),
                 encoding="utf-8")
    cfg = load_config(p)
    assert len(cfg.config_hash) == 16
    assert replay_config(cfg, "clip.mp4", tmp_path / "replay").config_hash == cfg.config_hash


def test_a_replay_sends_nothing_to_the_site_s_notification_sinks(tmp_path):
    """Replaying footage with the site's config posted its events to the sinks (a webhook on loopback got the
    replay's two arrivals and its violation, stamped now): a WeCom group would be told of violations that were
    over long ago. Like MQTT, a replay notifies nobody."""
    from edge_agent.config.load import load_config
    from edge_agent.runtime.replay import replay_config

    data = scene_config(str(tmp_path / "data")).model_dump(mode="json")
    data["notify"]["sinks"] = [{"name": "managers", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
                                "events": ["violation_started"]}]
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cfg = load_config(p)
    assert len(cfg.notify.sinks) == 1
    rc = replay_config(cfg, "clip.mp4", tmp_path / "replay")
    assert rc.notify.sinks == [] and not rc.mqtt.enabled and not rc.web.enabled and rc.locks == []


def test_replay_names_a_missing_source(tmp_path, capsys):
    cfg = scene_config(str(tmp_path / "data"))
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    assert main(["replay", str(p), str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "e.jsonl")]) == 2
    assert "nope.mp4" in capsys.readouterr().err


def test_a_folder_whose_images_are_in_subfolders_says_so(tmp_path, capsys):
    """A camera's export in one folder per day (``clip/day1/0001.jpg``): "cannot open clip as video or image
    folder" sent its owner looking for a broken file. A folder is not read into: the message says so and names
    the subfolders that hold images; a folder with nothing to play says it is empty of images."""
    cfg = scene_config(str(tmp_path / "data"))
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    clip = tmp_path / "clip"
    for day in ("day2", "day1"):
        (clip / day).mkdir(parents=True)
        cv2.imwrite(str(clip / day / "0001.jpg"), render(EMPTY))
    (clip / "notes.txt").write_text("x", encoding="utf-8")
    assert main(["replay", str(p), str(clip), "-o", str(tmp_path / "e.jsonl")]) == 2
    assert capsys.readouterr().err == (f"replay: no images in the folder {clip}: its subfolders day1, day2 hold "
                                       "some, and a folder is not read into (name one of them)\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["replay", str(p), str(empty), "-o", str(tmp_path / "e.jsonl")]) == 2
    assert capsys.readouterr().err == f"replay: no images in the folder {empty}\n"


def test_a_replay_that_cannot_start_leaves_the_events_file_of_the_last_one_as_it_was(tmp_path, models_dir, capsys):
    """``replay site.yaml missing.mp4 -o ev.jsonl`` emptied ev.jsonl (the events of the last replay, 18 bytes → 0),
    then said the clip was missing; so did a clip that is no video and a config whose calibration the agent refuses.
    Every input is opened before the events file is touched."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier

    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)})
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text('{"kind": "marker", "type": "replay_started"}\n', encoding="utf-8")
    before = events.read_bytes()
    not_video = tmp_path / "clip.mp4"
    not_video.write_text("not a video", encoding="utf-8")
    cut = tmp_path / "cut.mp4"  # a recording cut off: "cannot open … as video" sent its owner looking for a codec
    cut_recording(cut)
    for source, says in ((tmp_path / "nope.mp4", "no such file or folder"), (not_video, "cannot open"),
                         (cut, "without its index (no moov box)")):
        assert main(["replay", str(p), str(source), "-o", str(events)]) == 2
        assert says in capsys.readouterr().err
        assert events.read_bytes() == before
    site = BayClassifier.load(SITE_MODEL)  # a calibration made for another model than the one the config names
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(tmp_path / "cal.json")
    refused = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                           occupancy={"model": "occupancy.onnx", "calibration": str(tmp_path / "cal.json")})
    p.write_text(yaml.safe_dump(refused.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    clip = tmp_path / "clip.avi"
    write_clip(clip, hold(1, EMPTY))
    assert main(["replay", str(p), str(clip), "-o", str(events)]) == 2
    assert "occupancy.calibration" in capsys.readouterr().err
    assert events.read_bytes() == before
    assert main(["replay", str(p), str(clip), "-o", str(tmp_path)]) == 2  # a folder: said before the work
    assert capsys.readouterr().err == f"replay: --events {tmp_path} is a folder: name a file\n"


def test_replay_keeps_the_runs_calibration_and_the_model_it_brings(tmp_path, models_dir):
    """The replay moves data_dir: a calibration named relative to the run's data_dir is still found, and a
    config that sets only the calibration still runs the model the calibration was made for."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier
    from edge_agent.config.load import parse_config
    from edge_agent.runtime.models import default_classifier
    from edge_agent.runtime.replay import replay_config

    site = BayClassifier.load(SITE_MODEL)
    (tmp_path / "data").mkdir()
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(
        tmp_path / "data" / "cal.json")
    data = {"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "x"}, "data_dir": str(tmp_path / "data"),
            "bays": [{"id": "A", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}],
            "perception": {"models_dir": str(models_dir)}, "occupancy": {"calibration": "cal.json"}}
    rc = replay_config(parse_config(data, "site.yaml"), "clip.mp4", tmp_path / "replay")
    assert rc.occupancy.calibration == str(tmp_path / "data" / "cal.json")
    clf = default_classifier(rc)
    assert clf.model_sha256 == site.model_sha256 and clf.calibration is not None


def test_a_replay_the_config_refuses_leaves_no_start_marker(tmp_path, models_dir, capsys):
    """No marker, so eval-visits cannot score an empty replay as if the clip had played."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier

    site = BayClassifier.load(SITE_MODEL)
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(tmp_path / "cal.json")
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                       occupancy={"model": "occupancy.onnx", "calibration": str(tmp_path / "cal.json")})
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    clip = tmp_path / "clip.avi"
    write_clip(clip, hold(1, EMPTY))
    out = tmp_path / "e.jsonl"
    assert main(["replay", str(p), str(clip), "-o", str(out)]) == 2
    assert "occupancy.calibration" in capsys.readouterr().err
    assert "replay_started" not in (out.read_text() if out.exists() else "")
    (tmp_path / "t.csv").write_text("bay_id,start_s,end_s\nB,1,2\n")
    assert main(["occupancy", "eval-visits", str(tmp_path / "t.csv"), str(out)]) != 0


def test_replay_of_a_folder_announces_its_corrupt_images_as_run_does(tmp_path, models_dir):
    """A truncated and an unreadable image in the folder: camera_image_warning events, as ``run`` gives."""
    frames = tmp_path / "frames"
    frames.mkdir()
    ok, jpg = cv2.imencode(".jpg", render(EMPTY))
    for i in range(3):
        (frames / f"{i}.jpg").write_bytes(jpg.tobytes())
    (frames / "1b.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])  # truncated: used, missing rows grey
    (frames / "2b.jpg").write_bytes(b"not an image")
    cfg = scene_config(str(tmp_path / "data"), site={"site_id": "s", "device_id": "d", "timezone": "UTC"},
                       perception={"models_dir": str(models_dir), "threads": 1})
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(cfg_path), str(frames), "-o", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    warned = {x["data"]["kind"]: x["data"] for x in lines if x.get("type") == "camera_image_warning"}
    assert set(warned) == {"truncated", "unreadable"}
    assert "2b.jpg" in warned["unreadable"]["detail"] and warned["unreadable"]["count"] == 1
    assert lines[-1]["corrupt"] == 1


def test_a_replay_over_the_autumn_dst_change_keeps_clip_time(tmp_path, models_dir):
    """Berlin, started ten seconds before 03:00 CEST turns back into 02:00 CET: the events' stamps are the
    clip's seconds after the start marker, shown in the offset of their moment. The replay's clock used to
    add seconds to the local reading, so from 03:00 on every stamp was an hour late (a clock_stepped of
    +3600 s, and eval-visits found the arrival an hour after the car came)."""
    lines, length, out = _replay_a_visit(tmp_path, models_dir, "Europe/Berlin", "2026-10-25T02:59:50+02:00")
    t0 = datetime.fromisoformat(lines[0]["ts"])
    assert [x["type"] for x in lines if x["type"] == "clock_stepped"] == []
    after = [(datetime.fromisoformat(x["ts"]) - t0).total_seconds() for x in lines[1:]]
    assert all(0 <= s <= length + 1 for s in after)
    assert lines[-1]["ts"].startswith("2026-10-25T02:00:") and lines[-1]["ts"].endswith("+01:00")
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nB,4.8,20.6\n")
    assert main(["occupancy", "eval-visits", str(truth), str(out), "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())["total"]
    assert (r["visits_found"], r["false_arrivals"], r["false_departures"]) == (1, 0, 0)


def _refused_start(tmp_path, models_dir, capsys, timezone: str, start: str) -> str:  # noqa: ANN001
    """``replay --start START`` on a one-second clip in ``timezone``: exit 2 and no events file; its stderr."""
    cfg = scene_config(str(tmp_path / "data"), site={"site_id": "s", "device_id": "d", "timezone": timezone},
                       perception={"models_dir": str(models_dir), "threads": 1})
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    clip = tmp_path / "clip.avi"
    write_clip(clip, hold(1, EMPTY))
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(cfg_path), str(clip), "-o", str(out), "--start", start]) == 2
    assert not out.exists()
    return capsys.readouterr().err


@pytest.mark.parametrize(("start", "words"), [
    ("2026-03-29T02:30:00", "does not exist in Europe/Berlin (clocks skip it): write its offset (+01:00 or +02:00)"),
    ("2026-10-25T02:30:00", "happens twice in Europe/Berlin (clocks turned back): write its offset (+02:00 or +01:00)")])
def test_a_start_the_site_clocks_skip_or_show_twice_is_refused(tmp_path, models_dir, capsys, start, words):
    """Without an offset, 02:30 on a DST day is no instant (skipped) or two (an hour apart): the replay's
    stamps would be guessed an hour off. One line naming --start and both offsets, exit 2, no events file."""
    assert f"--start {start} {words}" in _refused_start(tmp_path, models_dir, capsys, "Europe/Berlin", start)


@pytest.mark.parametrize("start", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00", "1969-12-31T23:59:59Z"])
def test_a_start_outside_the_times_events_can_carry_is_one_line(tmp_path, models_dir, capsys, start):
    """9999-12-31 overflowed at the clip's next second and year 1 in Shanghai stamped ``+08:05:43`` (local
    mean time): a traceback and exit 1. Now one line naming --start and the range, exit 2, no events file."""
    err = _refused_start(tmp_path, models_dir, capsys, "Asia/Shanghai", start)
    assert err.strip().splitlines() == [f"--start {start}: must be from 1970-01-01 to 2999-12-31 (UTC): event times "
                                        "outside cannot be written"]


def test_a_damaged_stretch_is_an_outage_when_it_happens_not_when_frames_return(tmp_path, models_dir):
    """A recording with ~10 s of damaged frames in the middle. The replay jumped over the hole to the next good
    frame, so the agent found the outage only then: ``camera_lost`` stamped when frames were back (last frame
    0 s old) and ``blind_s`` 5 for a 15 s hole. Now its loop turns through the time without frames, as ``run``'s
    does: lost ``lost_after_s`` (5 s) after the last good frame."""
    from edge_agent.camera.source import default_opener, sample

    rng = np.random.default_rng(3)
    clip = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), NATIVE_FPS, (W, H))
    for _ in range(30 * NATIVE_FPS):  # 30 s, every frame its own noise (no frame codes to nothing)
        w.write(np.clip(render(EMPTY) + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8))
    w.release()
    data = bytearray(clip.read_bytes())
    a, b = int(len(data) * 0.35), int(len(data) * 0.65)
    data[a:b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    got = list(sample(default_opener(str(clip), loop=False)(), "file", 5.0))
    times = [t for img, t in got if img is not None]
    before, after = max(x for x, y in zip(times, times[1:]) if y - x > 5), min(y for x, y in zip(times, times[1:])
                                                                                 if y - x > 5)
    cfg = scene_config(str(tmp_path / "data"), site={"site_id": "s", "device_id": "d", "timezone": "UTC"},
                       perception={"models_dir": str(models_dir), "threads": 1})
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(cfg_path), str(clip), "-o", str(out), "--start", "2026-05-01T08:00:00Z"]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    t0 = datetime.fromisoformat(lines[0]["ts"])

    def at(x: dict) -> float:
        return (datetime.fromisoformat(x["ts"]) - t0).total_seconds()

    lost = [x for x in lines if x.get("type") == "camera_lost"]
    back = [x for x in lines if x.get("type") == "camera_restored"]
    assert len(lost) == len(back) == 1, [x.get("type") for x in lines]
    assert at(lost[0]) == pytest.approx(before + cfg.camera.lost_after_s, abs=0.5)
    assert lost[0]["data"]["last_frame_age_s"] == pytest.approx(cfg.camera.lost_after_s, abs=0.5)
    assert at(back[0]) == pytest.approx(after + cfg.camera.lost_after_s, abs=0.5)
    assert back[0]["data"]["blind_s"] == pytest.approx(after - before, abs=0.5)


def test_an_events_file_that_is_an_input_is_refused_before_anything_is_written(tmp_path, capsys):
    """``replay site.yaml clip.mp4 -o clip.mp4`` emptied the recording before a frame was read ("cannot open
    clip.mp4"), and ``-o site.yaml`` the config; ``eval-visits T.csv E.jsonl --json E.jsonl`` wrote its report
    over the events. Each is one line naming the input, exit 2, every file as it was."""
    cfg = scene_config(str(tmp_path / "data"))
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    clip = tmp_path / "clip.mp4"
    write_clip(clip, hold(0.5, EMPTY))
    (tmp_path / "link.mp4").symlink_to(clip)  # the same file under another name
    before = {f: f.read_bytes() for f in (p, clip)}
    for out, name in ((clip, "source"), (tmp_path / "link.mp4", "source"), (p, "config")):
        assert main(["replay", str(p), str(clip), "-o", str(out)]) == 2
        assert capsys.readouterr().err == f"replay: --events {out} is the {name}: it would be written over; " \
                                          "write elsewhere\n"
    assert {f: f.read_bytes() for f in before} == before
    truth, events = tmp_path / "truth.csv", tmp_path / "e.jsonl"
    truth.write_text("bay_id,start_s,end_s\nA,0,1\n", encoding="utf-8")
    events.write_text("{}\n", encoding="utf-8")
    assert main(["occupancy", "eval-visits", str(truth), str(events), "--json", str(events)]) == 2
    assert "--json " + str(events) + " is the events file" in capsys.readouterr().err
    assert events.read_text(encoding="utf-8") == "{}\n"


@pytest.mark.parametrize("name", ["clip.mp4", "frame.jpg"])
def test_a_source_that_is_a_fifo_is_refused_not_waited_on(tmp_path, name):
    """``replay site.yaml clip.mp4`` where clip.mp4 is a FIFO with no writer waited in ``open`` for ever, and
    SIGTERM / SIGINT ("already stopping") could not end it: only SIGKILL did. A source that is no regular file
    is one line, exit 2, as a folder's FIFO is an unreadable frame and ``eval-visits`` refuses one."""
    cfg = scene_config(str(tmp_path / "data"))
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    fifo = tmp_path / name
    os.mkfifo(fifo)
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run([sys.executable, "-m", "edge_agent", "replay", str(p), str(fifo), "-o",
                              str(tmp_path / "e.jsonl")], capture_output=True, text=True, timeout=60, cwd=root,
                             env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired:  # run() has killed it
        pytest.fail(f"replay waited on the FIFO {name}")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().endswith(f"{fifo} is not a regular file (a FIFO or a device)"), out.stderr


def test_a_video_of_frames_too_large_to_decode_is_refused_from_its_header(tmp_path, capsys):
    """FFmpeg decodes frames up to 268 MP: a 5 MB MJPEG file of 12000x12000 frames took the replay to 1.4 GB at
    its first frame (``run`` playing it too). Its header says the size before any frame is decoded: over the
    49 MP a still image may have, it is one line, exit 2."""
    from tests.perception.bigimage import sequential_jpeg

    cfg = scene_config(str(tmp_path / "data"))
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    clip = tmp_path / "big.mjpeg"
    clip.write_bytes(sequential_jpeg(8000, 7000) * 2)
    assert main(["replay", str(p), str(clip), "-o", str(tmp_path / "e.jsonl")]) == 2
    assert capsys.readouterr().err == f"replay: video frames of 8000x7000 = 56 MP, over the 49 MP a frame may have: " \
                                      f"{clip}\n"


def test_a_header_that_puts_frames_days_apart_is_walked_an_hour_then_jumped(tmp_path, models_dir):
    """Eight bytes of an AVI header (each frame 10^7 s long) and the replay turned its loop once a period through
    every second of it: a 2-frame file took minutes of CPU at 1 fps (10^7 turns), a longer gap for ever. The
    first ``GAP_WALK_S`` of a stretch without frames is walked as before (the camera is lost when ``run`` would find
    it lost), the next ``GAP_TIMERS_S`` coarsely; the rest is one jump, counted in the summary's ``jumped_s``."""
    from edge_agent.runtime.replay import GAP_TIMERS_S, GAP_WALK_S

    clip = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), NATIVE_FPS, (W, H))
    for _ in range(2):
        w.write(render(EMPTY))
    w.release()
    data = bytearray(clip.read_bytes())
    strh = data.find(b"strh")
    assert data[strh + 8:strh + 12] == b"vids"
    data[strh + 28:strh + 36] = (10_000_000).to_bytes(4, "little") + (1).to_bytes(4, "little")  # dwScale / dwRate
    clip.write_bytes(bytes(data))
    cfg = scene_config(str(tmp_path / "data"), site={"site_id": "s", "device_id": "d", "timezone": "UTC"},
                       perception={"models_dir": str(models_dir), "threads": 1})
    doc = cfg.model_dump(mode="json")
    doc["camera"]["fps"] = 1.0
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    root = Path(__file__).resolve().parents[2]
    try:
        run = subprocess.run([sys.executable, "-m", "edge_agent", "replay", str(cfg_path), str(clip), "-o", str(out),
                              "--start", "2026-05-01T08:00:00Z"], capture_output=True, text=True, timeout=120,
                             cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    except subprocess.TimeoutExpired:  # run() has killed it
        pytest.fail("the replay walked the 10^7 s between two frames period by period")
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    done = lines[-1]
    assert done["type"] == "replay_finished" and done["frames"] == 2 and done["clip_s"] == 10_000_000
    assert done["jumped_s"] == pytest.approx(10_000_000 - GAP_WALK_S - GAP_TIMERS_S, abs=5)
    lost = [x for x in lines if x.get("type") == "camera_lost"]
    t0 = datetime.fromisoformat(lines[0]["ts"])
    assert len(lost) == 1 and (datetime.fromisoformat(lost[0]["ts"]) - t0).total_seconds() < 60  # found in the walk
    assert "rest jumped" in run.stderr


def test_a_timer_due_after_the_first_hour_of_a_stretch_without_frames_is_not_put_off_to_its_end(tmp_path):
    """A recording with a 6 h stretch without frames (a motion-triggered export's night): walked one period at a time
    for an hour, then jumped whole, the loop did not turn between 1 h and 6 h, so a timer due at 2 h (a fuel grace
    set to hours; timers may run a day) fired at the jump, 4 h late. After the first hour the loop turns every
    ``GAP_STEP_S`` for as long as a timer may run, then jumps."""
    from edge_agent.clock import FakeClock
    from edge_agent.runtime.replay import GAP_STEP_S, ClipSource

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0001.jpg"), render(EMPTY))
    clock = FakeClock()
    clip = ClipSource(str(folder), clock, fps=5.0)
    img = render(EMPTY)
    clip._frames = iter([(img, 0.0), (img, 6 * 3600.0)])
    t0 = clock.monotonic()
    assert clip.latest() is not None
    seen = [clock.monotonic() - t0]
    while (frame := clip.latest()) is None:
        seen.append(clock.monotonic() - t0)
    assert frame.t - t0 == pytest.approx(6 * 3600.0)
    steps = np.diff(seen + [frame.t - t0])
    assert steps.max() <= GAP_STEP_S + 1e-6  # no turn of the loop skipped more than a step of the night
    assert len(seen) < 3600 * 5 + 5 * 3600 / GAP_STEP_S + 10
    assert clip.jumped_s == 0


def _lock_timeline(lines: list[dict]) -> dict[str, list[tuple[float, str]]]:
    """Each bay's lock positions from a replay's events: (clip seconds, up | rising | down | lowering | fault)."""
    t0 = datetime.fromisoformat(lines[0]["ts"])
    out: dict[str, list[tuple[float, str]]] = {}
    for x in lines:
        if x.get("kind") == "event" and x["type"] == "lock_moved":
            s = x["data"]["state"]
            if s == "moving":
                s = "rising" if x["data"]["direction"] == "up" else "lowering"
            out.setdefault(x["bay_id"], []).append(((datetime.fromisoformat(x["ts"]) - t0).total_seconds(), s))
    return out


def test_a_replay_with_sim_locks_drives_a_simulated_lock_on_every_bay_as_run_does(tmp_path, models_dir):
    """``--sim-locks``: what the locks would have done on a recording, through the interlock and policy ``run``
    wires, never a configured real driver. A fuel car parked in B at the start leaves at 40 s: A, empty all along,
    rises once it was free ``auto_raise_delay_s``; B stays down while the car is there and rises only after it left."""
    covered = Scene(cars=(FUEL,))
    segs = hold(40, covered) + drive(FUEL, FUEL.x, W + 200, 1.6, NATIVE_FPS) + hold(45, EMPTY)
    clip = tmp_path / "clip.avi"
    length = write_clip(clip, segs, noise=3.0)
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir), "threads": 1},
                       camera={"source": "rtsp://192.0.2.1/stream"},
                       locks=[{"id": "real-A", "bay": "A", "driver": "gpiozero", "auto_raise_delay_s": 25,
                               "motor": {"up": {"pin": 5}, "down": {"pin": 6}},
                               "switches": {"down": {"pin": 13}, "up": {"pin": 19}}}])
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(cfg_path), str(clip), "-o", str(out), "--sim-locks"]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    ids = {x["data"]["lock_id"] for x in lines if x.get("kind") == "event" and x["type"] == "lock_moved"}
    assert ids == {"sim-A", "sim-B"}  # the configured gpiozero lock is not driven: a simulated one in its place
    arms = _lock_timeline(lines)
    assert arms["A"][0] == (0.0, "down")
    a_rise = next(t for t, s in arms["A"] if s == "rising")
    assert 25 <= a_rise <= 25 + 5  # the config's own auto_raise_delay_s for A, kept
    assert ("up" in [s for _, s in arms["A"]]) and length > 80
    b_rise = next(t for t, s in arms["B"] if s == "rising")
    assert b_rise >= 40 + 30  # gone at ~41.6 s, seen free for the default 30 s
    # without --sim-locks no lock event at all (what a replay always did)
    assert main(["replay", str(cfg_path), str(clip), "-o", str(out)]) == 0
    assert '"lock_moved"' not in out.read_text(encoding="utf-8")
