"""The whole Pipeline on real models: rendered plates end to end, and accuracy floors on plates-dev."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.evaluate import evaluate, write_failures
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.lowlight import brightened, median_luma
from edge_agent.perception.pipeline import Pipeline
from edge_agent.plates import parse_plate
from tests.perception.render import render_plate, render_scene, scene


@pytest.fixture(scope="module")
def pipeline(models_dir):
    return Pipeline.from_config(PerceptionConfig(threads=2), models_dir)


@pytest.mark.parametrize("text,style,nev,colour", [
    ("苏E12345", "blue", False, "blue"),
    ("皖AD12345", "small_nev", True, "green"),
    ("青A00109D", "large_nev", True, "yellow_green"),
    ("民航B9016", "green_white", False, "green"),  # green but NOT an NEV
    ("浙A1234学", "yellow", False, "yellow"),
])
@pytest.mark.parametrize("plate_width", [220, 110])
def test_rendered_scene_end_to_end(pipeline, text, style, nev, colour, plate_width):
    scene, truth = render_scene(render_plate(text, style), seed=7, frame=(1920, 1080), plate_width=plate_width)
    reads = pipeline.process(scene)
    assert len(reads) == 1
    r = reads[0]
    assert (r.text, r.colour, r.nev) == (text, colour, nev), r.nev_reason
    assert np.abs(np.asarray(r.corners) - truth).max() < 0.1 * plate_width
    assert r.crop.shape == (48, 168, 3)
    assert len(r.char_confidences) == len(text) and r.confidence > 0.5


def test_double_row_plate_is_read_or_reported_unread(pipeline):
    scene, _ = render_scene(render_plate("京EA5331", "yellow_double"), seed=2, frame=(1280, 720), plate_width=200)
    [r] = pipeline.process(scene)
    assert r.double_row and r.crop.shape == (96, 192, 3)  # evidence shows both rows
    assert r.text in ("京EA5331", "")  # never the bottom row alone
    assert r.nev is False


class _CornersDetector:
    """The detector's answer for a two-row plate it framed by its big lower row: fixed corners."""

    def __init__(self, corners: np.ndarray) -> None:
        self.corners = np.float32(corners)

    def detect(self, frame, region=None):
        from edge_agent.perception.detector import Detection

        c = self.corners
        return [Detection(c, (float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()),
                              float(c[:, 1].max())), 0.99)]


@pytest.mark.parametrize("text", ["渝D00796", "京EA5331", "蒙A70531"])
def test_double_row_plate_whose_corners_cut_the_upper_row_is_read_whole(pipeline, text):
    """plates-dev's 渝D00796 truck: the corners cut the small upper row (province + letter) in half,
    and the split rows read ``D00796`` (unread) or a letter-led military shape (``?MD00796``).
    Moving the top edge up recovers the province."""
    scene, truth = render_scene(render_plate(text, "yellow_double"), seed=2, frame=(1280, 720), plate_width=200)
    cut = np.float32(truth).copy()
    cut[0] += (cut[3] - cut[0]) * 0.2  # top edge 20 % of the height down: through the upper row
    cut[1] += (cut[2] - cut[1]) * 0.2
    [r] = Pipeline(_CornersDetector(cut), pipeline.recognizer, pipeline.cfg).process(scene)
    assert r.double_row and (r.text, r.complete, r.nev) == (text, True, False)
    assert r.crop.shape == (96, 192, 3)
    assert np.allclose(r.corners, cut)  # reported where the plate was found


def test_small_cross_border_plate_keeps_its_hong_kong_suffix(pipeline):
    """粤Z is issued only to Hong Kong / Macau cross-border vehicles (GA 36): at 90 px the 港 read
    as 8, and the complete 7-character civil text turned the black plate blue."""
    scene, _ = render_scene(render_plate("粤ZF023港", "black"), seed=3, frame=(1280, 720), plate_width=90)
    [r] = pipeline.process(scene)
    assert (r.text, r.colour, r.nev, r.type_code) == ("粤ZF023港", "black", False, "26")


