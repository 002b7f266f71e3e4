"""Plate colour that agrees with the plate's type and its character polarity (GA 36-2018).

Why: pixels alone mistake colours under night light, infrared and white-balance casts (blue
called green or black, yellow called green or white). The standard ties colour to what the
plate is: light characters only on blue and black (and the white-on-green civil-aviation /
agricultural plates, which are not GA 36 plates); dark characters on yellow, white, green
and yellow-green; a 7-character civil plate is never green; black only for 港/澳/使/领;
white for police, armed police and military. So the colour is the best of the classifier's
ranking among the colours consistent with the read's kind and the measured polarity — for a
partial read, with polarity alone (white-on-green stays possible there).

These guards keep the NEV verdict exactly as safe as the pixels made it:
- a plate the pixels call blue, green or yellow leaves that hue only for a colour they show
  some sign of (``EVIDENCE_MIN``): green is NEV evidence a misread must not erase (an NEV plate
  read with a character dropped looks like a 7-character civil plate), and blur turns a blue
  plate's polarity (measured ``dark`` on 9 of 714 blurred crops); white and black are the
  absence of a hue, which night and haze produce, so they may become any consistent colour;
- the two-tone yellow-green is the large NEV plate's own colour (GA 36), so the yellow share that
  makes it two-tone is no sign of a yellow plate: a 7-character civil read on it (the energy letter
  not read) keeps yellow-green and is then partial (``shape.nev_gap``: ``粤B12345?``). Turned yellow,
  it was a large truck plate, "not NEV": a large NEV fined as a fuel vehicle;
- so does green: a civil text moves a plate the pixels call green only when they measured white
  characters (a blue plate under a warm cast). With dark characters the only way out was yellow,
  and a plate the classifier calls green has less yellow than a two-tone (``YELLOW_GREEN_SHARE``):
  a mud spot or rust stain over the character the recogniser then skipped (a mud-covered ``苏AD39970``
  read ``苏A39970``: green 0.89, yellow 0.11 — a yellow truck, "not NEV"). With polarity too weak to
  count (defocus: a 340 px ``皖AD19789`` read ``皖AD19S9``, green 0.98, blue 0.08) nothing in the
  pixels backs blue either. Both keep green, so the read is partial or the verdict undecided; the
  price is a yellow plate turned lime by a cold white balance, undecided instead of "not NEV" (as
  such plates with no yellow left at all already were) — unless the frame's light says it is cold and the
  plate corrected for it is yellow (``cast.cold_yellow``, asked by the pipeline);
- a 7-character civil text with dark characters makes a plate yellow — a hue-less one too, which the text alone
  made yellow before — only where yellow is measured in each third of it (``THIRDS_MIN``): the palest real NEV
  plate (皖AD11166, white top, 0.02–0.08 green) with brown mud over one character read ``皖AD1166`` with yellow
  votes under the mud alone (0.15–0.24 in its half, 0 in the other; rendered mud on a paler plate made yellow its top
  colour), and with a bar over one read with no yellow at all — "yellow", "not NEV": an EV fined. It is white (no
  hue), where the text's 7 characters judge nothing (``verdict``) and the pipeline asks the plate's gradient
  (``gradient.nev_toned``): a washed-out yellow plate is one colour top to bottom, and yellow again;
- polarity measured weaker than ``POLARITY_MIN`` restricts nothing (and, above, moves nothing off green); white
  characters weaker than blur fakes (``BLUR_WHITE_MAX``) move nothing off green either: 9 px of motion blur on the same
  皖AD19789 read ``皖AD1989`` with white at 0.0597, just past ``POLARITY_MIN``, and went to blue, "not NEV";
- a green or yellow-green plate whose text is a complete NEV one keeps its hue under a "white"
  polarity: the text and the hue agree, and blur on a small plate makes its dark characters
  measure white (up to 0.16). Moved to blue, where the polarity "fits", it was "not NEV" (a
  rendered 京AD88888, 84 px, σ 0.8: green 0.82 of the votes, blue 0.11); kept green, the
  verdict weighs text against polarity and leaves it undecided;
- the rules never make a plate green unless the verdict on the pixels' own colour already
  calls it NEV (an over-exposed NEV plate read white or cyan): they never create NEV evidence.
"""

from __future__ import annotations

from dataclasses import replace

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.verdict import WHITE_ON_GREEN, cyan_green, decide
from edge_agent.plates import parse_plate

