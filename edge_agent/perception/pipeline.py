"""One ``Pipeline``: BGR frame → list of ``PlateRead`` (detect → rectify → read → complete or mark
partial → province → colour → verdict).

Sessions are created once here and injected into the stages, so a Pipeline is the one
thing the agent, the CLI and the benchmarks build from a ``PerceptionConfig``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.cast import cold_yellow, warm_green
from edge_agent.perception.colour import ColourResult, classify_colour
from edge_agent.perception.colour_rules import CIVIL, GREENS, POLARITY_MIN, choose_colour
from edge_agent.perception.detector import Detection, PlateDetector
from edge_agent.perception.double_row import is_double_row, read_double_row
from edge_agent.perception.gradient import nev_toned
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.lowlight import brightened
from edge_agent.perception.nev_shape import dot_after_one, dot_after_two, empty_slot, issuer_skipped, nev_shaped
from edge_agent.perception.occlusion import covered
from edge_agent.perception.pitch import placed
from edge_agent.perception.province import ProvinceCall, ProvinceReader
from edge_agent.perception.recognizer import ReadResult, Recognizer, char_centres, create_recognizer, split_read
from edge_agent.perception.rectify import rectify
from edge_agent.perception.retry import DOUBLE_ROW_SIZE, Completer
from edge_agent.perception.retry_gate import RetryGate
from edge_agent.perception.sessions import SessionFactory
from edge_agent.perception.shape import MISSING, PARTIAL_CONFIDENCE, Shape, nev_gap, plate_shape
from edge_agent.perception.types import PlateRead, Region
from edge_agent.perception.verdict import HUE_EVIDENCE, Verdict, decide, suffix_read
from edge_agent.plates import PROVINCES, parse_plate

log = logging.getLogger(__name__)

PLATE_CROP_ASPECT = (2.0, 6.0)  # width / height of an image that may be a plate crop
PLATE_CROP_MAX_W = 640
#: A two-row read less confident than this is read again with the top edge moved up (``Completer.double_row``):
#: whole rows read 0.9–0.99 on plates-dev; a half-cut upper row's letter read as another one (京E → 京D) 0.8
DOUBLE_ROW_SURE = 0.9
#: A character the recogniser gives less than this at its slot was put there by the slot rules, not read:
#: the energy letter of an NEV plate read as a digit (苏ED51712: D 0.006), a province read as a letter
#: (豫S33909: 0.004). One such guess per plate is what those rules are for; two are no read (``_guessed``)
GUESSED_BELOW = 0.05
#: the colours a warm cast (sodium, tungsten) gives a green NEV plate: asked ``cast.warm_green`` on a conflict
_WARMED = ("yellow", "yellow_green")
#: Under this width (px, in the frame) a plate's province glyph is a few pixels of many strokes: a province
#: whose margin over the runner-up stays below ``SMALL_PROVINCE_MARGIN`` after the re-read is a coin toss and
#: is not read (``?``). Measured on plates-dev scaled to 40–60 px (JPEG q70, 150 plates per width): a wrong
#: province was 36 of 62 complete wrong reads at 40–50 px, 1 of 9 at 80–100. The margin is the clean eval's
#: limit: 0.3 halved the wrong reads at 40–50 px (62 → 33, exact 111 → 93) but took one clean plate's right
#: province (浙A88888, 54 px, margin 0.07)
SMALL_PLATE_PX = 60.0
SMALL_PROVINCE_MARGIN = 0.05


def rereads_better(first: ReadResult, again: ReadResult) -> bool:
    """Whether a two-row plate's read with the top edge moved up (``Completer.double_row``: it starts with a
    province) replaces the first read: always when that one has no province (unread, or the letter-led shape a cut
    upper row leaves: 渝D00796 read MD00796, valid and confident, since what was cut is the province), else when it
    is more confident (a half-cut 京E read 京D at 0.8)."""
    return not first[0] or first[0][0] not in PROVINCES or again[1] > first[1]


class Pipeline:
    """Holds the stages and their sessions; ``process`` is not re-entrant (one frame at a time)."""

    def __init__(self, detector, recognizer: Recognizer, cfg: PerceptionConfig,
                 lists: PlateLists | None = None, retry_gate: RetryGate | None = None) -> None:
        """``retry_gate``: how often a plate the camera keeps seeing read in part is retried (``retry_gate``);
        None: every partial read is (photos, each one new)."""
        self.detector = detector
        self.retry_gate = retry_gate
        self.recognizer = recognizer
        self.cfg = cfg
        self.lists = lists
        self.completer = Completer(detector, recognizer, cfg.pad_x, cfg.pad_y, cfg.province_widen)
        self.provinces = ProvinceReader(recognizer, cfg.priority_provinces, pad=(cfg.pad_x, cfg.pad_y))

    @classmethod
    def from_config(cls, cfg: PerceptionConfig | None = None, models_dir: str | Path | None = None,
                    lists: PlateLists | None = None, retry_gate: RetryGate | None = None) -> Pipeline:
        cfg = cfg or PerceptionConfig()
        models = Path(models_dir if models_dir is not None else cfg.models_dir)
        sessions = SessionFactory(cfg.threads, cfg.providers, cfg.precision, cfg.memory_arena)
        detector = make_detector(cfg, models, sessions)
        recognizer = create_recognizer(cfg.recognizer, models, sessions, **cfg.recognizer_options)
        return cls(detector, recognizer, cfg, lists, retry_gate)

    @property
    def reads_regions(self) -> bool:
        """Whether reading a region costs less than the whole frame (the detector takes any input size)."""
        return bool(getattr(self.detector, "reads_regions", False))

    def process(self, frame_bgr: np.ndarray, region: Region | None = None) -> list[PlateRead]:
        """Every plate read in the frame; with ``region`` (x1, y1, x2, y2) only those the detector
        finds inside it (the bays that want a read), at the whole frame's scale."""
        if region is None:
            dets = self.detector.detect(frame_bgr) or self._whole_image(frame_bgr) or self._rolled(frame_bgr)
            if not dets:
                dets, frame_bgr = self._brightened(frame_bgr)
        else:
            dets = self.detector.detect(frame_bgr, region)
        if not dets:
            return []
        cfg = self.cfg
        crops = [rectify(frame_bgr, d.corners, pad_x=cfg.pad_x, pad_y=cfg.pad_y) for d in dets]
        reads = self.recognizer.read(crops)
        out = []
        for det, crop, read in zip(dets, crops, reads):
            evidence = crop
            read_det = det
            read_crop: np.ndarray | None = crop  # what the read saw, single-row (occlusion.covered looks there)
            double = is_double_row(det.corners, crop)
            if double:  # a single-row read of it is the bottom row only: confidently wrong
                evidence = rectify(frame_bgr, det.corners, *DOUBLE_ROW_SIZE)
                read = read_double_row(self.recognizer, evidence)
                # unread, letters where a cut upper row was, or a doubtful read (half a cut 京E read 京D):
                # the top edge moved up, and the more confident read wins
                if not read[0] or read[0][0] not in PROVINCES or read[1] < DOUBLE_ROW_SURE:
                    found_rows = self.completer.double_row(frame_bgr, det)
                    if found_rows is not None and rereads_better(read, found_rows[2]):
                        read_det, evidence, read = found_rows
                read_crop = None
            shape = plate_shape(read[0])
            # a character skipped inside the plate (the pitch shows where) is no cut-off end a widened crop brings
            # in: a retry's fill there is the covered place read again — wrong as often as right (``_pitch_gap``)
            inside = None if double or shape.complete else _pitch_gap(shape, char_centres(read))
            if (read[0] and not shape.complete and inside is None and (det.score >= cfg.det_confirm or shape.missing)
                    and (self.retry_gate is None or self.retry_gate.due(det.box, shape.text))):
                found = self.completer.complete(frame_bgr, det, shape)
                if found is None and self.retry_gate is not None:
                    self.retry_gate.failed(det.box, shape.text)
                if found is not None:
                    read_det, read, read_crop = found
                    shape = plate_shape(read[0])
            yellowed = False
            if shape.complete and not double:
                shape, read, yellowed = self._civil_on_green(crop, shape, read, frame_bgr, read_crop,
                                                             getattr(self.recognizer, "first_placed", True))
                shape = self._nev_on_blue(crop, shape)
                shape = self._military_off_white(crop, shape)
            elif not double:  # one character skipped: the ``?`` where the plate's pitch shows the gap
                shape = placed(shape, char_centres(read))
            text, conf, char_confs = read
            guessed = _guessed(char_confs) if shape.complete and not double else ()
            if guessed:
                shape = Shape("".join(MISSING if i in guessed else ch for i, ch in enumerate(text)), False)
            if not shape.complete:
                text, conf = shape.text, min(conf, PARTIAL_CONFIDENCE)
                char_confs = _aligned(text, char_confs)
            if not self._keep(det, text, conf) and not (double and det.score >= cfg.det_confirm):
                continue
            # a complete read may name a character where the plate shows none (mud, a sticker)
            seen = shape.complete and read_crop is not None
            hidden = covered(read_crop, char_centres(read), read[0]) if seen else ()
            # a province only the Han-wide kernel finds strokes in may be a spot over it: named only on a clear call
            faint = seen and 0 not in hidden and 0 in covered(read_crop, char_centres(read))
            prov = self.provinces.call(frame_bgr, read_det.corners, read) if shape.complete and not hidden else None
            if prov is not None:  # the province character's probability is the call's, also when it kept the read's
                text = prov.province + text[1:]
                char_confs = (prov.confidence, *char_confs[1:])
            unsure = prov is not None and _province_unsure(prov, read_det.width, faint)
            # a text that is no plate of its colour (``_nev_on_blue``) is none the camera saw: no list is looked up
            plate = self._plate(_clipped(det, frame_bgr.shape), crop, evidence, text, conf, char_confs, double,
                                shape.complete, prov,
                                listed=not hidden and not unsure and (shape.complete or MISSING in text),
                                seen=(read_crop, char_centres(read)), frame=frame_bgr, yellowed=yellowed,
                                hidden=hidden)
            if unsure:
                plate = _province_unread(plate)
            out.append(_covered(plate, hidden) if hidden else plate)
        return out

    @staticmethod
    def _civil_on_green(crop: np.ndarray, shape: Shape, read: ReadResult, frame: np.ndarray | None = None,
                        read_crop: np.ndarray | None = None, first_placed: bool = True) -> tuple[Shape, ReadResult, bool]:
        """Text and colour must agree (GA 36): a 7-character civil plate is blue or yellow, a
        green one with dark characters has 8. When the colour chosen for the read (the pixels'
        ranking restricted by the text, ``colour_rules``) stays green because no blue / yellow
        evidence exists, the pixels win — colour is measured over the whole plate, while one
        character the recogniser skips turns an NEV plate into a 7-character civil text. If the
        recogniser's frames show that character (a repeat merged over an outvoted blank,
        ``皖AD11111`` read ``皖AD1111``: ``split_read``) and it makes the NEV plate of that colour,
        that is the read; otherwise the read is partial: one character not read (``nev_gap``) — unless the frame's
        light is cold and the plate, corrected for it, is yellow (``cast.cold_yellow``): a yellow plate a cold white
        balance turned green has its 7 characters, the read stays whole and the third value says the plate is yellow.
        With no colour at all the plate's geometry speaks instead (``nev_shape.empty_slot``), on ``read_crop``: the
        crop the read's centres are on (a retry's widened one), ``crop`` when None. ``first_placed``: whether the
        recogniser's frames put the first character where it is (``OnnxCtcRecognizer.first_placed``): the skipped
        issuing letter is measured from it."""
        if parse_plate(shape.text).kind not in ("small", "large"):
            return shape, read, False
        res = choose_colour(classify_colour(crop, shape.text), shape.text, True)
        if res.colour == "unknown":
            # no colour (infrared, a monochrome camera), where the text was all the verdict had: characters in an NEV
            # plate's 8 slots with one inside them empty are an NEV plate with a character covered and skipped
            # (plates-dev's 皖AD22939 under mud read ``皖AD2939``, "not NEV": an EV fined) — partial, the ``?`` there
            gap = empty_slot(char_centres(read), crop if read_crop is None else read_crop)
            if gap is None and first_placed and issuer_skipped(shape.text, char_centres(read)):
                gap = 1  # the issuing letter skipped (its strokes there, no empty slot): 鲁QF02599 read 鲁F02599
            return (shape if gap is None else Shape(shape.text[:gap] + MISSING + shape.text[gap:], False)), read, False
        if res.colour in GREENS and res.dark_chars is True and res.scores.get("polarity", 0.0) >= POLARITY_MIN:
            split = split_read(read)
            want = "large_nev" if res.colour == "yellow_green" else "small_nev"
            if split is not None and parse_plate(split[0]).valid and parse_plate(split[0]).kind == want:
                return plate_shape(split[0]), split, False
            if frame is not None and cold_yellow(frame, crop):
                return shape, read, True
            return placed(nev_gap(shape.text, res.colour), char_centres(read), want), read, False
        return shape, read, False

    @staticmethod
    def _nev_on_blue(crop: np.ndarray, shape: Shape) -> Shape:
        """The other half of text and colour agreeing (GA 36): a blue plate has 7 characters, white on
        blue; an NEV serial has 8 and is printed black on green or yellow-green. A complete NEV text on a
        plate whose colour stays blue with measured white characters (the colour rules move a plate off
        blue only on pixel evidence of green) holds a character the plate does not: the recogniser read
        a screw, the frame's edge or a stain as one, and the 8 were bent into an NEV serial (JPEG
        quality 20 read 川AS9V79 as 川JAS9173, complete). Which character is extra the text cannot
        say, so the read is kept as read but not complete: no list is looked up, no visit is identified
        by it, and its confidence is a partial read's. The verdict is unchanged: blue with white
        characters is "not NEV" whatever the text. Dark characters on blue are left alone: a camera's
        white-balance preset turns green plates deep blue (the verdict then is ``conflict``)."""
        if parse_plate(shape.text).kind not in ("small_nev", "large_nev"):
            return shape
        res = choose_colour(classify_colour(crop, shape.text), shape.text, True)
        if res.colour == "blue" and res.dark_chars is False and res.scores.get("polarity", 0.0) >= POLARITY_MIN:
            return Shape(shape.text, False)
        return shape

    @staticmethod
    def _military_off_white(crop: np.ndarray, shape: Shape) -> Shape:
        """Two letters + five digits is the military shape (outside GA 36), printed on white plates; a
        civil plate's province read as a letter makes it too (a probe's windscreen reflection of 津RB7992
        read ``IR87992``, complete at 0.85 on a blue plate). When the colour chosen for the text (the
        colour rules move a plate to white only with no pixel evidence against it) is not white — or
        ``unknown``, where greyscale and infrared leave the text alone — the letter is a misread
        province: that position is not read (``?R87992``), as for a letter before a whole civil plate
        (``plate_shape``). The verdict then judges the colour, as for any partial read."""
        if parse_plate(shape.text).kind != "military":
            return shape
        res = choose_colour(classify_colour(crop, shape.text), shape.text, True)
        if res.colour in ("white", "unknown"):
            return shape
        return Shape(MISSING + shape.text[1:], False, "left")

    @staticmethod
    def _whole_image(frame: np.ndarray) -> list[Detection]:
        """An image shaped like a plate crop (operators feed those to ``recognize``) with no
        detection is read as the plate itself; ``_keep`` still demands a plate-like reading."""
        h, w = frame.shape[:2]
        if not (PLATE_CROP_ASPECT[0] <= w / max(h, 1) <= PLATE_CROP_ASPECT[1] and w <= PLATE_CROP_MAX_W):
            return []
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
        return [Detection(corners, (0.0, 0.0, float(w - 1), float(h - 1)), 0.0)]

    def _rolled(self, frame: np.ndarray) -> list[Detection]:
        """``perception.det_roll_pass``: a photo in which nothing was found (and that is no plate crop,
        read whole above) searched again turned that many degrees each way — the detector misses more
        plates the further a photo is rolled (plates-dev turned 25°: 15 % of its plates)."""
        rolled = getattr(self.detector, "detect_rolled", None)
        if self.cfg.det_roll_pass <= 0 or rolled is None:
            return []
        return rolled(frame, self.cfg.det_roll_pass)

    def _brightened(self, frame: np.ndarray) -> tuple[list[Detection], np.ndarray]:
        """A dark photo in which nothing was found searched again on brightened copies (``lowlight``); the
        plates found are read from the copy they were found on (plates-dev at night: read from the dark
        photo, 3 of 4 yellow plates were "white" and one a complete wrong plate; from the copy all colours
        right, no wrong complete read; under a gain alone, the noise with it, mostly partial reads).
        A stills pass, as the roll pass it follows: only where that is on (``det_roll_pass``; ``recognize`` and
        ``eval``), never on a camera's frames by default — a night camera's frames are all dark, and two more
        detector passes on every frame without a plate have no room in a frame's time budget."""
        if self.cfg.det_roll_pass <= 0:
            return [], frame
        for copy in brightened(frame):
            dets = self.detector.detect(copy)
            if dets:
                return dets, copy
        return [], frame

    def _keep(self, det: Detection, text: str, conf: float) -> bool:
        """Weak detections survive only when they read like a plate (drops logos, timestamps)."""
        if det.score >= self.cfg.det_confirm:
            return True
        return len(text) >= 7 and conf >= self.cfg.weak_det_min_text_conf

    def _plate(self, det: Detection, crop, evidence, text: str, conf: float, char_confs,
               double: bool, complete: bool, prov, listed: bool = True,
               seen: tuple[np.ndarray | None, tuple[float, ...]] = (None, ()),
               frame: np.ndarray | None = None, yellowed: bool = False, hidden: tuple[int, ...] = ()) -> PlateRead:
        """``listed`` False: a text with a covered character read as another (``_covered``) — no plate the
        camera saw, so no list is looked up (the verdict would be of another car: 湘A97071 for 湘A97971).
        ``seen``: the crop the read came from and its characters' centres there — a partial read the text
        leaves undecided is NEV when the plate's shape says so (``nev_shape``: one character of a green
        NEV plate under mud). ``frame``: the whole frame, looked at only when a complete small NEV serial on a
        plate called yellow is undecided — a green plate under warm light (``cast.warm_green``) is green.
        ``yellowed``: a 7-character civil read on green that ``cast.cold_yellow`` found yellow under cold light.
        ``hidden``: positions ``occlusion.covered`` found: where a character there could change the text's kind
        (``_kind_seen``), the colour is chosen as for a partial read — a text naming a character over mud is then no
        evidence of the plate's kind (a police plate's 警 read ``0``: a civil text, so no white, and "white with a
        civil text" made it a washed-out yellow truck plate's). A serial digit under mud changes none: an NEV
        serial's eight characters and energy letter still judge a cyan "blue" green."""
        whole = complete and (not hidden or _kind_seen(text, hidden))
        shown = text if whole else "".join(MISSING if i in hidden else ch for i, ch in enumerate(text))
        colour = choose_colour(classify_colour(crop, shown if whole else None), shown, whole)
        if yellowed and colour.colour in GREENS:
            colour = replace(colour, colour="yellow")
        if whole and _hueless_civil(text, colour) and (double or not nev_toned(crop)):
            # a yellow plate washed out: one colour top to bottom, or two rows (GA 36's NEV plates have one)
            colour = replace(colour, colour="yellow")
        v = decide(text, colour, self.lists if listed else None)
        if (frame is not None and complete and not double and v.nev is None and v.reason == "conflict"
                and v.kind == "small_nev" and colour.colour in _WARMED and warm_green(frame, crop)):
            colour = replace(colour, colour="green")
            v = decide(text, colour, self.lists if listed else None)
        unread_province = v.nev is True and v.reason == "colour" and text.startswith(MISSING)
        military = unread_province and dot_after_two(text, seen[1])
        if military or (unread_province and not dot_after_one(text, seen[1])):
            # an NEV serial without its province is NEV only where the plate shows the NEV plate's dot after the
            # issuing letter: after two letters it is a military plate (white) that a green or cold cast turned
            # green (``?GA13189``); unseen (the recogniser's centres too coarse at a bay camera's size) the seven
            # read characters are as many as a yellow plate's whose province was read as a letter (苏DLA031 under
            # a green fluorescent: ``?FDL4031`` — a fuel truck let into a charging bay by its partial reads)
            v = Verdict(None, "conflict", "99", "unknown", None)
        shaped = (nev_shaped(text, seen[1], seen[0], colour)
                  if v.nev is None and not complete and not double and not military else None)
        if shaped is not None:
            v = Verdict(True, "format+colour", {"small_nev": "52", "large_nev": "51"}[shaped], shaped, None)
        extra = {"dark_chars": colour.dark_chars, "polarity": round(float(colour.scores.get("polarity", 0.0)), 4),
                 "red_end": round(float(colour.scores.get("red_end", 0.0)), 4), "kind": v.kind, "energy": v.energy,
                 # what hue a white plate keeps (``verdict.HUE_EVIDENCE``), pooled by the visit (``Consensus.hue``)
                 "hue_blue": round(float(colour.scores.get("blue", 0.0)), 4),
                 "hue_green": round(float(colour.scores.get("green", 0.0)), 4)}
        if prov is not None:
            extra.update(province_margin=round(prov.margin, 4), province_source=prov.source)
        return PlateRead(
            text=text, confidence=conf, colour=colour.colour, nev=v.nev, nev_reason=v.reason,
            corners=tuple((float(x), float(y)) for x, y in det.corners), box=det.box,
            det_score=det.score, type_code=v.type_code, double_row=double, char_confidences=tuple(char_confs),
            extra=extra, crop=evidence, complete=complete,
            province_confidence=prov.confidence if prov is not None else None,
            colour_confidence=colour.confidence,
        )