@pytest.mark.parametrize("text", ["京X1234应急", "粤S0518应急", "京12345应急"])
def test_emergency_plate_is_never_called_nev(pipeline, text):
    """A fire engine's plate: white, black characters, a red 应急 — 8 characters, like an NEV plate.
    Without 应急 in the vocabulary its suffix was read as two serial characters and the eight bent
    into a large NEV serial (京X12349A, 京L23459J), which white with dark characters made "NEV" —
    small and at a steep angle (70 px). Read whole when large; never NEV at any size."""
    plate = render_plate(text, "emergency")
    scene, _ = render_scene(plate, seed=0, frame=(1280, 720), plate_width=220)
    [r] = pipeline.process(scene)
    assert (r.text, r.complete, r.colour, r.nev, r.type_code) == (text, True, "white", False, "99")
    assert r.extra["kind"] == "emergency"
    for width, seed, yaw in [(70, 0, 0.15), (70, 0, 0.4), (70, 1, 0.4), (70, 1, 0.15), (110, 1, 0.4)]:
        scene, _ = render_scene(plate, seed=seed, frame=(1280, 720), plate_width=width, yaw=yaw)
        for r in pipeline.process(scene):
            assert r.nev is not True, (width, seed, yaw, r.text, r.colour, r.nev_reason)


@pytest.mark.parametrize("text,width,seed", [("粤S0518应急", 60, 0), ("粤S0518应急", 55, 2), ("京X1234应急", 60, 2)])
def test_small_emergency_plate_misread_as_a_small_nev_serial_is_not_nev(pipeline, text, width, seed):
    """At 55–60 px the red 应急 is read as serial characters and the eight fit a small NEV serial
    (粤SD51831, 京XH23431); white with dark characters then turned "green", NEV. Red characters at
    the plate's end (警 / 应急; an NEV plate's are all black) leave it undecided."""
    scene, _ = render_scene(render_plate(text, "emergency"), seed=seed, frame=(1280, 720), plate_width=width)
    reads = pipeline.process(scene)
    assert reads and all(r.nev is not True for r in reads), [(r.text, r.colour, r.nev_reason) for r in reads]


def test_allow_list_overrides(models_dir):
    p = Pipeline.from_config(PerceptionConfig(threads=2), models_dir, PlateLists(allow=["苏E12345"]))
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=1, plate_width=200)
    [r] = p.process(scene)
    assert (r.nev, r.nev_reason) == (True, "allow_list")


def test_empty_frame(pipeline):
    assert pipeline.process(np.full((720, 1280, 3), 80, np.uint8)) == []


@pytest.mark.dataset
def test_armed_police_plate_in_greyscale_is_not_called_nev(pipeline, plates_dev):
    """plates-dev's white armed-police plate (WJ1693015) from a monochrome camera: the recogniser
    lost a character and the W, which it gives no province any weight, was forced into one —
    川JJ93015, an NEV plate by its format alone, so a police car was 'NEV'. Without colour the
    plate is never NEV on a guessed province."""
    from edge_agent.perception.imageio import read_image

    grey = cv2.cvtColor(cv2.cvtColor(read_image(plates_dev / "images" / "we__tmpA5E3.png"), cv2.COLOR_BGR2GRAY),
                        cv2.COLOR_GRAY2BGR)
    reads = pipeline.process(grey)
    assert reads and all(r.nev is not True and not parse_plate(r.text).is_nev_format for r in reads)


@pytest.mark.dataset
@pytest.mark.parametrize("angle", [25, -25])
def test_a_photo_rolled_25_degrees_is_read_by_the_roll_pass(models_dir, plates_dev, angle):
    """plates-dev's photos turned 25° (a phone held askew, a camera on a tilted pole) lost 15 % of
    their plates: the detector finds plates within about ±15° of level. With nothing found, the
    roll pass searches the photo turned back ±20° and maps the corners into the photo's pixels."""
    from edge_agent.perception.imageio import read_image

    img = read_image(plates_dev / "images" / "easypr__皖AL025S.jpg")
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    side = int(np.ceil(np.hypot(w, h)))
    m[:, 2] += ((side - w) / 2, (side - h) / 2)
    rolled = cv2.warpAffine(img, m, (side, side), borderValue=(90, 90, 90))
    assert Pipeline.from_config(PerceptionConfig(threads=1), models_dir).process(rolled) == []
    [r] = Pipeline.from_config(PerceptionConfig(threads=1, det_roll_pass=20), models_dir).process(rolled)
    assert (r.text, r.colour, r.nev) == ("皖AL025S", "blue", False)
    x1, y1, x2, y2 = r.box  # in the rolled photo's pixels, around the plate
    assert 0 <= x1 < x2 <= side and 0 <= y1 < y2 <= side and (x2 - x1) > (y2 - y1)