GREENS = ("green", "yellow_green")
DARK_ON = frozenset({"yellow", "white", "green", "yellow_green"})
LIGHT_ON = frozenset({"blue", "black"})
ALL = frozenset({"blue", "green", "yellow", "yellow_green", "white", "black"})
KIND_COLOURS = {
    "small": {"blue", "yellow"}, "large": {"blue", "yellow"},  # ordinary 7 characters: never green, never black
    "small_nev": {"green", "yellow_green"}, "large_nev": {"green", "yellow_green"},
    "coach": {"yellow"}, "trailer": {"yellow"},
    "police": {"white"}, "armed_police": {"white"}, "military": {"white"}, "emergency": {"white"},
    "embassy": {"black"}, "consulate": {"black"}, "hk": {"black"}, "macau": {"black"},
    "civil_aviation": {"green"}, "agricultural": {"green"},  # white characters on green
}
NEV_KINDS = ("small_nev", "large_nev")
CIVIL = ("small", "large")  # 7-character ordinary plates: what an NEV read missing one character looks like
#: White characters weaker than this are what blur makes of an NEV plate's dark strokes (rendered NEV plates up to 0.16;
#: plates-dev's 340 px 皖AD19789 under 9 px of motion blur 0.0597), not a blue plate under a warm light (0.27–0.36):
#: they do not take a plate the pixels call green to blue (``bays.visit_verdict.WHITE_OVER_BLUR`` for a visit).
BLUR_WHITE_MAX = 0.2
EVIDENCE_MIN = 0.03  # leaving a hue: the new colour needs at least this much pixel evidence
# Polarity strength (colour.polarity) below this is a guess: on plates-dev's 714 crops it kept
# 96 % of plates and removed 5 of the 6 wrong polarities (clean and blurred alike).
POLARITY_MIN = 0.05
HUES = ("blue", "green", "yellow", "yellow_green")
#: Yellow's share of the background in the poorest third of the plate (``colour._poorest_third``) from which a civil
#: text makes a plate yellow: a yellow plate's paint is in all three thirds, mud or rust over one character in at most
#: two (plates-dev's 皖AD11166 under rendered mud: 0 in the others).
THIRDS_MIN = EVIDENCE_MIN


def consistent(kind: str | None, dark_chars: bool | None) -> frozenset[str]:
    """Colours a plate of ``kind`` (None: partial read, kind unknown) with this polarity may have."""
    by_kind = frozenset(KIND_COLOURS.get(kind or "", ALL))
    if dark_chars is None:
        return by_kind
    # white on green is the civil-aviation / agricultural plate (not GA 36): when the kind is
    # unknown (partial read) it stays possible; a complete GA 36 read rules it out
    white_on_green = kind is None or kind in WHITE_ON_GREEN
    by_pol = DARK_ON if dark_chars else LIGHT_ON | ({"green"} if white_on_green else set())
    both = by_kind & by_pol
    return both if both else by_pol  # text and pixels disagree: the pixels' polarity wins


def choose_colour(res: ColourResult, text: str, complete: bool) -> ColourResult:
    """``res`` with its colour taken from the ranking, restricted by kind and polarity."""
    if res.colour == "unknown" or not res.ranking:
        return res  # infrared / monochrome: no colour to correct, the format decides
    kind = parse_plate(text, res.colour).kind if complete and text else None
    dark = res.dark_chars if res.scores.get("polarity", 1.0) >= POLARITY_MIN else None
    allowed = consistent(kind, dark)
    if kind in CIVIL and dark is True and res.colour in ("yellow", "white", "black") \
            and res.scores.get("yellow_thirds", 1.0) < THIRDS_MIN:
        # no yellow across the plate under a civil text: a stain's, or none — white, no hue (module doc)
        return res if res.colour != "yellow" else replace(res, colour="white", scores=dict(res.scores, rule_changed=1.0))
    if res.colour in allowed:
        return res
    top = res.colour
    if top in GREENS and kind in CIVIL and (dark is not False or res.scores.get("polarity", 1.0) < BLUR_WHITE_MAX):
        # the pixels' green outweighs a civil text: the two-tone's yellow half is no yellow plate,
        # a stain's yellow on a green one neither, and weak polarity (or white no stronger than blur makes of dark
        # strokes) shows no white (module doc)
        return res
    if top in GREENS and kind in NEV_KINDS and dark is False:
        return res  # text and hue agree on an NEV plate; "white" is what blur makes of its small dark characters
    for colour, score in res.ranking:
        if colour not in allowed or (top in HUES and score < EVIDENCE_MIN):
            continue
        if colour in GREENS and top not in GREENS and decide(text, res).nev is not True and not cyan_green(text, res):
            continue  # never create NEV evidence, but for a cyan "blue" whose pixels show green (``cyan_green``)
        ranking = ((colour, score), *(kv for kv in res.ranking if kv[0] != colour))
        return replace(res, colour=colour, confidence=round(score, 3), ranking=ranking,
                       scores=dict(res.scores, rule_changed=1.0))
    return res