#: What a covered position may hold that could change a text's kind (GA 36): a serial's digit or letter, an NEV
#: plate's energy letter, the class and issuing characters (警 学 挂 港 澳 领 使).
_STAND_INS = "0AD港澳学警领使挂"


def _kind_seen(text: str, hidden: tuple[int, ...]) -> bool:
    """Whether ``text``'s kind rests on seen characters only: no plate text with another character at a ``hidden``
    position is of another kind (``粤BF5670`` with its last character covered may be ``粤BF567警``, a police plate;
    ``粤BD12?45`` is a small NEV serial whatever digit stands there)."""
    kind = parse_plate(text)
    if not kind.valid:
        return False
    others = (parse_plate(text[:i] + ch + text[i + 1:]) for i in hidden for ch in _STAND_INS)
    return all(p.kind == kind.kind for p in others if p.valid)


def _hueless_civil(text: str, colour: ColourResult) -> bool:
    """A 7-character civil read with dark characters on a plate the pixels and the colour rules left white or black
    (``colour_rules``: no yellow across it). A washed-out yellow plate — or the palest NEV plate read one character
    short, which ``gradient.nev_toned`` tells apart; the verdict on white leaves it undecided. A plate whose hue left
    is green (``HUE_EVIDENCE``) and no yellow is no yellow plate: an over-exposed NEV plate, its gradient flattened."""
    green, yellow = colour.scores.get("green", 0.0), colour.scores.get("yellow", 0.0)
    return (colour.colour in ("white", "black") and colour.dark_chars is True
            and colour.scores.get("polarity", 0.0) >= POLARITY_MIN and parse_plate(text).kind in CIVIL
            and not green >= HUE_EVIDENCE > yellow)