@pytest.mark.dataset
def test_a_plate_crop_is_read_whole_before_any_roll_pass(models_dir, plates_dev):
    """A plate-shaped image with nothing detected is the plate itself: turned ±20°, the detector
    found part of it and read 皖AHX5T1 (one of 238 plates-dev crops)."""
    from edge_agent.perception.imageio import read_image

    crop = read_image(plates_dev / "crops" / "lprnet__皖AHX511.jpg")
    [r] = Pipeline.from_config(PerceptionConfig(threads=1, det_roll_pass=20), models_dir).process(crop)
    assert r.text == "皖AHX511"


@pytest.mark.dataset
def test_accuracy_floors_on_plates_dev(pipeline, plates_dev, tmp_path):
    """The issue's acceptance numbers on the real photos (full scenes)."""
    rep = evaluate(pipeline.process, plates_dev / "labels.csv", progress=False)
    m = rep.metrics()
    assert m["plates"] == 261 and m["errors"] == 0  # plates-dev README: 261 plates in full scenes
    # partial reads are honest where they read; plus the two military plates (GA13189, VA30093),
    # read ?GA13189 on purpose: the text is also an NEV serial without its province (shape.py)
    assert m["partial_wrong"] <= 3
    assert m["detection_recall"] >= 0.97
    assert m["exact_text_single_row"] >= 0.92
    assert m["blue_called_nev"] == 0
    assert m["green_non_nev_called_nev"] == 0 and m["green_non_nev_plates"] >= 2
    assert m["nev_recall"] >= 0.95
    assert m["colour_accuracy"] >= 0.93
    n = write_failures(rep, tmp_path / "fail", plates_dev)
    assert n == len(rep.failures()) and (tmp_path / "fail" / "contact_sheet.jpg").stat().st_size > 1000


@pytest.mark.dataset
def test_plate_crop_image_is_read_as_the_plate(pipeline, plates_dev):
    """Operators feed tight crops to ``recognize``: a plate-shaped image with no detection
    (this 94×24 LPRNet crop has none) is read whole."""
    from edge_agent.perception.imageio import read_image

    crop = read_image(plates_dev / "crops" / "lprnet__皖A82Z60.jpg")
    assert pipeline.detector.detect(crop) == []
    [r] = pipeline.process(crop)
    assert (r.text, r.colour) == ("皖A82Z60", "blue")
    assert pipeline.process(np.full((24, 94, 3), 128, np.uint8)) == []  # blank: no plate-like reading


# (text, style, plate width px, Gaussian blur σ, scene seed): small blurred NEV plates read right
# whose dark characters measured "white" (0.05–0.16) — every one was "not NEV" (a fine for an EV)
_BLURRED_NEV = [
    ("京AD88888", "small_nev", 84, 1.2, 0),  # green, white 0.139
    ("京AD88888", "small_nev", 100, 1.2, 1),  # green, white 0.141
    ("京AD88888", "small_nev", 130, 1.5, 1),  # green, white 0.121
    ("青A00109D", "large_nev", 72, 0.8, 0),  # green, white 0.141
    ("京AD88888", "small_nev", 84, 0.8, 1),  # green 0.82 of the votes, moved to blue by white 0.052
    ("青A00109D", "large_nev", 84, 1.2, 1),  # yellow-green, moved to blue by white 0.098
]


@pytest.mark.parametrize("text,style,width,sigma,seed", _BLURRED_NEV)
def test_small_blurred_nev_plate_is_never_called_fuel(pipeline, text, style, width, sigma, seed):
    """Blur on a small plate turns a dark-character NEV plate "white": its characters become dark
    blobs wider than the stroke kernel while the light gaps between them stay thin. White characters
    on green are the civil-aviation / agricultural plates, whose texts have their own formats: a
    complete NEV text under them is undecided, never "not NEV", and keeps its green."""
    scene, _ = render_scene(render_plate(text, style), seed=seed, plate_width=width)
    [r] = pipeline.process(cv2.GaussianBlur(scene, (0, 0), sigma))
    assert r.text == text and r.extra["dark_chars"] is False  # the case: read right, polarity wrong
    assert r.nev is not False, (r.colour, r.nev_reason, r.extra["polarity"])
    assert r.colour in ("green", "yellow_green")


