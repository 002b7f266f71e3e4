"""``edge-agent recognize``: the JSON Lines contract of perception-facts.md, through the real CLI."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.perception import annotate as annotate_mod
from tests.perception.render import render_plate, render_scene

CONTRACT_KEYS = {"text", "confidence", "colour", "nev", "nev_reason", "corners", "box"}


@pytest.fixture
def images(tmp_path):
    scene, truth = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    good = tmp_path / "nev.png"
    cv2.imwrite(str(good), scene)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    return good, bad, tmp_path / "missing.jpg", truth


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_lines_contract(images, capsys, models_dir):
    good, bad, missing, truth = images
    rc = main(["recognize", str(good), str(bad), str(missing), "--json", "--models", str(models_dir)])
    out = capsys.readouterr().out
    assert rc == 1  # some files failed, the run went on
    assert "皖AD12345" in out  # UTF-8, not \\u escapes
    first, second, third = _lines(out)
    assert first["file"] == str(good) and isinstance(first["ms"], float)
    [plate] = first["plates"]
    assert CONTRACT_KEYS <= plate.keys()
    assert plate["text"] == "皖AD12345" and plate["nev"] is True and plate["colour"] == "green"
    assert plate["nev_reason"] and 0 < plate["confidence"] <= 1
    # issue 10: fields added, contract kept
    assert plate["complete"] is True and 0 < plate["colour_confidence"] <= 1 and 0 < plate["province_confidence"] <= 1
    assert len(plate["corners"]) == 4 and all(len(p) == 2 for p in plate["corners"])
    assert np.abs(np.array(plate["corners"]) - truth).max() < 20
    x1, y1, x2, y2 = plate["box"]
    assert x1 < x2 and y1 < y2
    for line, path in ((second, bad), (third, missing)):
        assert line["file"] == str(path) and line["plates"] == [] and line["error"]
    assert "no such file" in third["error"]


def test_all_good_exits_zero_and_annotates(images, capsys, tmp_path, models_dir):
    good, *_ = images
    ann = tmp_path / "ann"
    rc = main(["recognize", str(good), "--annotate", str(ann), "--models", str(models_dir)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "皖AD12345" in out and "NEV" in out  # the readable table
    drawn = cv2.imread(str(ann / "nev.jpg"))
    original = cv2.imread(str(good))
    assert drawn.shape == original.shape
    assert np.abs(drawn.astype(int) - original.astype(int)).sum() > 0


def test_bad_config_is_usage_error(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("perception: {det_size: 5}\n")
    rc = main(["recognize", str(tmp_path / "x.jpg"), "--config", str(cfg)])
    assert rc == 2
    assert "perception.det_size" in capsys.readouterr().err  # names the key


def test_truncated_jpeg_is_read_with_a_counted_warning(tmp_path, capsys, models_dir):
    """A snapshot cut short below the plate: the plate is still read, the cut is reported, exit 0."""
    scene, truth = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    ok, buf = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cut = tmp_path / "snapshot.jpg"
    cut.write_bytes(buf.tobytes()[: int(len(buf) * 0.9)])  # the last ~80 rows never arrived
    rc = main(["recognize", str(cut), "--json", "--models", str(models_dir)])
    captured = capsys.readouterr()
    assert rc == 0
    [line] = _lines(captured.out)
    assert line["warnings"] == ["truncated"]
    assert [p["text"] for p in line["plates"]] == ["皖AD12345"]
    assert "truncated" in captured.err and "1 image(s) decoded with warnings" in captured.err


def test_file_name_that_is_not_utf8(tmp_path, models_dir):
    """Used to segfault in cv2.imread (exit 139): the name is given to OpenCV only when it is UTF-8.
    The JSON line stays UTF-8: the name's odd bytes are ``\\udcXX`` escapes that give the bytes back."""
    scene, _ = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    ok, buf = cv2.imencode(".jpg", scene)
    name = os.fsencode(tmp_path) + b"/car\xff.jpg"
    with open(name, "wb") as f:
        f.write(buf.tobytes())
    root = Path(__file__).resolve().parents[2]
    for args in (["--json"], []):
        out = subprocess.run([sys.executable, "-m", "edge_agent", "recognize", os.fsdecode(name), *args,
                              "--models", str(models_dir)], capture_output=True, timeout=120, cwd=root,
                             env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
        assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
        text = out.stdout.decode("utf-8")  # strict: valid UTF-8
        if args:
            [line] = _lines(text)
            assert os.fsencode(line["file"]) == name and [p["text"] for p in line["plates"]] == ["皖AD12345"]
        else:
            assert "car\\xff.jpg" in text and "皖AD12345" in text


def test_cli_edges(tmp_path, capsys, models_dir):
    """--threads below 1 or above the config's ceiling is a usage error (100000 used to reach onnxruntime, which
    hung starting them); --annotate on a file is one line, not a traceback; two inputs with one base name get two
    annotated copies; no null province_confidence."""
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    for d in ("d1", "d2"):
        (tmp_path / d).mkdir()
        cv2.imwrite(str(tmp_path / d / "car.png"), scene)
    cars = [str(tmp_path / d / "car.png") for d in ("d1", "d2")]
    for bad in ("0", "-3", "65", "100000"):
        with pytest.raises(SystemExit) as exc:
            main(["recognize", cars[0], "--threads", bad])
        assert exc.value.code == 2 and f"must be 1 to 64, not {bad}" in capsys.readouterr().err
    for argv in (["eval", cars[0]], ["train", "--data", str(tmp_path)], ["folds", "--data", str(tmp_path),
                                                                          "--out-dir", str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:  # occupancy eval took 0 and -5 as 1 without a word
            main(["occupancy", *argv, "--threads", "0"])
        assert exc.value.code == 2 and "must be 1 to 64, not 0" in capsys.readouterr().err
    taken = tmp_path / "file"
    taken.write_text("x")
    assert main(["recognize", cars[0], "--annotate", str(taken), "--models", str(models_dir)]) == 2
    assert "--annotate" in capsys.readouterr().err
    ann = tmp_path / "ann"
    assert main(["recognize", *cars, "--json", "--annotate", str(ann), "--models", str(models_dir)]) == 0
    assert sorted(p.name for p in ann.iterdir()) == ["car-2.jpg", "car.jpg"]
    for line in _lines(capsys.readouterr().out):
        for p in line["plates"]:
            assert p.get("province_confidence", 1.0) is not None


def test_fifo_input_is_read_once_not_a_hang(tmp_path, models_dir):
    """The bytes read from a FIFO are decoded; the path used to be opened again (cv2.imread), which
    waited forever for a second writer."""
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    ok, buf = cv2.imencode(".jpg", scene)
    fifo = tmp_path / "cam.jpg"
    os.mkfifo(fifo)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "recognize", str(fifo), "--json",
                             "--models", str(models_dir)], stdout=subprocess.PIPE, cwd=root,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    with open(fifo, "wb") as f:
        f.write(buf.tobytes())
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("recognize hung on a FIFO")
    assert [p["text"] for p in _lines(out.decode())[0]["plates"]] == ["苏E12345"]


def test_a_reader_that_stops_early_is_no_traceback(tmp_path, models_dir):
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    img = tmp_path / "car.png"
    cv2.imwrite(str(img), scene)
    root = Path(__file__).resolve().parents[2]
    q = shlex.quote  # a checkout (and so the venv and models) may sit under a path with a space or a quote
    cmd = (f"{q(sys.executable)} -m edge_agent recognize {q(str(img))} {q(str(img))} {q(str(img))} --json "
           f"--models {q(str(models_dir))} | head -c 1")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert out.stdout == "{", out.stderr  # the agent ran and wrote (a shell error here passed unnoticed)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


def test_rotate_and_flip_read_a_turned_photo_and_report_the_files_own_pixels(tmp_path, capsys, models_dir):
    """A photo from a camera mounted upside down (or mirrored) reads as nothing: the detector and recogniser
    read upright text only. ``--rotate`` / ``--flip`` turn it as ``camera.rotate`` / ``flip`` do; the JSON
    keeps the contract: corners in the file's pixels (the plate's reading order: its top-left first)."""
    scene, truth = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    upside_down, mirrored = tmp_path / "upside-down.png", tmp_path / "mirrored.png"
    cv2.imwrite(str(upside_down), cv2.rotate(scene, cv2.ROTATE_180))
    cv2.imwrite(str(mirrored), cv2.flip(scene, 1))
    assert main(["recognize", str(upside_down), str(mirrored), "--json", "--models", str(models_dir)]) == 0
    unturned = [p for doc in _lines(capsys.readouterr().out) for p in doc["plates"]]
    assert not [p for p in unturned if p["complete"] or p["text"] == "皖AD12345"], unturned  # strokes ('422'), no plate

    for path, args, in_file in ((upside_down, ["--rotate", "180"], np.array([1279, 719]) - truth),
                                (mirrored, ["--flip", "horizontal"], np.stack([1279 - truth[:, 0], truth[:, 1]], 1))):
        assert main(["recognize", str(path), "--json", "--models", str(models_dir), *args]) == 0
        [doc] = _lines(capsys.readouterr().out)
        [plate] = doc["plates"]
        assert plate["text"] == "皖AD12345"
        assert np.abs(np.array(plate["corners"]) - in_file).max() < 20
        x1, y1, x2, y2 = plate["box"]
        assert x1 < x2 and y1 < y2 and abs(x1 - in_file[:, 0].min()) < 20 and abs(y2 - in_file[:, 1].max()) < 20

    for bad in (["--rotate", "45"], ["--rotate", "-90"], ["--flip", "both"]):
        with pytest.raises(SystemExit) as exc:
            main(["recognize", str(upside_down), *bad])
        assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
@pytest.mark.parametrize("flip", ["none", "horizontal", "vertical"])
def test_a_box_turned_back_stays_inside_the_file_and_on_its_pixels(rotate, flip):
    """``box`` is an edge rectangle (x2, y2 up to the image's width and height, as the pipeline clips it),
    ``corners`` are pixel positions. Mapped back like corners, a box touching the turned image's edge came
    out at -1 (outside the file, a crop ``img[y1:y2, x1:x2]`` of it empty) and every box one pixel off."""
    from edge_agent.camera.orient import Orientation
    from edge_agent.perception.commands import _unturned

    view = Orientation(rotate, flip)
    size = view.upright_size((64, 48))  # a 64x48 file, turned
    whole = _unturned({"corners": [[0, 0]], "box": [0.0, 0.0, float(size[0]), float(size[1])]}, view, size)
    assert whole["box"] == [0.0, 0.0, 64.0, 48.0]
    file_px = np.zeros((48, 64), np.uint8)
    file_px[5:15, 10:30] = 1  # a 20x10 plate at x 10..29, y 5..14 of the file
    up = view.apply(file_px)
    ys, xs = np.nonzero(up)
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    assert _unturned({"corners": [[xs.min(), ys.min()]], "box": box}, view, size)["box"] == [10.0, 5.0, 30.0, 15.0]


def test_a_plate_small_in_a_big_photo_is_read_unless_the_config_turns_the_zoom_pass_off(tmp_path, capsys, models_dir):
    """A distant car in a big photo: its 100 px plate is 25 px in the detector's frame pass of a
    3840×2160 image and was never found. Stills get the zoom pass unless ``det_zoom_pass`` is set."""
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=0, frame=(3840, 2160), plate_width=100)
    photo = tmp_path / "far.jpg"
    cv2.imwrite(str(photo), scene)
    assert main(["recognize", str(photo), "--json", "--models", str(models_dir)]) == 0
    [plate] = _lines(capsys.readouterr().out)[0]["plates"]
    assert plate["text"] == "苏E12345" and np.abs(np.array(plate["corners"]) - truth).max() < 12
    off = tmp_path / "off.yaml"
    off.write_text("perception:\n  det_zoom_pass: 0\n", encoding="utf-8")
    assert main(["recognize", str(photo), "--json", "--models", str(models_dir), "--config", str(off)]) == 0
    assert _lines(capsys.readouterr().out)[0]["plates"] == []


def test_json_lines_are_utf8_whatever_the_locale(tmp_path, models_dir):
    """The contract's JSON Lines are UTF-8: under a GB18030 locale (Chinese systems) they came out in GB18030
    (a backend's UTF-8 parser failed on the plate), under an ASCII one the plate was a traceback. The readable
    table stays in the terminal's encoding, what it cannot show escaped."""
    scene, _ = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    img = tmp_path / "车.png"
    cv2.imwrite(str(img), scene)
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    for encoding in ("gb18030", "ascii"):
        out = subprocess.run([sys.executable, "-m", "edge_agent", "recognize", str(img), "--json", "--models",
                              str(models_dir)], capture_output=True, timeout=120, cwd=root,
                             env={**env, "PYTHONIOENCODING": encoding})
        assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]
        [line] = _lines(out.stdout.decode("utf-8"))  # strict
        assert line["file"] == str(img) and [p["text"] for p in line["plates"]] == ["皖AD12345"]
    table = subprocess.run([sys.executable, "-m", "edge_agent", "recognize", str(img), "--models", str(models_dir)],
                           capture_output=True, timeout=120, cwd=root, env={**env, "PYTHONIOENCODING": "ascii"})
    assert table.returncode == 0 and b"Traceback" not in table.stderr, table.stderr[-2000:]
    assert "\\u7696AD12345" in table.stdout.decode("ascii")