def _clipped(det: Detection, shape: tuple[int, ...]) -> Detection:
    """Corners and box inside the image: the detector extrapolates the corners of a plate cut by
    the frame's edge beyond it, and coordinates outside the image are no pixel of it."""
    h, w = shape[:2]
    corners = np.clip(np.asarray(det.corners, np.float32), 0, [w - 1, h - 1])
    x1, y1, x2, y2 = det.box
    fw, fh = float(w), float(h)  # not the shape's ints: a box clipped at the edge was written 190 beside 166.4
    box = (min(max(x1, 0.0), fw), min(max(y1, 0.0), fh), min(max(x2, 0.0), fw), min(max(y2, 0.0), fh))
    return Detection(corners, box, det.score)


def _covered(plate: PlateRead, hidden: tuple[int, ...]) -> PlateRead:
    """``plate`` with the characters read where the plate shows none (``occlusion.covered``) not read:
    ``?`` there, partial, confidence ≤ ``PARTIAL_CONFIDENCE`` — it matches no list and identifies no
    visit. The verdict stays that of the whole read: it judges the plate's colour (without the text where a
    covered character could change its kind, ``_plate``: ``hidden``), length and energy letter, which one unseen
    serial character does not change (a covered energy letter was already read by its slot); it was made without
    the lists (``_plate``: ``listed``). Except the class where the last character is covered (99,
    ``verdict.suffix_read``), and with no colour: there the length is all a "not NEV" says, and it is not known
    (undecided)."""
    text = "".join(MISSING if i in hidden else ch for i, ch in enumerate(plate.text))
    confs = tuple(0.0 if i in hidden else c for i, c in enumerate(plate.char_confidences))
    if plate.nev is not True and not suffix_read(text, plate.colour):
        plate = replace(plate, type_code="99", extra={**plate.extra, "kind": "unknown", "energy": None})
    if plate.colour == "unknown" and plate.nev is False:
        # no colour (infrared, a monochrome camera): "not NEV" rests on the count of characters alone, and a read
        # with a place that shows none has not counted them — the recogniser read the cover as one character and
        # may have skipped the one beside it (plates-dev's 皖AD22939, its 9 under mud: ``皖AD22?3``). Undecided
        plate = replace(plate, nev=None, nev_reason="conflict", type_code="99",
                        extra={**plate.extra, "kind": "unknown", "energy": None})
    return replace(plate, text=text, complete=False, confidence=min(plate.confidence, PARTIAL_CONFIDENCE),
                   char_confidences=confs, province_confidence=None if 0 in hidden else plate.province_confidence,
                   extra={**plate.extra, "covered": list(hidden)})


