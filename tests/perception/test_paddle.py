"""The PaddleOCR recogniser (``paddle`` extra): real paddleocr on onnxruntime with the local
PP-OCRv6 model directory, read through the project's recogniser interface and Pipeline."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_agent.perception.paddle_backend import plate_text
from tests.perception.render import plate_crop, render_plate, render_scene

requires_paddle = pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None,
                                     reason="paddleocr not installed (make test-paddle)")

PLATES = [("皖AD12345", "small_nev"), ("京A12345", "blue"), ("皖A12345D", "large_nev"),
          ("鄂F8888警", "police"), ("使198476", "black"), ("民航B9016", "green_white"), ("沪A1234挂", "yellow")]


def test_plate_text_keeps_only_plate_characters():
    assert plate_text("皖A·D12345") == "皖AD12345"
    assert plate_text(" 京a 12345 ") == "京A12345"
    assert plate_text("锁") == ""


@pytest.fixture(scope="module")
def paddle_models(models_dir) -> Path:
    d = models_dir / "PP-OCRv6_small_rec"
    if not (d / "inference.onnx").is_file():
        pytest.fail("PP-OCRv6_small_rec missing: run `edge-agent models fetch --group paddle`")
    return models_dir


@pytest.fixture(scope="module")
def recognizer(paddle_models):
    from edge_agent.perception.recognizer import create_recognizer
    from edge_agent.perception.sessions import SessionFactory

    return create_recognizer("paddleocr", paddle_models, SessionFactory(threads=1))


@pytest.mark.paddle
@requires_paddle
def test_reads_rendered_plates_of_every_colour(recognizer):
    crops = [plate_crop(t, s, seed=i) for i, (t, s) in enumerate(PLATES)]
    reads = recognizer.read(crops)
    assert len(reads) == len(PLATES)
    for (text, _), (got, conf, chars) in zip(PLATES, reads):
        assert got == text and 0.5 < conf <= 1.0 and len(chars) == len(got)


@pytest.mark.paddle
@requires_paddle
def test_empty_batch_and_blank_crop(recognizer):
    import numpy as np

    assert recognizer.read([]) == []
    (text, conf, chars), = recognizer.read([np.full((48, 168, 3), 128, np.uint8)])
    assert (text, conf, chars) == ("", 0.0, ())


@pytest.mark.paddle
@requires_paddle
def test_pipeline_with_the_paddle_recogniser_end_to_end(paddle_models):
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline

    pipe = Pipeline.from_config(PerceptionConfig(recognizer="paddleocr", threads=1), models_dir=paddle_models)
    frame, _ = render_scene(render_plate("沪AF71017", "small_nev"), seed=11)
    (plate,) = pipe.process(frame)
    assert (plate.text, plate.colour, plate.nev) == ("沪AF71017", "green", True)


@pytest.mark.paddle
@requires_paddle
def test_missing_model_dir_is_a_clear_error_not_a_download(tmp_path):
    from edge_agent.perception.paddle_backend import PaddleOcrRecognizer

    with pytest.raises(FileNotFoundError, match="models fetch --group paddle"):
        PaddleOcrRecognizer(tmp_path / "PP-OCRv6_small_rec")


@pytest.mark.paddle
@requires_paddle
def test_works_with_no_network_at_all(paddle_models, repo):
    """Run a read in a fresh network namespace (no interfaces but a down loopback): any hub
    download or model-hoster probe would fail or hang there."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (needs unshare and privileges)")
    code = textwrap.dedent(f"""
        from pathlib import Path
        from edge_agent.perception.recognizer import create_recognizer
        from edge_agent.perception.sessions import SessionFactory
        from tests.perception.render import plate_crop
        r = create_recognizer("paddleocr", Path({str(paddle_models)!r}), SessionFactory(1))
        print(r.read([plate_crop("皖AD12345", "small_nev")])[0][0])
    """)
    out = subprocess.run([unshare, "-n", sys.executable, "-c", code], cwd=repo, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "皖AD12345"
