"""Eval's matching and metrics on hand-made reads: boxed labels by overlap, box-less by text."""

from __future__ import annotations

import pytest

from edge_agent.perception.evaluate import Label, Outcome, Report, match
from edge_agent.perception.types import PlateRead
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)


def read(text, box, colour="blue", nev=False):
    x1, y1, x2, y2 = box
    return PlateRead(text, 0.9, colour, nev, "colour", ((x1, y1), (x2, y1), (x2, y2), (x1, y2)), box)


def test_match_by_overlap_then_text():
    labels = [Label("a.jpg", "苏E12345", "blue", (100, 100, 200, 140), ""),
              Label("a.jpg", "皖AD12345", "green", None, ""),
              Label("a.jpg", "京A11111", "blue", (500, 500, 600, 540), "")]
    reads = [read("皖AD12345", (300, 300, 400, 340), "green", True), read("苏E12345", (105, 98, 198, 142)),
             read("浙B99999", (10, 10, 50, 30))]
    out = match(labels, reads)
    assert out[0].read.text == "苏E12345"
    assert out[1].read.text == "皖AD12345"  # box-less: the remaining read most alike
    assert out[2].read is None  # nothing overlaps its box


def test_metrics_count_the_costly_mistakes():
    trap = Label("b.jpg", "民航B9016", "green", None, "CIVIL AVIATION - NOT an NEV plate")
    blue = Label("c.jpg", "苏E12345", "blue", None, "")
    nev = Label("d.jpg", "皖AD12345", "green", None, "")
    dbl = Label("e.jpg", "京EA5331", "yellow", None, "double-layer yellow")
    rep = Report([Outcome(trap, read("民航B9016", (0, 0, 1, 1), "green", True)),
                  Outcome(blue, read("苏E12346", (0, 0, 1, 1), "blue", True)),
                  Outcome(nev, read("AD12345", (0, 0, 1, 1), "green", True)),
                  Outcome(dbl, None)], latencies_ms=[10, 20, 30, 40])
    m = rep.metrics()
    assert m["green_non_nev_called_nev"] == 1 and m["blue_called_nev"] == 1
    assert m["nev_recall"] == 1.0 and m["nev_plates"] == 1
    assert m["single_row_plates"] == 3 and m["exact_text_single_row"] == round(1 / 3, 4)
    assert m["text_ignoring_province"] == round(2 / 3, 4)  # the dropped province still counts here
    assert (m["double_row_plates"], m["exact_text_double_row"]) == (1, 0.0)  # scored on their own line
    assert m["detection_recall"] == 0.75
    assert m["colour_per_class"]["green"]["accuracy"] == 1.0
    assert {why for _, why in rep.failures()} == {"missed", "text", "nev"}


def test_eval_command_on_rendered_labels(tmp_path, models_dir, capsys):
    """``edge-agent eval`` end to end on a labels CSV in the plates-dev format."""
    import csv
    import json

    import cv2

    from edge_agent.cli import main
    from tests.perception.render import render_plate, render_scene

    rows = [("blue.png", "苏E12345", "blue", "blue", ""), ("nev.png", "皖AD12345", "green", "small_nev", ""),
            ("air.png", "民航B9016", "green", "green_white", "CIVIL AVIATION - NOT an NEV plate")]
    with open(tmp_path / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "plate_text", "plate_color", "scene", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "note"])
        for i, (name, text, colour, style, note) in enumerate(rows):
            scene, c = render_scene(render_plate(text, style), seed=i, frame=(1280, 720), plate_width=200)
            cv2.imwrite(str(tmp_path / name), scene)
            w.writerow([name, text, colour, "full", *c.min(axis=0).round(), *c.max(axis=0).round(), note])
    out = tmp_path / "m.json"
    rc = main(["eval", "--labels", str(tmp_path / "labels.csv"), "--json", str(out), "--failures",
               str(tmp_path / "fail"), "--models", str(models_dir)])
    assert rc == 0
    m = json.loads(out.read_text(encoding="utf-8"))
    assert m["plates"] == 3 and m["detection_recall"] == 1.0 and m["exact_text_single_row"] == 1.0
    assert m["nev_recall"] == 1.0 and m["green_non_nev_called_nev"] == 0 and m["green_non_nev_plates"] == 1
    assert "detection recall" in capsys.readouterr().out
    assert (tmp_path / "fail" / "contact_sheet.jpg").is_file()