def _province_unsure(prov: ProvinceCall, width: float, faint: bool = False) -> bool:
    """Whether a small plate's province (``SMALL_PLATE_PX``), or a ``faint`` one — strokes only the wider kernel
    of ``occlusion.covered`` found, which a spot over it can be — is too doubtful to name: a wrong province
    is another car's plate (lists, the visit's identity), a ``?`` there only an unfinished one. An
    operator's ``priority_provinces`` choice stands: it is the site's own prior for exactly this doubt."""
    return (width < SMALL_PLATE_PX or faint) and prov.margin < SMALL_PROVINCE_MARGIN and prov.source != "priority"


def _province_unread(plate: PlateRead) -> PlateRead:
    """``plate`` with its province not read: ``?`` there, partial, confidence ≤ ``PARTIAL_CONFIDENCE``.
    Colour and verdict stay those of the whole read, as for a covered character (``_covered``): the
    province decides neither; the lists were not looked up (``listed``)."""
    return replace(plate, text=MISSING + plate.text[1:], complete=False,
                   confidence=min(plate.confidence, PARTIAL_CONFIDENCE),
                   char_confidences=(0.0, *plate.char_confidences[1:]), province_confidence=None,
                   extra={**plate.extra, "province_unsure": True})


def _pitch_gap(shape: Shape, centres) -> Shape | None:
    """``shape``'s read characters with a ``?`` where the plate's pitch shows the one skipped (``pitch.placed``
    of the unmarked read, so that the text's own guess plays no part) — inside the plate, where a character
    skipped is on the crop (under mud, a sticker), unlike one cut off at an end, which widening brings in. None
    when the pitch shows no clear gap inside, or the read is not one character short of a single-row plate.
    Measured (plates-dev, a spot over a serial character, 354 reads): retries of such reads completed 1 right
    and 16 wrong against the text's own guess (``湘A9791?`` took ``湘A97901``), 27 wrong against the pitch's
    place (a fill at the gap: ``皖A52T5?`` → ``皖A512T5``)."""
    if not shape.known or shape.text.count(MISSING) > 1:
        return None
    at = placed(Shape(shape.known, False), centres)
    return at if MISSING in at.text[1:-1] else None