@pytest.mark.parametrize("text,width,sigma,quality,seed", [
    ("民航A3372", 84, 0.0, 50, 1), ("民航A3372", 100, 0.8, 50, 0), ("民航A3372", 160, 0.0, None, 0),
    ("民航A3372", 100, 1.5, None, 0),  # read 民航3372: a character lost
    ("民航B9016", 72, 1.2, None, 0), ("民航A3372", 72, 1.2, None, 0),  # characters measured dark (0.24, 0.13)
])
def test_blurred_civil_aviation_plate_stays_not_nev(pipeline, text, width, sigma, quality, seed):
    """The green trap: white characters on green with a 民航 text are not NEV. No other plate starts
    with 民航, so the text decides — also read with a character lost (``民航3372``), and when blur on
    the small plate measured its white characters "dark" (it was undecided: a 民航 van fined as unidentified)."""
    scene, _ = render_scene(render_plate(text, "green_white"), seed=seed, plate_width=width)
    if sigma:
        scene = cv2.GaussianBlur(scene, (0, 0), sigma)
    if quality:
        scene = cv2.imdecode(cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    [r] = pipeline.process(scene)
    assert r.text.startswith("民航") and r.colour == "green"
    assert r.nev is False, (r.nev_reason, r.extra)


def test_the_province_character_confidence_is_the_province_call(pipeline, monkeypatch):
    """The province re-read (a larger warp of the left third, rankings averaged) may keep the
    province and still doubt it: a rolled 皖A80375 kept 新 at 0.30 while its first read said 0.59.
    ``char_confidences[0]`` kept the first read, so the weakest character — what tells a
    confident-looking wrong read (the province swaps under defocus, 0.37–0.66) — hid the doubt
    ``province_confidence`` reported. Both now say the province call's probability."""
    from edge_agent.perception.province import ProvinceCall

    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=7, frame=(1920, 1080), plate_width=220)
    calls = []

    def doubtful(frame, corners, read):
        calls.append(read[0])
        return ProvinceCall(read[0][0], 0.3, 0.1, "reread")  # same province, in doubt

    monkeypatch.setattr(pipeline.provinces, "call", doubtful)
    [r] = pipeline.process(scene)
    assert calls and r.text == "苏E12345"
    assert r.province_confidence == 0.3 and r.char_confidences[0] == 0.3


def _at_night(frame: np.ndarray, gain: float = 0.1, sigma: float = 5.0) -> np.ndarray:
    """A tenth of the light and the sensor's noise over it (seeded)."""
    noisy = frame.astype(np.float32) * gain + np.random.default_rng(0).normal(0.0, sigma, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_a_night_photos_plate_the_detector_misses_is_found_on_a_brightened_copy_and_read(models_dir):
    """A stills pass (``recognize``, ``eval``: the roll pass on); a camera's frames, all dark at night, never pay it."""
    frame = _at_night(scene("沪B67890", "yellow", seed=0, plate_width=160)[0])
    stills = Pipeline.from_config(PerceptionConfig(threads=2, det_roll_pass=20), models_dir)
    assert stills.detector.detect(frame) == []  # the photo itself: nothing found
    reads = stills.process(frame)
    assert [(r.text, r.colour, r.nev, r.complete) for r in reads] == [("沪B67890", "yellow", False, True)]
    assert Pipeline(stills.detector, stills.recognizer, PerceptionConfig(threads=2)).process(frame) == []  # a camera


def test_a_lit_photo_gets_no_brightened_copy_and_a_dark_one_two():
    lit = scene("沪B67890", "yellow", seed=0)[0]
    assert median_luma(lit) >= 64 and list(brightened(lit)) == []
    dark = _at_night(lit)
    copies = list(brightened(dark))
    assert len(copies) == 2 and all(median_luma(c) > 2 * median_luma(dark) for c in copies)