def test_eval_scores_a_phone_sized_photo_in_its_own_pixels(tmp_path, pipeline):
    """A photo over 12.2 MP (a 4032×3024 phone photo's pixels) is decoded reduced; its labels
    are in the file's pixels, so the reads must be mapped back before matching (they were
    matched at half scale: every plate of such a photo scored as missed)."""
    import csv

    import cv2

    from edge_agent.perception.evaluate import evaluate
    from tests.perception.render import scene

    img, corners = scene("苏E12345", "blue", seed=3, frame=(1280, 720), plate_width=240)
    k = 3.75  # 4800×2700 = 13 MP: decoded at half size
    img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "phone.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    box = (corners * k).min(axis=0).round(), (corners * k).max(axis=0).round()
    with open(tmp_path / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "plate_text", "plate_color", "scene", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "note"])
        w.writerow(["phone.jpg", "苏E12345", "blue", "full", *box[0], *box[1], ""])
    m = evaluate(pipeline.process, tmp_path / "labels.csv", progress=False).metrics()
    assert m["detection_recall"] == 1.0 and m["exact_text_single_row"] == 1.0


def test_eval_outputs_that_cannot_be_written_are_one_line_before_the_run(tmp_path, models_dir, capsys):
    """``--json`` / ``--failures`` under a path that cannot hold a folder were a traceback after the whole run
    (metrics printed, file not written); now one line naming the option, exit 2, before any image is read."""
    from edge_agent.cli import main

    labels = tmp_path / "labels.csv"
    labels.write_text("file,plate_text,plate_color,scene,bbox_x1,bbox_y1,bbox_x2,bbox_y2,note\n", encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for option, path in (("--json", blocker / "m.json"), ("--failures", blocker / "fail")):
        rc = main(["eval", "--labels", str(labels), option, str(path), "--models", str(models_dir)])
        captured = capsys.readouterr()
        assert rc == 2 and captured.err.startswith(f"eval: cannot write {option} {blocker}"), captured.err
        assert "detection recall" not in captured.out  # refused before the run


HEADER = "file,plate_text,plate_color,scene,bbox_x1,bbox_y1,bbox_x2,bbox_y2,note"


@pytest.mark.parametrize("body,says", [
    ("plate_text,plate_color\n苏E12345,blue\n", "missing column file; the header has: 'plate_text'"),
    ("file,scene,note\na.png,full,\n", "no column plate_text, plate_color or bbox_x1"),  # was scored
    (f"{HEADER}\na.png,苏E12345,blue,full,abc,10,50,30,\n", ":2: columns bbox_x1, bbox_y1, bbox_x2, bbox_y2 must be four numbers"),
    (f"{HEADER}\na.png,苏E12345,blue,full,10,,50,30,\n", ":2: columns bbox_x1"),  # one cell blank
    (f"{HEADER}\na.png,苏E12345,blue,full,10,10,50\n", ":2: columns bbox_x1"),  # a short row
    (f"{HEADER}\na.png,苏E12345,blue,full,nan,10,inf,30,\n", ":2: columns bbox_x1"),
    (f"{HEADER}\na.png,苏E12345,blue,full,50,30,10,10,\n", ":2: the box must have bbox_x1 < bbox_x2"),
    (f"{HEADER}\na.png,苏E12345,purple,full,10,10,50,30,\n", ":2: column 'plate_color' must be one of blue, green"),
    (f"{HEADER}\r\n,苏E12345,blue,full,10,10,50,30,\r\n", ":2: column 'file' is empty"),
    (f"{HEADER}\na.png,苏E12345,blue,full,10,10,50,30,\n\na.png,苏E12345,blue,full,10,10,50,30,\n",
     ":4: this plate of a.png is labelled again (same box as line 2)"),
    (f"{HEADER}\na.png,苏E12345,blue,full,,,,,\na.png,苏E12345,blue,,,,,,\n", ":3: this plate of a.png is labelled again (same text"),
    (f"{HEADER}\nb.png,苏E12345,blue,crop,,,,,\n", "labels no plate of a full scene"),  # scored 0.0000, exit 0
])
def test_a_labels_file_that_cannot_be_scored_is_one_line_naming_the_row(tmp_path, capsys, body, says):
    """Each was a traceback (no ``file`` column, a non-numeric or short box) or a score moved without a word: a
    box of nan, an inverted box or a misspelt colour scored as failures, a duplicated row halved the recall."""
    from edge_agent.cli import main

    labels = tmp_path / "labels.csv"
    labels.write_text(body, encoding="utf-8")
    assert main(["eval", "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eval: ") and says in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    if "missing column" in says:  # a --root that is no folder is refused before the labels are read
        assert main(["eval", "--labels", str(labels), "--root", str(tmp_path / "nope")]) == 2
        assert capsys.readouterr().err == f"eval: --root {tmp_path / 'nope'} is not a folder\n"


def test_labels_files_as_spreadsheets_write_them_are_read(tmp_path):
    """A byte-order mark, CRLF lines, blank rows, a capitalised colour, a blank scene (a full scene, as a missing
    column) and unreadable plates of one image (no text or ``?``, no box) are all one labels file."""
    from edge_agent.perception.evaluate import load_labels

    labels = tmp_path / "labels.csv"
    labels.write_bytes(("\ufeff" + HEADER + "\r\na.png,苏E12345, Blue ,,10,10,50,30,\r\n,,,,,,,,\r\n"
                        "a.png,,yellow,full,,,,,\r\na.png,,,full,,,,,\r\nb.png,皖A12345,blue,crop,,,,,\r\n"
                        "a.png,?,,full,,,,,\r\na.png,?,,full,,,,,\r\n").encode("utf-8"))
    [(name, rows)] = load_labels(labels).items()
    assert name == "a.png" and [(r.text, r.colour, r.box, r.line) for r in rows] == [
        ("苏E12345", "blue", (10.0, 10.0, 50.0, 30.0), 2), ("", "yellow", None, 4), ("", "unknown", None, 5),
        ("?", "unknown", None, 7), ("?", "unknown", None, 8)]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + b"\na.png,\xbe\xa9A12345,blue,full,,,,,\n")
    with pytest.raises(ValueError, match=r"latin.csv:2: not UTF-8 text"):
        load_labels(latin)


def test_eval_names_unreadable_images_and_boxes_outside_the_image_and_exits_1(tmp_path, models_dir, capsys):
    """A wrong ``--root`` scored every plate missed with exit 0 (the only trace a count); a box drawn on another
    size of the photo scored a plate missed. Both are named on stderr, the box left out, exit 1."""
    import json

    import cv2

    from edge_agent.cli import main
    from tests.perception.render import render_plate, render_scene

    scene, c = render_scene(render_plate("苏E12345", "blue"), seed=1, frame=(640, 360), plate_width=160)
    cv2.imwrite(str(tmp_path / "car.png"), scene)
    box = ",".join(str(v) for v in (*c.min(axis=0).round(), *c.max(axis=0).round()))
    labels = tmp_path / "labels.csv"
    labels.write_text(f"{HEADER}\ncar.png,苏E12345,blue,full,{box},\ncar.png,苏E54321,blue,full,900,500,1000,530,\n"
                      f"gone.png,皖A11111,blue,full,10,10,50,30,\n", encoding="utf-8")
    out = tmp_path / "m.json"
    assert main(["eval", "--labels", str(labels), "--json", str(out), "--models", str(models_dir)]) == 1
    err = capsys.readouterr().err
    assert "1 image(s) unreadable, their plates scored as missed (gone.png; first: no such file:" in err
    assert f"{labels}:3: plate of car.png not scored: its box [900.0, 500.0, 1000.0, 530.0] is not in the 640x360" in err
    m = json.loads(out.read_text(encoding="utf-8"))
    assert (m["plates"], m["errors"], m["skipped"], m["detection_recall"]) == (2, 1, 1, 0.5)
    labels.write_text(f"{HEADER}\ncar.png,苏E12345,blue,full,{box},\n", encoding="utf-8")
    assert main(["eval", "--labels", str(labels), "--models", str(models_dir)]) == 0


def test_eval_read_by_head_still_writes_its_files(tmp_path, models_dir):
    """``eval … | head -3``: the reader gone, the next print was a BrokenPipeError traceback after the whole
    run, and neither ``--json`` nor ``--failures`` was written. Unbuffered (``PYTHONUNBUFFERED=1``, as most
    Python container images set it), each print reaches the pipe at once."""
    import json
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    from tests.perception.render import render_plate, render_scene

    scene, c = render_scene(render_plate("苏E12345", "blue"), seed=1, frame=(640, 360), plate_width=160)
    cv2.imwrite(str(tmp_path / "car.png"), scene)
    (tmp_path / "labels.csv").write_text(f"{HEADER}\ncar.png,苏E12345,blue,full,,,,,\n", encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    q = shlex.quote  # a checkout (and so the venv and models) may sit under a path with a space or a quote
    cmd = (f"{q(sys.executable)} -m edge_agent eval --labels {q(str(tmp_path / 'labels.csv'))} "
           f"--json {q(str(tmp_path / 'm.json'))} --failures {q(str(tmp_path / 'fail'))} --degrade jpeg_q20 "
           f"--models {q(str(models_dir))} | head -1")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8",
                              "PYTHONUNBUFFERED": "1"})
    assert out.stdout.startswith("plates 1 in 1 images") and len(out.stdout.splitlines()) == 1
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr[-2000:]
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["degraded"]["jpeg_q20"]["plates"] == 1
    assert (tmp_path / "fail" / "failures.csv").is_file()