def _guessed(char_confs) -> tuple[int, ...]:
    """The positions of a complete read that the slot rules filled against the recogniser (each below
    ``GUESSED_BELOW``) when there are two or more, else (): such a text is the rules' making, not the
    plate's. Small plates read so: an armed-police WJ07X0230 60 px wide, its W taken for a province and
    two more characters forced into an NEV serial at 0.002–0.005 (``湘JFX0230``), became an NEV plate on
    white; a blue 皖AHC821 at 40 px became ``皖AHH0821``. Measured (plates-dev scaled to 40–100 px, JPEG
    q70, 150 plates per width): complete reads with two such characters 6 wrong, none right."""
    weak = tuple(i for i, c in enumerate(char_confs) if c < GUESSED_BELOW)
    return weak if len(weak) >= 2 else ()


def _aligned(marked: str, confs) -> tuple[float, ...]:
    """Per-character confidences for a ``?``-marked text: 0 on the missing positions (``?`` inserted
    where a character was not read, or put over one read but not trusted: same length)."""
    if len(confs) == len(marked):
        return tuple(0.0 if ch == MISSING else c for ch, c in zip(marked, confs))
    it = iter(confs)
    return tuple(0.0 if ch == "?" else next(it, 0.0) for ch in marked)


def make_detector(cfg: PerceptionConfig, models: Path, sessions: SessionFactory):
    if cfg.detector == "clp_det":
        return PlateDetector(sessions.get(models / "clp_det.onnx", detector=True), size=cfg.det_size,
                             threshold=cfg.det_threshold, nms=cfg.det_nms, max_upscale=cfg.det_max_upscale,
                             refine_below=cfg.refine_below, refine_target=cfg.refine_target,
                             zoom_pass=cfg.det_zoom_pass, region_zoom=cfg.det_region_zoom)
    from edge_agent.perception import (
        yolo,  # operator-supplied YOLO models (ONNX or .pt)
    )

    return yolo.make_detector(cfg, models, sessions)
