"""Eval's matching and metrics on hand-made reads: boxed labels by overlap, box-less by text."""

from __future__ import annotations

from edge_agent.perception.evaluate import Label, Outcome, Report, match
from edge_agent.perception.types import PlateRead


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
    """A photo over 12 MP (a 4032×3024 phone photo is 12.2 MP) is decoded reduced; its labels
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