def test_annotated_copies_never_replace_the_photos_they_are_drawn_from(tmp_path, capsys, models_dir):
    """``recognize photos/*.jpg --annotate photos/`` wrote each annotated copy over its own photo; ``eval --json``
    naming the labels file wrote the metrics over the labels. Neither input is touched now."""
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    photo = tmp_path / "car.jpg"
    cv2.imwrite(str(photo), scene)
    original = photo.read_bytes()
    link = tmp_path / "same.jpg"
    link.symlink_to(photo)
    assert main(["recognize", str(photo), "--annotate", str(tmp_path), "--models", str(models_dir)]) == 0
    assert main(["recognize", str(link), "--annotate", str(tmp_path), "--models", str(models_dir)]) == 0
    assert photo.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["car-2.jpg", "car.jpg", "same-2.jpg", "same.jpg"]
    drawn = cv2.imread(str(tmp_path / "car-2.jpg"))
    assert drawn.shape == scene.shape and np.abs(drawn.astype(int) - cv2.imread(str(photo)).astype(int)).sum() > 0

    labels = tmp_path / "labels.csv"
    text = "file,plate_text,plate_color,scene\ncar.jpg,苏E12345,blue,full\n"
    labels.write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", "--labels", str(labels), "--json", str(labels), "--models", str(models_dir)]) == 2
    assert "is the labels file" in capsys.readouterr().err and labels.read_text(encoding="utf-8") == text


