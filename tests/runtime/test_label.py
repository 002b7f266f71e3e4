"""edge-agent occupancy label: a labels file pre-filled by the agent's classifier, corrected by the
installer, then calibrated on (rendered frames, the shipped models, the real CLI)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import yaml

from edge_agent.bays.classifier import DEFAULT_MODEL
from edge_agent.cli import main
from edge_agent.sim.scenario import scene_config
from edge_agent.sim.synthetic import Car, Scene, render
from tests.occupancy.rendered import occupied

CARS = [(Car(x=250.0, plate=None),), (Car(x=700.0, plate=None),), ()]


def _camera(tmp_path: Path, n: int) -> tuple[Path, list[Scene]]:
    """``n`` frames of the rendered camera, a car in bay A, in B or none, the light varying."""
    cam = tmp_path / "cam"
    cam.mkdir()
    scenes = [Scene(cars=CARS[k % 3], brightness=0.6 + 0.05 * k) for k in range(n)]
    for k, sc in enumerate(scenes):
        cv2.imwrite(str(cam / f"{k:03d}.jpg"), render(sc))
    return cam, scenes


def _config(tmp_path: Path, source: Path) -> Path:
    cfg = scene_config(str(tmp_path / "data"), camera={"source": str(source)},
                       perception={"models_dir": str(DEFAULT_MODEL.parent)})
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_label_guesses_every_bay_keeps_corrections_and_feeds_calibrate(tmp_path, capsys):
    cam, scenes = _camera(tmp_path, 30)
    cfg = _config(tmp_path, cam)
    labels = tmp_path / "site" / "labels.csv"
    assert main(["occupancy", "label", str(cfg), str(cam), "--out", str(labels)]) == 0
    out = capsys.readouterr().out
    rows = _rows(labels)
    assert len(rows) == 60 and "60 bays of 30 frame(s) added" in out and "occupancy calibrate" in out
    # the next step writes where occupancy.calibration is read from (data_dir), not into the current folder
    assert f"--out {tmp_path / 'data' / 'occupancy-calibration.json'}" in out
    truth = {(f"../cam/{k:03d}.jpg", b): occupied(b, sc) for k, sc in enumerate(scenes) for b in ("A", "B")}
    assert {(r["file"], r["bay_id"]) for r in rows} == set(truth)  # relative to the labels file, like frames.csv
    for r in rows:
        assert json.loads(r["polygon"]) and r["model"] == "occupancy.onnx" and 0 <= float(r["p_occupied"]) <= 1
        assert r["occupied"] in ("1", "0", "") and (r["occupied"] == "") == (0.3 < float(r["p_occupied"]) < 0.7)
    sure = [r for r in rows if r["occupied"]]
    assert len(sure) >= 50 and sum(int(r["occupied"]) == truth[(r["file"], r["bay_id"])] for r in sure) >= 48
    assert sorted(p.name for p in (labels.parent / "sheets").iterdir()) == [f"cam_{k:03d}.jpg" for k in range(30)]
    sheet = cv2.imread(str(labels.parent / "sheets" / "cam_000.jpg"))
    assert sheet.shape == render(scenes[0]).shape and (sheet != render(scenes[0])).any()  # the bays drawn on it

    # the installer corrects every row from the sheets; a re-run adds nothing and keeps the corrections
    for r in rows:
        r["occupied"] = str(truth[(r["file"], r["bay_id"])])
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["occupancy", "label", str(cfg), str(cam), "--out", str(labels)]) == 0
    assert "0 bays of 30 frame(s) added (60 rows kept)" in capsys.readouterr().out
    assert _rows(labels) == rows
    cal = tmp_path / "site" / "cal.json"
    assert main(["occupancy", "calibrate", str(labels), "--out", str(cal)]) == 0
    assert "20 occupied + 40 empty labelled bays from 30 frames" in capsys.readouterr().out and cal.is_file()


def test_the_config_lines_calibrate_prints_load_as_printed(tmp_path, capsys, monkeypatch):
    """The printed ``calibration:`` was ``--out`` as typed (``data/cal.json``), which the agent reads against
    data_dir: pasted as told, check-config and ``run`` refused it (``…/data/data/cal.json: no such file``)."""
    cam, scenes = _camera(tmp_path, 15)
    cfg = _config(tmp_path, cam)
    labels = tmp_path / "labels.csv"
    assert main(["occupancy", "label", str(cfg), str(cam), "--out", str(labels)]) == 0
    rows = _rows(labels)
    for r in rows:  # the installer's corrections, from the sheets
        r["occupied"] = str(occupied(r["bay_id"], scenes[int(Path(r["file"]).stem)]))
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["occupancy", "calibrate", "labels.csv", "--out", "data/cal.json"]) == 0
    printed = capsys.readouterr().out.split("In the agent's config set:\n", 1)[1]
    doc = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    doc.update(yaml.safe_load(printed))
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(cfg)]) == 0, capsys.readouterr().err


def test_a_blank_guess_must_be_answered_before_calibrating(tmp_path, capsys):
    cam, _ = _camera(tmp_path, 30)
    labels = tmp_path / "labels.csv"
    assert main(["occupancy", "label", str(_config(tmp_path, cam)), str(cam), "--out", str(labels)]) == 0
    rows = _rows(labels)
    rows[5]["occupied"] = ""  # what the command writes where the classifier is unsure
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    capsys.readouterr()
    assert main(["occupancy", "calibrate", str(labels), "--out", str(tmp_path / "cal.json")]) == 2
    assert f"{labels}:7: column 'occupied' is blank" in capsys.readouterr().err
    assert not (tmp_path / "cal.json").exists()


def test_label_refuses_a_frame_of_another_size_and_writes_nothing(tmp_path, capsys):
    cam, scenes = _camera(tmp_path, 1)
    small = tmp_path / "small.jpg"
    cv2.imwrite(str(small), cv2.resize(render(scenes[0]), (480, 270)))
    labels = tmp_path / "labels.csv"
    assert main(["occupancy", "label", str(_config(tmp_path, cam)), str(small), "--out", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "small.jpg: the image is 480x270 but camera.width/height say 960x540" in err
    assert not labels.exists()


def test_label_without_images_grabs_a_frame_from_the_camera(tmp_path, capsys):
    cam, scenes = _camera(tmp_path, 2)
    labels = tmp_path / "site" / "labels.csv"
    assert main(["occupancy", "label", str(_config(tmp_path, cam)), "--out", str(labels)]) == 0
    grabbed = list((labels.parent / "frames").glob("*.jpg"))
    assert len(grabbed) == 1
    assert {r["file"] for r in _rows(labels)} == {f"frames/{grabbed[0].name}"}
    assert cv2.imread(str(grabbed[0])).shape == render(scenes[0]).shape
    assert (labels.parent / "sheets" / f"frames_{grabbed[0].name}").is_file()


def test_grabs_an_hour_apart_over_a_dst_fall_back_get_two_names_in_time_order(tmp_path):
    """The grabbed frame was named by the site's local time without an offset: at a fall-back the grab at 01:30 EST
    took the name of the one at 01:30 EDT and wrote over it. Named in UTC with a ``Z`` now: two files, sorted as
    taken; a frame named the old way (local) is still labelled as any image."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from edge_agent.clock import FakeClock
    from edge_agent.config import load_config
    from edge_agent.runtime.label import grab

    cam, _ = _camera(tmp_path, 1)
    cfg = load_config(_config(tmp_path, cam))
    clock = FakeClock(datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York")))
    frames = tmp_path / "site" / "frames"
    first = grab(cfg, frames, clock)
    clock.advance(3600)  # 01:30 again on the wall, an hour later
    second = grab(cfg, frames, clock)
    assert (first.name, second.name) == ("2026-11-01_05_30_00Z.jpg", "2026-11-01_06_30_00Z.jpg")
    assert sorted(p.name for p in frames.glob("*.jpg")) == [first.name, second.name]
    old = frames / "2026-11-01_01_30_00.jpg"  # as an older version named its grab
    old.write_bytes(first.read_bytes())
    labels = tmp_path / "site" / "labels.csv"
    assert main(["occupancy", "label", str(_config(tmp_path, cam)), str(old), "--out", str(labels)]) == 0
    assert {r["file"] for r in _rows(labels)} == {"frames/2026-11-01_01_30_00.jpg"}


def test_a_grabbed_frame_is_turned_as_the_agent_turns_it(tmp_path, capsys):
    """The bay polygons are drawn on the turned view (``camera.rotate``): a frame grabbed as the camera
    sends it would label the ground of the other bay."""
    cam, scenes = _camera(tmp_path, 1)
    for f in cam.iterdir():  # the camera hangs upside down
        cv2.imwrite(str(f), cv2.rotate(cv2.imread(str(f)), cv2.ROTATE_180))
    cfg = yaml.safe_load(_config(tmp_path, cam).read_text(encoding="utf-8"))
    cfg["camera"]["rotate"] = 180
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    labels = tmp_path / "site" / "labels.csv"
    assert main(["occupancy", "label", str(path), "--out", str(labels)]) == 0
    [grabbed] = (labels.parent / "frames").glob("*.jpg")
    got, upright = cv2.imread(str(grabbed)).astype(int), render(scenes[0]).astype(int)
    assert abs(got - upright).mean() < abs(got - cv2.rotate(render(scenes[0]), cv2.ROTATE_180)).mean() / 4


def test_frames_of_the_same_name_in_two_folders_get_two_sheets(tmp_path):
    from edge_agent.runtime.label import sheet_name

    assert sheet_name("../cam/000.jpg") != sheet_name("../cam2/000.jpg")
    assert sheet_name("frames/2026-12-02_08_00_00.png") == "frames_2026-12-02_08_00_00.jpg"
    assert sheet_name("/srv/cam/000.jpeg") == "srv_cam_000.jpg"


def test_label_says_when_the_camera_gives_no_frame(tmp_path, capsys):
    empty = tmp_path / "cam"
    empty.mkdir()
    labels = tmp_path / "labels.csv"
    assert main(["occupancy", "label", str(_config(tmp_path, empty)), "--out", str(labels)]) == 2
    assert "camera.source: no frame could be read" in capsys.readouterr().err
    assert not labels.exists()


def test_a_bay_the_frame_shows_nothing_of_gets_no_row(tmp_path, capsys):
    """Glare over bay A: the classifier would call the white patch a sure "empty" (p 0.03), and a row the
    installer accepts would teach the site head that glare is asphalt. The agent never classifies such a crop,
    so it gets no row, a grey outline on the sheet, and a line saying what to do."""
    import numpy as np

    cam, scenes = _camera(tmp_path, 2)
    cfg = _config(tmp_path, cam)
    glare = render(scenes[0]).copy()
    bay_a = next(b for b in scene_config(str(tmp_path / "d")).bays if b.id == "A")
    cv2.fillPoly(glare, [np.round(np.array(bay_a.polygon)).astype(np.int32)], (255, 255, 255))
    cv2.imwrite(str(cam / "000.jpg"), glare)
    labels = tmp_path / "labels.csv"
    assert main(["occupancy", "label", str(cfg), str(cam), "--out", str(labels)]) == 0
    out = capsys.readouterr().out
    rows = _rows(labels)
    assert sorted((r["file"], r["bay_id"]) for r in rows) == [("cam/000.jpg", "B"), ("cam/001.jpg", "A"),
                                                             ("cam/001.jpg", "B")]
    assert "3 bays of 2 frame(s) added" in out and "1 bay(s) left out: the frame shows nothing of them" in out
    sheet = cv2.imread(str(tmp_path / "sheets" / "cam_000.jpg"))
    edge = np.round(np.array(bay_a.polygon)).astype(np.int32)[0]
    grey = sheet[edge[1], edge[0]].astype(int)
    assert abs(grey - 160).max() <= 40 and np.ptp(grey) <= 20  # the grey outline, not red, green or amber


def test_an_out_path_that_cannot_be_written_is_one_line_before_the_camera_opens(tmp_path, capsys):
    """``--out`` under a file was a NotADirectoryError traceback once the frame had been grabbed and judged."""
    cam, _ = _camera(tmp_path, 1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["occupancy", "label", str(_config(tmp_path, cam)), "--out", str(blocker / "labels.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"occupancy label: cannot write --out {blocker}/labels.csv: "), err
    assert blocker.read_text() == "not a folder"


def test_a_folder_copied_from_a_mac_is_labelled_without_its_hidden_files(tmp_path):
    """macOS leaves ``._name.jpg`` beside each file it copies to a card: the folder's labelling stopped at it
    ("not a readable image", exit 2). Numbered frames come in number order, as a folder source plays them."""
    from edge_agent.runtime.label import expand_images

    for n in ("frame10.jpg", "frame2.jpg", "._frame2.jpg", ".hidden.png", "notes.txt"):
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in expand_images([tmp_path])] == ["frame2.jpg", "frame10.jpg"]


def test_an_out_file_that_is_no_labels_file_is_one_line_before_the_camera_opens(tmp_path, capsys):
    """``--out`` naming a photo (not UTF-8) or a folder was a UnicodeDecodeError / IsADirectoryError traceback
    after the grab; it is one line naming the file, exit 2, the file untouched and no frame grabbed."""
    cam, _ = _camera(tmp_path, 1)
    config = str(_config(tmp_path, cam))
    photo = tmp_path / "out" / "photo.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"\xff\xd8\xff\xe0 not text")
    folder = tmp_path / "out" / "folder.csv"
    folder.mkdir()
    for out, why in ((photo, "not UTF-8 text"), (folder, "cannot read it (Is a directory)")):
        assert main(["occupancy", "label", config, "--out", str(out)]) == 2
        assert capsys.readouterr().err == f"occupancy label: {out}: {why}" + (
            ", so not a labels file to append to\n" if out is photo else "\n")
    assert photo.read_bytes() == b"\xff\xd8\xff\xe0 not text"
    assert not (tmp_path / "out" / "frames").exists()


def test_two_label_runs_into_one_file_keep_each_others_rows(tmp_path, capsys, monkeypatch):
    """Two installers (or a cron grab and a person) labelling into one ``labels.csv`` at once: each read the file
    at its start and wrote its own copy back at its end, so the later run dropped the other's rows (and both
    used one scratch name). The file is read again under the folder's lock when written: both runs' rows stay."""
    from edge_agent.runtime import label as label_mod

    cam, _ = _camera(tmp_path, 2)
    cfg = str(_config(tmp_path, cam))
    labels = tmp_path / "site" / "labels.csv"
    real = label_mod.guess
    other = tmp_path / "other"
    other.mkdir()
    (other / "000.jpg").write_bytes((cam / "001.jpg").read_bytes())

    def guess_while_another_run_finishes(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        monkeypatch.setattr(label_mod, "guess", real)
        assert main(["occupancy", "label", cfg, str(other / "000.jpg"), "--out", str(labels)]) == 0
        return real(*a, **kw)

    monkeypatch.setattr(label_mod, "guess", guess_while_another_run_finishes)
    assert main(["occupancy", "label", cfg, str(cam / "000.jpg"), "--out", str(labels)]) == 0
    assert f"{labels}: 2 bays of 1 frame(s) added (2 rows kept)" in capsys.readouterr().out  # the other run's 2
    assert sorted((r["file"], r["bay_id"]) for r in _rows(labels)) == [
        ("../cam/000.jpg", "A"), ("../cam/000.jpg", "B"), ("../other/000.jpg", "A"), ("../other/000.jpg", "B")]


def test_frames_may_follow_the_out_option(tmp_path, capsys):
    """``occupancy label site.yaml --out labels.csv frames/`` — the order README's example invites — was
    "unrecognized arguments: frames/"; the frames are labelled as if given before ``--out``."""
    cam, _ = _camera(tmp_path, 2)
    labels = tmp_path / "site" / "labels.csv"
    assert main(["occupancy", "label", str(_config(tmp_path, cam)), "--out", str(labels), str(cam)]) == 0
    assert {r["file"] for r in _rows(labels)} == {"../cam/000.jpg", "../cam/001.jpg"}


def test_bay_ids_and_file_names_a_spreadsheet_would_run_round_trip_through_eval_and_calibrate(tmp_path, capsys):
    """A bay id may start with "-" (``-A1``: a formula in a spreadsheet, which shows what A1 holds) and a frame's
    name with anything (``=1+2.jpg``, ``@x,"q".jpg``): the labels file wrote them bare, the installer opening it
    to correct the rows got formulas. Written with a leading quote, read back without it: eval names the bays
    and files as the config and the folder do, calibrate reads every row."""
    cam, _ = _camera(tmp_path, 30)  # calibrate needs 10 of each
    names = ["=1+2.jpg", '@x,"q".jpg', "-3\n.jpg", "+4.jpg", "'=5.jpg", "''-6.jpg"]
    for k, name in enumerate(names):
        (cam / f"{k:03d}.jpg").rename(cam / name)
    cfg = _config(tmp_path, cam)
    doc = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    ids = {"A": "-A1", "B": "-B"}
    for bay in doc["bays"]:
        bay["id"] = ids[bay["id"]]
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    labels = cam / "labels.csv"  # beside the frames: a file cell is the bare name
    assert main(["occupancy", "label", str(cfg), str(cam), "--out", str(labels)]) == 0
    text = labels.read_text(encoding="utf-8")
    cells = [c for row in csv.reader(text.splitlines(keepends=True)) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], text
    rows = _rows(labels)
    for r in rows:  # the installer answers the unsure ones
        r["occupied"] = r["occupied"] or str(int(float(r["p_occupied"]) >= 0.5))
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    report = tmp_path / "eval.json"
    assert main(["occupancy", "eval", str(labels), "--json", str(report)]) == 0
    predicted = json.loads(report.read_text(encoding="utf-8"))["predictions"]
    frames = [*names, *(f"{k:03d}.jpg" for k in range(len(names), 30))]
    assert sorted((p["file"], p["bay_id"]) for p in predicted) == sorted((n, b) for n in frames for b in ids.values())
    capsys.readouterr()
    assert main(["occupancy", "calibrate", str(labels), "--out", str(tmp_path / "cal.json")]) == 0
    assert "labelled bays from 30 frames" in capsys.readouterr().out
