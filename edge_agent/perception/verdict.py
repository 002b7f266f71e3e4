"""The NEV verdict: operator lists, then plate format fused with colour and character polarity.

Why this order and these vetoes (plate-rules.md, perception-facts.md):
- The operator's allow/deny lists override everything (old EVs on blue plates, disputes).
- A blue plate is never NEV, whatever the text says: a misread can turn 7 characters into an
  8-character "NEV" string. But blue plates carry white characters: clear dark ones (polarity
  ≥ ``POLARITY_MIN``) on blue are a white-balance cast on a green plate, or no GA 36 plate — a
  temporary paper plate (black print on sky-blue paper) under any text — so that plate is
  undecided, not "fuel": a false violation is the costly error. The price: blur turns some blue
  plates' white strokes "dark" (plates-dev, σ 1.5: 9 of 176 reads; review91).
- Green with *white* characters is civil aviation or agricultural: never NEV. Those plates have
  their own text formats (``民航`` + 5, province + 7 digits), so "not NEV" needs a text of one of
  those kinds, or white characters strong enough (``POLARITY_STRONG``) to outweigh any other
  text; weaker ones under any other text leave the plate undecided (``conflict``, or ``unread``
  without text). Measured polarity is no proof: blur on a small plate turns a dark-character
  NEV plate "white" — its characters become dark blobs wider than the stroke kernel while the
  light gaps between them stay thin (rendered NEV plates 72–130 px wide under σ 0.8–1.5 blur
  measured white at up to 0.16, plates-dev's at 0.03–0.08; civil-aviation ones as low as 0.014
  degraded): only clearly dominant white separates the two. Polarity weaker than
  ``POLARITY_MIN`` is no evidence at all (as in ``colour_rules``).
- A read starting with ``民航`` (no province, and no NEV plate carries it) on green is the
  civil-aviation plate whatever polarity was measured — blur on a small one measures "dark"
  characters too (rendered 60–130 px, σ 0.8–1.5: up to 0.28), which left it undecided.
- Green (or the large-NEV yellow-green) with dark characters plus an NEV serial is NEV — the
  serial is checked without the province (``text[-7:]``), the recogniser's weakest character,
  so a dropped or wrong province changes nothing.
- Infrared / monochrome frames have no colour: the 8-character format decides alone — and a 7-character text
  that is also a small NEV plate read one short (``plates.SMALL_NEV_SHORT``) is undecided. White and
  black are no hue either (night, glare, over-exposure, fading take it away): they exclude only
  what the text excludes — an NEV serial on them, or a partial read, is undecided. So is a 7-character civil text
  with dark characters: a plate with one character under mud reads one short, and the palest NEV plate is white.
- Red characters at the plate's end (``colour._red_end`` ≥ ``RED_END_MIN``) are 警 or 应急, white
  plates: an NEV text there (an emergency plate's 应急 misread into an NEV serial) is undecided.
- Only a verdict of NEV, or a complete valid NEV text, carries an NEV kind / type code (51, 52):
  a province-less or partial read that is undecided says ``unknown`` / 99.
- Green with dark characters but a text that reads as an ordinary plate is left undecided
  (``None``): that is what a yellow truck plate looks like at night under sodium light. So is
  a yellow plate whose text reads as an NEV serial: a yellow plate has 7 characters, and sodium
  light turns a green one yellow (12 of plates-dev's 24 NEV plates under a simulated cast).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.shape import MISSING, plate_shape
from edge_agent.plates import SMALL_NEV_SHORT, nev_tail, parse_plate


@dataclass(frozen=True)
class Verdict:
    nev: bool | None  # None: cannot tell from this read
    reason: str  # one of REASONS
    type_code: str = "99"
    kind: str = "unknown"  # plate kind from rules (small_nev, civil_aviation, ...)
    energy: str | None = None  # battery | other for NEV serials


#: Every reason a verdict gives (events, the review page: each ``+`` part has words there).
REASONS = ("allow_list", "deny_list", "format+colour", "colour", "colour+polarity", "format", "format+polarity",
           "conflict", "unread")

# Share of a "blue" plate's hue votes that must be cyan (hue < colour.CYAN_MAX) before dark
# characters make it an over-exposed green plate: blur fakes dark characters on deep-blue
# plates (a blue 粤NB… plate read 豫NB19579, dark, under motion blur; hue all ≥ 100).
CYAN_SHARE = 0.5
# Polarity strength (colour.polarity) below POLARITY_MIN says nothing (colour_rules uses the
# same limit).
POLARITY_MIN = 0.05
# White characters on green decide "not NEV" against a text of no white-on-green kind only when
# they are strong: the white (top-hat) energy at least twice the dark (black-hat) one, i.e.
# strength ≥ 1/3. Clean white-on-green plates measured 0.37–0.49; dark-character NEV plates
# faked "white" by blur at ≤ 0.16 (rendered 60–200 px, σ ≤ 1.5, JPEG q50) and 0.03–0.08 (plates-dev).
POLARITY_STRONG = 1 / 3
# The plate kinds with white characters on green (not GA 36 plates; colour_rules.WHITE_ON_GREEN):
# the only texts that white characters on green make "not NEV".
WHITE_ON_GREEN = ("civil_aviation", "agricultural")
# No other plate starts with these two characters (民 and 航 are no province, no NEV plate carries
# them): a read starting with them is a civil-aviation plate — also one that lost a character
# (``民航9016``), and whatever character polarity blur measured. (An agricultural text, province +
# 7 digits, is what an NEV serial misread A→4, D→0 looks like: it needs white characters.)
CIVIL_AVIATION_PREFIX = "民航"
_NEV_KINDS = ("small_nev", "large_nev")
_CIVIL = ("small", "large")  # the 7-character ordinary plates, blue or yellow: what an NEV read one short looks like
# Share of the strokes in the plate's last quarter that are red (``colour._red_end``) from which the
# plate has red characters — 警 or 应急, never an NEV plate. Measured: NEV plates 0–0.008 (plates-dev,
# 26 reads) and 0–0.022 (rendered, 61 reads under casts, blur, night, JPEG, 60–200 px); emergency
# plates 0.14–0.65 except under a tungsten cast (0.009–0.08); blue and yellow plates, where this
# rule never applies (no NEV verdict there), up to 0.35 (fringes).
RED_END_MIN = 0.1
#: A hue's share of a plate's coloured pixels (``ColourResult.scores``) that counts as some sign of it, as
#: ``colour_rules.EVIDENCE_MIN``: a white plate showing blue this much and green less is no washed-out NEV plate.
HUE_EVIDENCE = 0.03


def _list_entry(text: str, lists: PlateLists | None) -> str | None:
    """An exact match of a complete plate only. A read without its province, or with some
    other position missing, is partial: it matches no list entry (two plates of different
    provinces share a serial, and the operator listed one of them)."""
    if lists is None or not text or not plate_shape(text).complete:
        return None
    return lists.lookup(text)


def decide(text: str, colour: ColourResult, lists: PlateLists | None = None) -> Verdict:
    """Fuse lists, format and colour into one explainable NEV verdict. A partial read's ``?``
    marks are dropped first: the format rules judge only what was read (and a partial read is
    no plate of any kind: its type comes from the NEV serial it shows, if any, or a yellow plate's 学 / 挂)."""
    v = _decide(text, colour, lists)
    if v.nev is not True and ((v.kind in _NEV_KINDS and not _complete_nev(text)) or not suffix_read(text, colour.colour)):
        return Verdict(v.nev, v.reason, "99", "unknown", None)
    return v


def suffix_read(text: str, colour: str) -> bool:
    """Whether the plate's last character, which names the class on every colour but blue (GA 36: 学 / 挂 on
    yellow, 警 on white, 港 / 澳 / 领 on black; a green plate's energy letter), was read: unread (``?``, a cover over
    it), a plate of such a colour has no known class (99) — a yellow one is a large vehicle, a coach or a trailer."""
    return not (text or "").endswith(MISSING) or colour == "blue"


def cyan_green(text: str, colour: ColourResult) -> bool:
    """Dark characters on a cyan "blue" under a whole small NEV serial: a green NEV plate under a cold light or
    over-exposed (its gradient) — or a sun-bleached blue plate under a cool light, its grimy characters darker than
    its pale background, read with one character too many. The hue cannot tell them apart, so on blue the verdict
    is undecided; ``colour_rules`` may still move such a plate to green where its pixels show green (evidence
    ≥ ``EVIDENCE_MIN``): a blue plate shows none (plates-dev under 16000 K: 7 of 24 NEV plates green that way)."""
    if "?" in (text or "") or colour.colour != "blue" or colour.dark_chars is not True \
            or colour.scores.get("red_end", 0.0) >= RED_END_MIN:  # 警 / 应急: a white plate
        return False
    info = parse_plate(text or "", colour.colour)
    tail = nev_tail(info.text[-7:]) if len(info.text) >= 7 else None
    return (info.is_nev_format and colour.scores.get("cyan", 1.0) >= CYAN_SHARE
            and (tail[0] if tail else info.kind) == "small_nev")


def _complete_nev(text: str) -> bool:
    info = parse_plate(text or "")
    return info.valid and info.is_nev_format and plate_shape(text).complete


def _decide(text: str, colour: ColourResult, lists: PlateLists | None) -> Verdict:
    listed = _list_entry(text, lists)
    partial = "?" in (text or "")
    info = parse_plate((text or "").replace("?", ""), colour.colour)
    if partial:
        info = replace(info, valid=False, kind="unknown", type_code="99", is_nev_format=False, energy=None)
    t = info.text
    if listed is not None:
        return Verdict(listed == "allow", f"{listed}_list", info.type_code, info.kind, info.energy)

    tail = nev_tail(t[-7:]) if len(t) >= 7 else None
    nev_format = info.is_nev_format  # exactly 8 characters with an NEV serial after the first
    kind, energy = tail if tail else (info.kind, info.energy)
    code = {"small_nev": "52", "large_nev": "51"}.get(kind, info.type_code)
    c, dark = colour.colour, colour.dark_chars

    if colour.scores.get("red_end", 0.0) >= RED_END_MIN and (nev_format or tail is not None):
        # red characters at the end: 警 or 应急 (an emergency plate whose 应急 was misread into an
        # NEV serial, 粤SD51861 at 60 px); an NEV plate's characters are all black
        return Verdict(None, "conflict", code, kind, energy)
    strength = colour.scores.get("polarity", 1.0)
    if c == "blue":
        if cyan_green(text, colour):
            # an over-exposed or cold-lit green plate, or a faded blue one read with a character too many
            # (plates-dev's 皖AYL250 bleached, under a 6500 K LED: 皖ABT1250, was NEV): the colour says fuel,
            # the length NEV — undecided, never NEV (nor "not NEV", whatever the polarity's strength), as the
            # visit decides (``visit_verdict``: no hue shares there)
            return Verdict(None, "conflict", code, kind, energy)
        if dark is True and strength >= POLARITY_MIN:
            # GA 36 blue plates carry white characters: dark ones say the hue is a cast (a camera on the wrong
            # white-balance preset turns green blue), or the plate is no GA 36 plate at all — a temporary paper plate
            # (sky-blue paper, black print) behind the windscreen, a new EV's too, whose 7 characters are a civil
            # text (plates43: all 72 bare rendered reads "not NEV"). Undecided, not "not NEV" (review91)
            return Verdict(None, "conflict", code, kind, energy)
        return _not_nev(t, c, "colour", not partial)
    if c in ("green", "yellow_green"):
        if strength < POLARITY_MIN:
            dark = None
        if t.startswith(CIVIL_AVIATION_PREFIX):
            # the civil-aviation plate (white on green) by its text alone, whatever polarity blur
            # measured: small blurred ones measure "dark" too (up to 0.28)
            return Verdict(False, "colour+polarity" if dark is False else "format+colour", "99", "civil_aviation")
        if dark is False:
            if (info.valid and info.kind in WHITE_ON_GREEN) or strength >= POLARITY_STRONG:
                return _not_nev(t, c, "colour+polarity", not partial)  # agricultural, or clearly white
            # any other text (an NEV serial, a civil or partial read, none) under "white"
            # characters: a blurred small NEV plate measures white too — undecided, not fined
            return Verdict(None, "conflict" if t else "unread", code, kind, energy)
        if c == "yellow_green" and kind == "small_nev" and (nev_format or tail is not None):
            # the two-tone is the large NEV plate's, its energy letter last; a small NEV serial on it is a
            # yellow plate under a cold cast with a spot or a stroke read as the energy letter (plates-dev
            # 浙A12903, its A under mud, at 16000 K: 苏LE12903): undecided, as on yellow
            return Verdict(None, "conflict", code, kind, energy)
        if nev_format:
            return Verdict(True, "format+colour", code, kind, energy)
        if tail is not None and dark is True:
            return Verdict(True, "colour", code, kind, energy)  # province dropped or junk before it
        return Verdict(None, "conflict" if t else "unread", info.type_code, info.kind, None)
    if c == "yellow":
        # a yellow plate has 7 characters, never an NEV serial: a warm cast (sodium lamps, a
        # camera fixed on the daylight preset at night) turns a green plate yellow, and a yellow
        # truck plate with one spurious letter reads like a large NEV one: undecided, not either.
        # So is an NEV serial whose province was not read (``?AD12345``), as on blue
        if (nev_format or tail is not None) and dark is not False:
            return Verdict(None, "conflict", code, kind, energy)
        return _not_nev(t, c, "colour", not partial)
    if c in ("white", "black"):
        # no hue: night, infrared, over-exposure, fading and glare take a plate's colour away,
        # so white / black exclude nothing the text does not (black plates are 使/领/港/澳, white
        # ones police / military: their texts say so). An over-exposed gradient green plate
        # reads white with dark characters — trust the format when polarity agrees. Only the
        # small NEV plate's: the large one is a yellow-green two-tone, and the one white plate with
        # 8 characters is the emergency plate (京X1234应急), whose red 应急 misread as two serial
        # characters makes a large NEV serial (京X12349A) — undecided, never NEV by its format
        if dark is True and strength >= POLARITY_MIN and not partial and info.valid and info.kind in _CIVIL:
            # dark characters on no hue under a 7-character civil text: no GA 36 plate. A yellow plate washed out,
            # or the palest NEV plate (white top) read one character short under mud or a bolt — whose 7
            # characters are exactly this text. Only the plate's colour tells them apart (``colour_rules``,
            # ``gradient.nev_toned``): undecided, not "not NEV" (an EV fined)
            return Verdict(None, "conflict", info.type_code, info.kind, None)
        if nev_format and c == "white" and dark is not False and kind == "small_nev":
            if colour.scores.get("blue", 0.0) >= HUE_EVIDENCE > colour.scores.get("green", 0.0):
                # what hue is left of an over-exposed white-to-green NEV plate is green; blue alone is a blue plate
                # bleached (plates-dev's 皖AYL250 over-exposed, read with a character too many: 皖AET1250, was NEV)
                # — undecided, as a cyan "blue" under an NEV serial is (``cyan_green``)
                return Verdict(None, "conflict", code, kind, energy)
            return Verdict(True, "format", code, kind, energy)
        if tail is not None:
            return Verdict(None, "format" if c == "white" and dark is not False else "conflict", code, kind, energy)
        if info.valid:
            return _not_nev(t, c, "colour")
        # a partial read whose class character (警 on white, 港 / 澳 / 领 on black) was read has that class (GA 36)
        return Verdict(None, "unread", *_CLASS[c].get(t[-1:] if partial else "", (info.type_code, info.kind)), None)
    # unknown colour (infrared night, monochrome camera): the format alone decides
    if nev_format:
        return Verdict(True, "format", code, kind, energy)
    if tail is not None:
        return Verdict(None, "format", code, kind, energy)
    if not partial and info.kind in _CIVIL and SMALL_NEV_SHORT.match(t):
        # a small NEV plate with one of its last five characters unread (its last under mud or past the picture's
        # edge: no empty slot inside to find, ``nev_shape.empty_slot``) gives exactly this text, and with no colour
        # nothing else tells it from a whole plate: undecided (plates-dev's NEV plates, the last covered, in
        # greyscale: 28 of 46 reads were "not NEV", now 1). The price: fuel plates whose serial starts the same
        # (粤BD1234; 1 of 80 greyscale fuel reads that were "not NEV")
        return Verdict(None, "format", info.type_code, info.kind, None)
    return _not_nev(t, c, "format", not partial) if info.valid else Verdict(None, "unread", info.type_code, info.kind, None)


_COLOUR_TYPE = {"blue": "02", "yellow": "01"}
#: The class characters that end a plate of each colour (GA 36) and the type code and kind each names: read on a partial
#: read, they still name its class (``京A12?4警`` is a police plate whatever its missing digit).
_CLASS = {
    "yellow": {"学": ("16", "coach"), "挂": ("15", "trailer")},
    "white": {"警": ("23", "police")},
    "black": {"港": ("26", "hk"), "澳": ("27", "macau"), "领": ("04", "consulate")},
}


def _not_nev(text: str, colour: str, reason: str, complete: bool = True) -> Verdict:
    """A non-NEV verdict whose kind/type code never claims an NEV plate (nor any kind for a partial read)."""
    p = parse_plate(text if complete else "", colour)
    # two letters + five digits is also an NEV serial without its province: military only on white
    military_elsewhere = p.kind == "military" and colour not in ("white", "unknown")
    if p.valid and not p.is_nev_format and not military_elsewhere:
        return Verdict(False, reason, p.type_code, p.kind, None)
    if not complete and text[-1:] in _CLASS.get(colour, {}):
        # a partial read whose class character was read: GA 36's 学 / 挂 name a coach / a trailer, not a large vehicle
        return Verdict(False, reason, *_CLASS[colour][text[-1]], None)
    return Verdict(False, reason, _COLOUR_TYPE.get(colour, "99"), "unknown", None)