def test_the_table_shows_control_characters_of_file_names_escaped(tmp_path, capsys, models_dir):
    """A file named with a newline split its table row in two (the second half looked like another file's row);
    one with an escape sequence (``\\x1b[2J`` clears the screen) drove the operator's terminal, in the table
    and in the truncated-image warning. The JSON keeps the name exact."""
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    ok, buf = cv2.imencode(".jpg", scene)
    names = [tmp_path / "a\nfake.jpg 苏E99999 blue", tmp_path / "b\x1b[2J.jpg"]
    for name in names:
        name.write_bytes(buf.tobytes()[: int(len(buf) * 0.95)])  # cut short: a warning line names it too
    assert main(["recognize", *map(str, names), "--models", str(models_dir)]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and len(out.splitlines()) == 3, out
    assert "a\\nfake.jpg" in out and "b\\x1b[2J.jpg" in out and "b\\x1b[2J.jpg: truncated" in err
    assert main(["recognize", *map(str, names), "--json", "--models", str(models_dir)]) == 0
    assert [line["file"] for line in _lines(capsys.readouterr().out)] == list(map(str, names))


def test_an_annotated_copy_that_cannot_be_written_is_said_and_fails_the_run(tmp_path, capsys, models_dir):
    """OpenCV answered False, not an error, when it could not write: ``--annotate /proc/self`` lost the copy
    without a word, exit 0. A folder named like the copy is no longer written over: the copy takes the next name."""
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    photo = tmp_path / "car.png"
    cv2.imwrite(str(photo), scene)
    assert main(["recognize", str(photo), "--json", "--annotate", "/proc/self", "--models", str(models_dir)]) == 1
    out, err = capsys.readouterr()
    assert "recognize: cannot write /proc/self/car.jpg: " in err
    assert [p["text"] for p in _lines(out)[0]["plates"]] == ["苏E12345"]  # the read is still reported
    ann = tmp_path / "ann"
    (ann / "car.jpg").mkdir(parents=True)
    assert main(["recognize", str(photo), "--json", "--annotate", str(ann), "--models", str(models_dir)]) == 0
    assert (ann / "car.jpg").is_dir() and cv2.imread(str(ann / "car-2.jpg")).shape == scene.shape


def test_annotated_copies_replace_only_earlier_copies_not_files_already_in_the_folder(tmp_path, capsys, models_dir):
    """Two photos named ``car.jpg`` get ``car.jpg`` and ``car-2.jpg`` — and a ``car-2.jpg`` someone had put in the
    folder was replaced by the second copy (only the inputs themselves were kept). Now a copy takes the next name
    that is free or holds an earlier run's copy (marked in its JPEG comment): a stranger's photo, a link, a folder
    stay; running again writes the same names over its own copies."""
    ann = tmp_path / "ann"
    ann.mkdir()
    photos = []
    for i, text in enumerate(["苏E12345", "皖A88888"]):
        scene, _ = render_scene(render_plate(text, "blue"), seed=4, frame=(1280, 720), plate_width=200)
        (tmp_path / str(i)).mkdir()
        photos.append(tmp_path / str(i) / "car.jpg")
        cv2.imwrite(str(photos[-1]), scene)
    stranger = ann / "car-2.jpg"
    stranger.write_bytes(photos[1].read_bytes())
    elsewhere = tmp_path / "keep.jpg"
    elsewhere.write_bytes(b"not mine")
    (ann / "car-3.jpg").symlink_to(elsewhere)
    mine = stranger.read_bytes()
    for _ in range(2):
        assert main(["recognize", *map(str, photos), "--annotate", str(ann), "--models", str(models_dir)]) == 0
        assert stranger.read_bytes() == mine and elsewhere.read_bytes() == b"not mine"
        assert sorted(p.name for p in ann.iterdir()) == ["car-2.jpg", "car-3.jpg", "car-4.jpg", "car.jpg"]
    capsys.readouterr()
    for name, photo in (("car.jpg", photos[0]), ("car-4.jpg", photos[1])):
        drawn = cv2.imread(str(ann / name))
        assert drawn.shape == cv2.imread(str(photo)).shape and annotate_mod.is_marked(ann / name)
    assert not annotate_mod.is_marked(stranger) and not annotate_mod.is_marked(ann / "car-3.jpg")


def test_photos_may_follow_the_options(images, capsys, models_dir):
    """``recognize a.jpg --json b.jpg`` was "unrecognized arguments: b.jpg" (argparse reads a list of files only
    up to the first option); every photo is read, in the order given. A real stray option is still refused."""
    good, bad, _missing, _truth = images
    assert main(["recognize", str(bad), "--json", str(good), "--models", str(models_dir), str(bad)]) == 1
    assert [d["file"] for d in _lines(capsys.readouterr().out)] == [str(bad), str(good), str(bad)]
    with pytest.raises(SystemExit) as exc:
        main(["recognize", str(good), "--json", str(good), "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: " in capsys.readouterr().err


def test_a_dash_reads_the_photo_on_standard_input(tmp_path, models_dir):
    """``curl …/snapshot.jpg | edge-agent recognize -`` said "no such file: -"; a second ``-`` finds the input
    used up and says so, and the run goes on."""
    scene, _ = render_scene(render_plate("皖AD12345", "small_nev"), seed=4, frame=(1280, 720), plate_width=200)
    ok, buf = cv2.imencode(".jpg", scene)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "recognize", "-", "-", "--json", "--models", str(models_dir)],
                          input=buf.tobytes(), capture_output=True, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    first, second = _lines(proc.stdout.decode())
    assert first["file"] == "-"
    assert [(p["text"], p["colour"], p["nev"]) for p in first["plates"]] == [("皖AD12345", "green", True)]
    assert second == {"file": "-", "error": "empty file: standard input", "plates": []}
    assert proc.returncode == 1 and "Traceback" not in proc.stderr.decode()


def test_an_empty_name_is_no_file_not_the_current_folder(capsys, models_dir):
    """``recognize ""`` (a script's unset variable) was reported ``is a directory: .`` — the empty name was read as
    the current folder. It names no file."""
    assert main(["recognize", "", "--json", "--models", str(models_dir)]) == 1
    [line] = _lines(capsys.readouterr().out)
    assert line["file"] == "" and line["plates"] == [] and line["error"].startswith("no such file: ''")


def _numbers(node) -> list:
    return [v for item in node for v in (_numbers(item) if isinstance(item, list) else [item])]


@pytest.mark.parametrize("cut", ["right", "bottom"])
def test_coordinates_of_a_plate_cut_by_the_edge_are_floats_like_every_other(tmp_path, capsys, models_dir, cut):
    """The contract's ``box`` and ``corners`` are pixel coordinates written with one decimal (``203.0``). A plate
    the photo's edge cuts had its box clipped to the image's width or height, a Python ``int``, and written
    ``190`` beside ``166.4``: a consumer that types the field by its first value (pandas, a Go or Rust struct
    built from a sample line) met an integer in a float column."""
    scene, truth = render_scene(render_plate("粤B12345", "blue"), seed=4, frame=(1280, 720), plate_width=240)
    x1, y1 = truth.min(axis=0)
    x2, y2 = truth.max(axis=0)
    # cut the photo through the plate's last quarter: the detector still finds it and reaches past the edge
    photo = scene[:, : int(x2 - (x2 - x1) / 4)] if cut == "right" else scene[: int(y2 - (y2 - y1) / 4)]
    path = tmp_path / "cut.png"
    cv2.imwrite(str(path), photo)
    assert main(["recognize", str(path), "--json", "--models", str(models_dir)]) == 0
    [line] = _lines(capsys.readouterr().out)
    [plate] = line["plates"]
    h, w = photo.shape[:2]
    edge = plate["box"][2] if cut == "right" else plate["box"][3]
    assert edge == (w if cut == "right" else h)  # clipped at the edge: the case that was an int
    values = _numbers(plate["box"]) + _numbers(plate["corners"])
    assert all(type(v) is float for v in values), plate["box"]


def test_a_file_name_with_a_line_separator_stays_one_json_line(tmp_path, capsys, models_dir):
    """JSON allows U+2028, U+2029 and U+0085 raw, but ``str.splitlines`` — how a consumer (this file's ``_lines``
    too) usually cuts the output — breaks a line there: a photo named with one was read as two broken records.
    They are written as ``\\u`` escapes, and ``json.loads`` gives the name back."""
    photo = tmp_path / "a.jpg"
    cv2.imwrite(str(photo), np.zeros((40, 60, 3), np.uint8))
    names = [str(tmp_path / f"car{sep}park.jpg") for sep in ("\u2028", "\u2029", "\x85")]
    for name in names:
        Path(name).write_bytes(photo.read_bytes())
    assert main(["recognize", *names, "--json", "--models", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert [line["file"] for line in _lines(out)] == names


def test_a_far_plate_in_a_12_mp_phone_photo_is_read(tmp_path, capsys, models_dir):
    """A far NEV in a 4032×3024 phone photo (the plate 1.4–2 % of its width): read from the photo's own pixels.
    The photo used to be decoded at half size (12.2 MP, over a 12_000_000 limit): the 56 px plate was not
    found, the 80 px one a partial read with a wrong serial."""
    files = []
    for width in (56, 80):
        scene, _ = render_scene(render_plate("皖AD12345", "small_nev"), seed=5, frame=(4032, 3024), plate_width=width)
        files.append(tmp_path / f"far{width}.jpg")
        cv2.imwrite(str(files[-1]), scene, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert main(["recognize", *map(str, files), "--json", "--threads", "2", "--models", str(models_dir)]) == 0
    at56, at80 = (line["plates"] for line in _lines(capsys.readouterr().out))
    assert [(p["text"], p["nev"]) for p in at80] == [("皖AD12345", True)]
    assert [p["nev"] for p in at56] == [True] and at56[0]["text"].endswith("AD12345")


def test_the_table_shows_bidirectional_controls_of_file_names_escaped(tmp_path, capsys, models_dir):
    """A file named ``car\\u202egpj.exe`` showed as ``carexe.jpg`` in the table: a name from outside reordered
    the row the operator read. Escaped in the table; the JSON keeps the name exact (escaped in its text)."""
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=4, frame=(1280, 720), plate_width=200)
    ok, buf = cv2.imencode(".jpg", scene)
    name = tmp_path / "car\u202egpj.exe\u2066x\u2069"
    name.write_bytes(buf.tobytes())
    assert main(["recognize", str(name), "--models", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\u2066" not in out and "car\\u202egpj.exe\\u2066x\\u2069" in out, ascii(out)
    assert main(["recognize", str(name), "--json", "--models", str(models_dir)]) == 0
    text = capsys.readouterr().out
    assert "\u202e" not in text and [line["file"] for line in _lines(text)] == [str(name)]


def test_several_plates_in_one_photo_are_listed_left_to_right(tmp_path, capsys, models_dir):
    """Three cars side by side, the nearest (biggest plate) on the right: listed in the detector's order, by its
    confidence, the JSON and the table said right to left, and a script taking each car's plate in the photo's order
    took them reversed (leftovers34). Now left to right by the box's left edge, in both."""
    parts = [render_scene(render_plate(text, style), seed=i + 1, frame=(640, 400), plate_width=width)[0]
             for i, (text, style, width) in enumerate((("京A12345", "blue", 120), ("皖AD12345", "small_nev", 150),
                                                       ("粤B67890", "blue", 190)))]
    photo = tmp_path / "row.png"
    cv2.imwrite(str(photo), cv2.hconcat(parts))
    assert main(["recognize", str(photo), "--json", "--models", str(models_dir)]) == 0
    [doc] = _lines(capsys.readouterr().out)
    assert [p["text"] for p in doc["plates"]] == ["京A12345", "皖AD12345", "粤B67890"]
    lefts = [p["box"][0] for p in doc["plates"]]
    assert lefts == sorted(lefts)
    assert main(["recognize", str(photo), "--models", str(models_dir)]) == 0
    table = capsys.readouterr().out
    assert table.index("京A12345") < table.index("皖AD12345") < table.index("粤B67890")


def test_a_missing_photo_exits_1_as_its_help_and_the_readme_say(capsys, tmp_path, models_dir):
    """``recognize /missing.jpg`` exits 1 with the file's line (the JSON Lines contract: the batch goes on), while
    README's general rule said "a file that is missing … exit 2" and the help only that rule (newuser37). The help
    and README say the photos are the job's input: named on their own line, exit 1 at the end."""
    from edge_agent.cli import build_parser

    assert main(["recognize", str(tmp_path / "missing.jpg"), "--json", "--models", str(models_dir)]) == 1
    assert _lines(capsys.readouterr().out)[0]["error"].startswith("no such file")
    sub = next(a for a in build_parser()._actions if a.choices and "recognize" in a.choices)
    for name in ("recognize", "eval"):
        text = " ".join(sub.choices[name].format_help().split())
        assert "an image that is missing" in text and "exits 1 at the end" in text, text
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "a missing or unreadable one is named on its own line, the others are still read, and the run exits 1" \
        in readme


def test_a_box_at_the_edge_of_a_photo_decoded_reduced_stays_inside_the_file(tmp_path, capsys, models_dir):
    """A photo over the pixel limit is decoded at 1/2 (or 1/4, 1/8), its coordinates multiplied back. libjpeg
    rounds a reduced side up (4033 px → 2017), so a box clipped at the reduced image's edge came back at 4034
    in a 4033-px-wide photo: outside the file, where the contract says coordinates are clipped to the image."""
    scene, truth = render_scene(render_plate("粤B12345", "blue"), seed=4, frame=(1400, 900), plate_width=300)
    x1, x2 = truth[:, 0].min(), truth[:, 0].max()
    cut = scene[:, : int(x2 - (x2 - x1) / 8)]  # the photo's right edge runs through the plate's last eighth
    photo = np.full((3025, 4033, 3), 90, np.uint8)  # odd sides, over the 12.2 MP limit: decoded at 1/2
    photo[-cut.shape[0] :, -cut.shape[1] :] = cut
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert main(["recognize", str(path), "--json", "--models", str(models_dir)]) == 0
    [line] = _lines(capsys.readouterr().out)
    assert line["warnings"] == ["reduced"]
    [plate] = line["plates"]
    assert plate["box"][2] == 4033.0  # clipped at the file's edge, as at full size
    xs, ys = _numbers(plate["box"])[::2] + [x for x, _ in plate["corners"]], _numbers(plate["box"])[1::2]
    assert max(xs) <= 4033 and max(ys) <= 3025


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("json_lines", [True, False])
def test_a_full_disk_under_the_results_is_said_not_a_traceback(tmp_path, models_dir, json_lines):
    """``recognize --json photos/*.jpg > results.jsonl`` on a full SD card was a Python traceback (the table's, at
    exit); the run now says that its results could not be written, exit 1."""
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), np.full((48, 64, 3), 90, np.uint8))
    root = Path(__file__).resolve().parents[2]
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "recognize", str(photo), str(tmp_path / "none.jpg"),
                               "--models", str(models_dir), *(["--json"] if json_lines else [])],
                              stdout=full, stderr=subprocess.PIPE, cwd=tmp_path, timeout=120,
                              env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert err.splitlines()[-1] == ("recognize: cannot write standard output (No space left on device): stopped, "
                                    "the results are incomplete")


def test_results_with_stdout_closed_are_refused_not_lost(tmp_path, models_dir):
    """``recognize --json a.jpg >&-`` wrote its results nowhere and exited 0."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "edge_agent", "recognize", "a.jpg",
                           "--json", "--models", str(models_dir)], stderr=subprocess.PIPE, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 2
    assert proc.stderr.decode() == "recognize: standard output is closed: nowhere to write the results\n"
