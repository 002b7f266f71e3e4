"""A yellow plate under cold light (shade, a blue sky, an 8000 K+ LED) reads green; the frame's light gives it back.

Rendered GA 36 plates (a yellow plate's faded paint: the render mixed with white, as plates-dev's real ones measure)
pasted in rendered scenes with a white wall, the whole frame under a cold cast applied in linear light. Without
``cast.cold_yellow`` the complete 7-character civil read on green was made partial (``浙L?11921``: GA 36 gives a
dark-character green plate 8 characters) and undecided; with it, yellow, whole and "not NEV". The bar: no green
NEV plate — small or the large two-tone — is ever found yellow under the same light (a character the recogniser
skipped would then make a legitimate EV "not NEV"), and the frame is not looked at on a clean read."""

from __future__ import annotations

import numpy as np
import pytest

import edge_agent.perception.pipeline as pipeline_module
from edge_agent.perception.cast import cold_yellow
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.shape import Shape
from tests.perception.render import WHITE, render_plate, render_scene
from tests.perception.test_camera_casts import cast

COLD_DAYLIGHT = (0.41, 0.83, 1.0)  # a camera balanced for tungsten in daylight shade
K16000 = (0.58, 0.91, 1.6)  # deep blue sky / overcast shade on a daylight preset
NEUTRAL = (1.0, 1.0, 1.0)


def _scene(text: str, style: str, gains: tuple[float, float, float], pale: float = 0.0,
           seed: int = 5) -> np.ndarray:
    plate = render_plate(text, style)
    plate = np.clip(plate * (1 - pale) + np.float32(WHITE) * pale, 0, 255).astype(np.uint8)
    frame = render_scene(plate, seed=seed, plate_width=160)[0]
    frame[:60, :60] = 220  # a white wall (more than the brightest 2 %), unclipped under the cast too
    return cast(frame, *gains)


@pytest.mark.parametrize("text", ["浙L11921", "湘A97971"])
@pytest.mark.parametrize("pale,gains", [(0.3, COLD_DAYLIGHT), (0.5, COLD_DAYLIGHT), (0.5, K16000)],
                         ids=["cold_daylight", "cold_daylight_faded", "16000K_faded"])
def test_a_yellow_plate_under_cold_light_is_yellow_and_not_nev(pipeline, text, pale, gains):
    """Was ``green``, partial (``浙L?11921``) and undecided: a truck under an overcast sky was an ``unidentified``
    visit. Corrected for the frame's light (grey world and white patch agree it is cold) the plate is yellow."""
    [r] = pipeline.process(_scene(text, "yellow", gains, pale))
    assert (r.text, r.colour, r.nev, r.complete) == (text, "yellow", False, True)


@pytest.mark.parametrize("gains", [COLD_DAYLIGHT, K16000], ids=["cold_daylight", "16000K"])
@pytest.mark.parametrize("text,style,pale", [("粤BD12345", "small_nev", 0.3), ("粤BD12345", "small_nev", 0.5),
                                             ("粤B12345D", "large_nev", 0.0), ("粤B12345D", "large_nev", 0.3)])
def test_an_nev_plate_under_cold_light_is_never_yellow(pipeline, text, style, pale, gains):
    """The same light and test on green NEV plates: corrected, they are green (the large one's two-tone too), so
    a read that skipped a character (a 7-character civil text on green) is never made a whole yellow plate."""
    frame = _scene(text, style, gains, pale)
    [r] = pipeline.process(frame)
    # NEV, or undecided where the plate stays a cyan "blue" with no green pixels (the pale small one under 16000 K):
    # a faded blue plate looks the same (``verdict.cyan_green``; its visit was undecided before too) — never fuel
    assert r.nev is True or (r.nev is None and r.colour == "blue"), (r.colour, r.nev, r.nev_reason)
    assert not cold_yellow(frame, r.crop)
    civil = text[:2] + text[3:] if style == "small_nev" else text[:-1]  # the energy letter skipped
    _, _, yellowed = Pipeline._civil_on_green(r.crop, Shape(civil, True), (civil, 0.9, (0.9,) * 7), frame)
    assert not yellowed


def test_neutral_light_is_not_cold(pipeline):
    """A faded yellow plate under neutral light is no cast to undo: the light is asked first."""
    frame = _scene("浙L11921", "yellow", NEUTRAL, 0.5)
    [r] = pipeline.process(frame)
    assert r.colour == "yellow" and not cold_yellow(frame, r.crop)
    assert cold_yellow(cast(frame, *COLD_DAYLIGHT), cast(r.crop, *COLD_DAYLIGHT))


@pytest.mark.parametrize("text,style", [("粤BD12345", "small_nev"), ("京B12345", "blue"), ("湘A97971", "yellow")])
def test_the_frame_is_looked_at_only_on_a_conflict(pipeline, monkeypatch, text, style):
    """A clean photo costs nothing: only a 7-character civil read on a green plate asks for the light."""
    def asked(*_a: object) -> bool:
        raise AssertionError("the frame's light was estimated")

    monkeypatch.setattr(pipeline_module, "cold_yellow", asked)
    [r] = pipeline.process(_scene(text, style, NEUTRAL))
    assert r.text == text and r.nev is (style == "small_nev")


SKY = (245, 215, 170)  # a bright blue sky (BGR): the brightest pixels, and a fifth of the mean


@pytest.mark.parametrize("text,style,pale,gains", [
    ("粤BD12345", "small_nev", 0.5, NEUTRAL), ("粤BD12345", "small_nev", 0.6, (0.75, 0.92, 1.0)),
    ("粤B12345D", "large_nev", 0.6, NEUTRAL)], ids=["small_neutral", "small_mild_cold", "large_neutral"])
def test_a_blue_sky_in_the_frame_never_makes_a_faded_nev_plate_yellow(pipeline, text, style, pale, gains):
    """A pole camera's frame with sky in its top fifth: the sky is the white patch and pulls the grey world blue,
    so both estimates say "cold" under a light that is not. A faded NEV plate's pale background divided by that
    light was pale yellow (hue 22-31), and a read that skipped the energy letter was a whole yellow plate, "not
    NEV": a fuel violation for an EV (plates-dev's 皖AD11166 the same under neutral light). A plate still seen
    clear green (hue > ``HUE_SEEN_MAX``) is not one a cold light made from yellow."""
    frame = _scene(text, style, gains, pale)
    frame[: frame.shape[0] // 5] = SKY
    [r] = pipeline.process(frame)
    assert r.nev is True
    civil = text[:2] + text[3:] if style == "small_nev" else text[:-1]
    _, _, yellowed = Pipeline._civil_on_green(r.crop, Shape(civil, True), (civil, 0.9, (0.9,) * 7), frame)
    assert not yellowed
