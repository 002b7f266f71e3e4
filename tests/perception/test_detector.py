"""Detector decoding (priors, box / corner decode, per-image scale) and the real clp_det on rendered scenes."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.perception.detector import PlateDetector, decode, iou, make_priors
from edge_agent.perception.sessions import SessionFactory
from tests.perception.render import render_plate, render_scene


def test_priors_follow_retinaface_order():
    p = make_priors(64, 96)
    # per level: ceil(64/s) * ceil(96/s) cells, two anchor sizes each
    assert len(p) == 2 * (8 * 12 + 4 * 6 + 2 * 3)
    np.testing.assert_allclose(p[0], [4 / 96, 4 / 64, 24 / 96, 24 / 64], rtol=1e-6)
    np.testing.assert_allclose(p[1], [4 / 96, 4 / 64, 48 / 96, 48 / 64], rtol=1e-6)
    np.testing.assert_allclose(p[2][:2], [12 / 96, 4 / 64], rtol=1e-6)  # next cell to the right
    first_l2 = 2 * 8 * 12
    np.testing.assert_allclose(p[first_l2], [8 / 96, 8 / 64, 96 / 96, 96 / 64], rtol=1e-6)


def test_decode_known_offsets():
    priors = np.array([[0.5, 0.5, 0.2, 0.1]], np.float32)
    loc = np.array([[1.0, -2.0, 0.0, np.log(2) / 0.2]], np.float32)  # centre shift, height ×2
    landms = np.array([[0, 0, 1, 1, -1, -1, 2, 0]], np.float32)
    boxes, pts = decode(loc, landms, priors)
    cx, cy = 0.5 + 1.0 * 0.1 * 0.2, 0.5 - 2.0 * 0.1 * 0.1
    np.testing.assert_allclose(boxes[0], [cx - 0.1, cy - 0.1, cx + 0.1, cy + 0.1], atol=1e-6)
    np.testing.assert_allclose(pts[0], [[0.5, 0.5], [0.52, 0.51], [0.48, 0.49], [0.54, 0.5]], atol=1e-6)


@pytest.fixture(scope="module")
def detector(models_dir):
    return PlateDetector(SessionFactory(2).get(models_dir / "clp_det.onnx"), size=960, threshold=0.5)


def test_scale_enlarges_small_images_only(detector):
    assert detector.scale_for(1080, 1920) == pytest.approx(0.5)
    assert detector.scale_for(300, 400) == pytest.approx(2.0)  # capped by max_upscale
    assert detector.scale_for(600, 960) == pytest.approx(1.0)


@pytest.mark.parametrize("plate_width,frame", [(220, (1280, 720)), (110, (1920, 1080))])
def test_finds_rendered_plate_with_corners_in_order(detector, plate_width, frame):
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=3, frame=frame, plate_width=plate_width)
    dets = detector.detect(scene)
    assert len(dets) == 1
    err = np.abs(dets[0].corners - truth).max()
    assert err < 0.12 * plate_width, f"corners off by {err:.1f}px (TL, TR, BR, BL order)"
    x1, y1, x2, y2 = dets[0].box
    assert x1 < truth[:, 0].mean() < x2 and y1 < truth[:, 1].mean() < y2


def test_blank_frame_has_no_plates(detector):
    assert detector.detect(np.full((720, 1280, 3), 90, np.uint8)) == []


def test_second_pass_refines_small_plate(models_dir):
    """A plate ~50 px wide at detector scale: the zoomed second pass puts its corners closer."""
    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=3, frame=(1920, 1080), plate_width=100)
    plain = PlateDetector(session, size=960, threshold=0.3).detect(scene)[0]
    refined = PlateDetector(session, size=960, threshold=0.3, refine_below=120).detect(scene)[0]
    err_plain = np.abs(plain.corners - truth).max()
    err_refined = np.abs(refined.corners - truth).max()
    assert err_refined < 5 < err_plain


@pytest.mark.parametrize("seed", [0, 4])
def test_zoom_pass_finds_a_plate_too_small_for_the_frame_pass(models_dir, seed):
    """A 100 px plate in a 3840×2160 image is 25 px in the frame pass, under the smallest anchor:
    missed, though the image holds it at a readable size. The zoom pass (2× the scale) finds it."""
    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=seed, frame=(3840, 2160), plate_width=100)
    assert PlateDetector(session, size=960, threshold=0.2).detect(scene) == []
    [det] = PlateDetector(session, size=960, threshold=0.2, zoom_pass=2.0).detect(scene)
    assert np.abs(det.corners - truth).max() < 12


@pytest.mark.parametrize("seed", [0, 4])
def test_zoom_passes_go_on_to_the_photos_own_pixels_while_nothing_is_found(models_dir, seed):
    """A 50 px plate in a 4000×3000 phone photo of a far car is 12 px in the frame pass and 24 px in the
    zoom pass, at the smallest anchor: missed, though the photo holds it at 50 px. Passes go on, each
    ``zoom_pass`` times the last, up to the photo's own pixels while none has found a plate."""
    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=seed, frame=(4000, 3000), plate_width=50)
    det = PlateDetector(session, size=960, threshold=0.2, zoom_pass=2.0)
    scales: list[float] = []
    run = det._run
    det._run = lambda image, scale, *a: scales.append(scale) or run(image, scale, *a)  # type: ignore[method-assign]
    [found] = det.detect(scene)
    assert np.abs(found.corners - truth).max() < 6
    assert scales == pytest.approx([0.24, 0.48, 0.96])