def test_labels_as_people_type_them_score_as_the_plate(tmp_path, pipeline):
    """A plate labelled as it is printed (``苏E·12345``), in lower case or full width (a Chinese input method),
    scored 0 exact text; an image path written on Windows (``photos\\car.png``) was unreadable."""
    import cv2

    from edge_agent.perception.evaluate import evaluate
    from tests.perception.render import render_plate, render_scene

    (tmp_path / "photos").mkdir()
    rows = []
    for i, typed in enumerate(("苏E·12345", "苏e 12345", "苏Ｅ１２３４５")):
        scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=i, frame=(640, 360), plate_width=160)
        cv2.imwrite(str(tmp_path / "photos" / f"car{i}.png"), scene)
        rows.append(f"photos\\car{i}.png,{typed},blue,full,,,,,")
    (tmp_path / "labels.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    m = evaluate(pipeline.process, tmp_path / "labels.csv", progress=False).metrics()
    assert (m["images"], m["errors"], m["detection_recall"], m["exact_text_single_row"]) == (3, 0, 1.0, 1.0)


def _missed(tmp_path, n: int) -> Report:
    """``n`` plates not found, each in an image of its own on disk (so each gets its crop)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(n)
    outcomes = []
    for i in range(n):
        cv2.imwrite(str(tmp_path / f"car{i}.jpg"), rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
        outcomes.append(Outcome(Label(f"car{i}.jpg", "苏E12345", "blue", (100, 100, 200, 140), ""), None))
    return Report(outcomes, latencies_ms=[10] * n)


def test_the_failures_folder_is_replaced_whole_never_left_half_written(tmp_path, tiny_disk):  # noqa: F811
    """``eval --failures DIR`` wrote in place: a full disk (or Ctrl-C) midway left a cut-off ``failures.csv``, and a
    run with fewer failures than the last left the last run's crops beside its own under the same numbers. The
    folder now holds one run's failures, whole: the new run's once all are written, the old one's otherwise."""
    from edge_agent.perception.evaluate import write_failures
    from tests.tmpfs import fill

    disk = tiny_disk(2)
    fail = disk / "fail"
    assert write_failures(_missed(tmp_path, 3), fail, tmp_path) == 3
    before = {p.name: p.read_bytes() for p in fail.iterdir()}
    assert {"failures.csv", "contact_sheet.jpg", "000_missed.jpg", "002_missed.jpg"} <= set(before)
    assert write_failures(_missed(tmp_path, 1), fail, tmp_path) == 1  # fewer failures: no crop of the last run
    assert sorted(p.name for p in fail.iterdir()) == ["000_missed.jpg", "contact_sheet.jpg", "failures.csv"]
    assert write_failures(_missed(tmp_path, 3), fail, tmp_path) == 3
    before = {p.name: p.read_bytes() for p in fail.iterdir()}
    fill(disk, leave_bytes=8 * 1024)  # room for the csv, not for the crops
    with pytest.raises(OSError):
        write_failures(_missed(tmp_path, 3), fail, tmp_path)
    assert {p.name: p.read_bytes() for p in fail.iterdir()} == before  # the last run's, whole
    assert sorted(p.name for p in disk.iterdir()) == ["fail", "filler.bin"]  # no scratch folder left


def test_a_failures_folder_holding_other_files_is_refused_before_the_run(tmp_path, models_dir, capsys):
    """The folder is replaced whole: ``--failures .`` (or any folder of other files) is one line, exit 2, untouched."""
    from edge_agent.cli import main

    labels = tmp_path / "labels.csv"
    labels.write_text(HEADER + "\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    rc = main(["eval", "--labels", str(labels), "--failures", str(tmp_path), "--models", str(models_dir)])
    captured = capsys.readouterr()
    assert rc == 2 and "detection recall" not in captured.out
    assert captured.err == f"eval: --failures {tmp_path} holds what eval does not write there (labels.csv, notes.txt)" \
                           ", and the folder is replaced whole: name a folder of its own\n"
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_failures_csv_runs_no_formula_from_a_labels_file(tmp_path):
    """``failures.csv`` is for a person, in a spreadsheet; its cells come from a labels file from outside (a
    supplier's, a dataset's). A ``file`` of ``=HYPERLINK(…)`` or a label text behind a bidi override went in as
    written: the spreadsheet ran the formula. Every text cell now follows the project's CSV rule (``csvcell``)."""
    import csv

    from edge_agent.perception.evaluate import write_failures

    label = Label("=HYPERLINK(\"http://x\",\"car\").jpg", "+\u202e54321E苏", "blue", None, "")
    write_failures(Report([Outcome(label, None)], latencies_ms=[10]), tmp_path / "fail", tmp_path)
    with open(tmp_path / "fail" / "failures.csv", newline="", encoding="utf-8") as f:
        row = list(csv.DictReader(f))[0]
    assert row["file"] == "'=HYPERLINK(\"http://x\",\"car\").jpg" and row["label_text"] == "'+54321E苏"
    assert row["why"] == "missed" and row["label_colour"] == "blue"


def test_one_image_under_two_spellings_is_one_image(tmp_path):
    """Labels merged from two tools name one photo ``img/a.png`` and ``./img/a.png`` (or with backslashes, its
    absolute path): it was two images, decoded and scored twice, and a plate labelled in both rows counted twice
    (recall 6/7 → 7/8 on six plates-dev photos), exit 0."""
    from edge_agent.perception.evaluate import load_labels

    labels = tmp_path / "labels.csv"
    for other in ("./img/a.png", "img\\a.png", "img//a.png", str(tmp_path / "img" / "a.png")):
        labels.write_text(f"{HEADER}\nimg/a.png,苏E12345,blue,full,10,10,50,30,\n{other},苏E12345,blue,full,10,10,50,30,\n",
                          encoding="utf-8")
        with pytest.raises(ValueError, match=r"labels.csv:3: this plate of .* is labelled again \(same box as line 2\)"):
            load_labels(labels)
        labels.write_text(f"{HEADER}\nimg/a.png,苏E12345,blue,full,10,10,50,30,\n{other},皖A11111,blue,full,60,10,99,30,\n",
                          encoding="utf-8")
        [(name, rows)] = load_labels(labels).items()  # two plates of one photo, decoded once, under its first name
        assert name == "img/a.png" and [r.text for r in rows] == ["苏E12345", "皖A11111"], other


def test_a_labels_header_naming_a_column_twice_is_refused(tmp_path):
    """``file,plate_text,plate_color,plate_text`` (a corrected column pasted beside the first): the reader kept
    the last, and every plate was scored against it, exit 0."""
    from edge_agent.perception.evaluate import load_labels

    labels = tmp_path / "labels.csv"
    labels.write_text("file,plate_text,plate_color,plate_text\na.jpg,京A88731,blue,京A00000\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.csv: column 'plate_text' is in the header twice \(columns 2 and 4\)"):
        load_labels(labels)