def test_no_deeper_zoom_pass_once_a_plate_is_found(models_dir):
    """A plate the zoom pass finds ends the search: a phone photo of a near car costs no pass at its own
    pixels (16× the frame pass's area), and a camera's region read gets one zoomed pass, as before."""
    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    scene, _ = render_scene(render_plate("苏E12345", "blue"), seed=0, frame=(4000, 3000), plate_width=110)
    det = PlateDetector(session, size=960, threshold=0.2, zoom_pass=2.0)
    scales: list[float] = []
    run = det._run
    det._run = lambda image, scale, *a: scales.append(scale) or run(image, scale, *a)  # type: ignore[method-assign]
    assert len(det.detect(scene)) == 1
    assert scales == pytest.approx([0.24, 0.48])
    scales.clear()
    far, truth = render_scene(render_plate("苏E12345", "blue"), seed=0, frame=(4000, 3000), plate_width=50)
    x1, y1 = truth.min(axis=0) - 400
    x2, y2 = truth.max(axis=0) + 400
    det.detect(far, (int(x1), int(y1), int(x2), int(y2)))
    assert scales == pytest.approx([0.24, 0.48])


@pytest.mark.parametrize(("size", "passes"), [((3000, 4000), [0.24, 0.48, 0.96, 0.06]),
                                              ((6000, 8000), [0.12, 0.24, 0.48, 0.03]),
                                              ((12000, 16000), [0.06, 0.12, 0.24, 0.015]),
                                              ((3000, 20000), [0.048, 0.096, 0.192, 0.384, 0.012])])
def test_deeper_zoom_passes_are_bounded(models_dir, size, passes):
    """A blank photo (nothing to find) gets the deeper passes, but none past a 12 MP phone photo's pixels
    (a blank 48 MP image decoded whole would be a 48 MP pass) and none that enlarges by less than half an
    octave (a 4000 px photo: 0.96 and not again at 1.0, which sees the same plates); then one shrunk to half
    ``REDETECT_MAX`` wide, for a plate too large for the net (a close-up), a sixteenth of the first pass's area."""
    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    det = PlateDetector(session, size=960, threshold=0.2, zoom_pass=2.0)
    scales: list[float] = []
    det._run = lambda image, scale, *a: scales.append(scale) or []  # type: ignore[method-assign]
    assert det.detect(np.broadcast_to(np.uint8(90), (*size, 3))) == []
    assert scales == pytest.approx(passes)
    assert size[0] * size[1] * scales[-1] ** 2 <= 4032 * 3024


def test_session_factory_falls_back_to_cpu_and_caches(models_dir):
    f = SessionFactory(1, ["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    assert f.providers[-1] == "CPUExecutionProvider"
    s = f.get(models_dir / "clp_det.onnx")
    assert f.get(models_dir / "clp_det.onnx") is s  # created once
    assert f.options().intra_op_num_threads == 1
    with pytest.raises(FileNotFoundError, match="models fetch"):
        f.get(models_dir / "missing.onnx")


def test_the_roll_pass_turns_a_big_photo_at_the_detectors_scale(detector):
    """The roll pass turned the photo at full size before the net read it at ``size``: a 20000×600
    panorama (12 MP, decoded whole) became a 140 MP canvas each way, 0.84 GB and 9 s; a 17 KB 65500×2 JPEG
    took `recognize` to 8 GB. Shrunk first, it costs less than the photo itself, and a plate in a big photo
    rolled 25° is still found, its corners in the photo's pixels."""
    import tracemalloc

    import cv2

    wide = np.full((600, 20000, 3), 90, np.uint8)
    tracemalloc.start()
    try:
        assert detector.detect_rolled(wide, 20.0) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < wide.nbytes / 2, f"{peak / 1e6:.0f} MB for a {wide.nbytes / 1e6:.0f} MB photo"

    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=3, frame=(2400, 1600), plate_width=300)
    m = cv2.getRotationMatrix2D((1200, 800), 25, 1.0)
    rolled = cv2.warpAffine(scene, m, (2400, 1600), borderMode=cv2.BORDER_REPLICATE)
    where = cv2.transform(truth[None].astype(np.float32), m)[0]
    [det] = detector.detect_rolled(rolled, 20.0)
    x1, y1, x2, y2 = det.box
    cx, cy = where.mean(axis=0)
    assert x1 < cx < x2 and y1 < cy < y2 and 250 < x2 - x1 < 450


def test_zoom_pass_finds_a_small_plate_in_a_bay_region_too(models_dir):
    """A far bay on a 1080p camera: a 44 px plate is 22 px in the frame pass, under the smallest anchor.
    The agent reads bay regions at the whole frame's scale; with ``det_zoom_pass`` set the region gets
    the zoomed pass as the whole frame does, with ``det_region_zoom`` the region alone (plates-dev in a
    1080p frame at 50 px: 23 → 135 of 150 found)."""
    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=0, frame=(1920, 1080), plate_width=44)
    x1, y1 = truth.min(axis=0) - 120
    x2, y2 = truth.max(axis=0) + 120
    region = (int(x1), int(y1), int(x2), int(y2))
    assert PlateDetector(session, size=960, threshold=0.2).detect(scene, region) == []
    [det] = PlateDetector(session, size=960, threshold=0.2, zoom_pass=2.0).detect(scene, region)
    assert np.abs(det.corners - truth).max() < 6
    # ``region_zoom`` (``det_region_zoom``, on by default) zooms the region only: the whole frame's pass stays one
    regions_only = PlateDetector(session, size=960, threshold=0.2, region_zoom=2.0)
    assert regions_only.detect(scene) == []
    [det] = regions_only.detect(scene, region)
    assert np.abs(det.corners - truth).max() < 6


@pytest.mark.parametrize("seed", [0, 4])
def test_a_close_up_plate_is_found_whole_at_a_zoomed_out_pass(models_dir, seed):
    """A phone's close-up: the plate 90 % of a 1200 px photo is 1080 px wide at the frame pass (960 / 1200),
    past the largest anchors (384–768): found in pieces (`苏E123`, a second plate beside the whole one) or not
    at all. A still photo holding a plate that wide is searched again shrunk to ``REDETECT_MAX`` wide, and
    what that finds replaces the pieces it covers. A camera's frames (no zoom pass) never pay it."""
    import cv2

    session = SessionFactory(2).get(models_dir / "clp_det.onnx")
    scene, truth = render_scene(render_plate("苏E12345", "blue"), seed=seed, frame=(1280, 720), plate_width=220)
    (x1, y1), (x2, y2) = truth.min(axis=0), truth.max(axis=0)
    cw = (x2 - x1) / 0.9
    ox, oy = int((x1 + x2) / 2 - cw / 2), int((y1 + y2) / 2 - cw * 3 / 8)
    k = 1200 / int(cw)
    photo = cv2.resize(scene[oy:oy + int(cw * 3 / 4), ox:ox + int(cw)], None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    [det] = PlateDetector(session, size=960, threshold=0.2, zoom_pass=2.0).detect(photo)
    assert iou(det.box, (*((truth.min(axis=0) - (ox, oy)) * k), *((truth.max(axis=0) - (ox, oy)) * k))) > 0.7
    camera = PlateDetector(session, size=960, threshold=0.2)
    scales: list[float] = []
    run = camera._run
    camera._run = lambda image, scale, *a: scales.append(scale) or run(image, scale, *a)  # type: ignore[method-assign]
    camera.detect(photo)
    assert scales == [0.8]


@pytest.fixture(scope="module")
def stills(models_dir):  # noqa: ANN201 - the pipeline as `recognize` reads a photo (zoom pass 2)
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline

    return Pipeline.from_config(PerceptionConfig(threads=1, det_zoom_pass=2.0), models_dir)


@pytest.mark.parametrize(("text", "style", "share", "seed"), [("浙B7K392", "blue", 0.9, 0), ("浙B7K392", "blue", 0.9, 3),
                                                            ("苏E12345", "yellow_double", 0.5, 3)])
def test_a_close_up_found_at_the_zoomed_out_pass_is_read_right(stills, text, style, share, seed):
    """The zoomed-out pass's plate must sit well inside the net's anchors: shrunk to ``REDETECT_MAX`` wide, a plate
    90 % of the photo's width was 432 px there, at the largest anchors' edge, and its corners strayed — the left edge
    12 % of the plate in (浙 cut to its right half, read 新) or a double-row plate's top row cut (苏E read 苏B): a
    wrong *complete* read, where the frame pass alone had read the double-row one right (review40)."""
    import cv2

    scene, truth = render_scene(render_plate(text, style), seed=seed, frame=(1280, 720), plate_width=220)
    (x1, y1), (x2, y2) = truth.min(axis=0), truth.max(axis=0)
    cw = (x2 - x1) / share
    ox, oy = max(int((x1 + x2) / 2 - cw / 2), 0), max(int((y1 + y2) / 2 - cw * 3 / 8), 0)
    crop = scene[oy:oy + int(cw * 3 / 4), ox:ox + int(cw)]
    photo = cv2.resize(crop, None, fx=1200 / crop.shape[1], fy=1200 / crop.shape[1], interpolation=cv2.INTER_CUBIC)
    ok, jpg = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    photo = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
    reads = stills.process(photo)
    assert [r.text for r in reads if r.complete] == [text]
