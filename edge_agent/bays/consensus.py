"""Plate consensus over one bay visit: one misread frame must not decide the verdict.

Reads are grouped by text length (a dropped or doubled character shifts every position,
so mixing lengths would vote apples against oranges); the heaviest length wins, then each
character position is voted, weighted by that character's confidence.

Only complete reads can make the identity: a partial read (``PlateRead.complete`` False,
``?`` on the positions it lacks, e.g. ``?A12345``) is kept aside and votes only on the
positions it saw, and only for complete reads of its length — it can agree with them,
never stand for the plate alone. What partial reads can tell is the vehicle's *class*
(``partial_class``): the frames' NEV verdict judges the plate's colour, length and energy
letter, which one covered or skipped serial character does not change.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TypeGuard, TypeVar

from edge_agent.perception.colour_rules import POLARITY_MIN
from edge_agent.perception.types import PlateRead
from edge_agent.perception.verdict import Verdict
from edge_agent.plates import normalise_plate

# Distinct partial texts whose weights the vote keeps (``partial_class``'s heaviest text). Reads of one plate give a
# handful; the bound is for noise. Past it a new text takes the lightest one's place and weight (``_weigh_text``).
PARTIAL_TEXTS_KEPT = 1_000
# the colours an 8-character (NEV) plate shows: its own two, or none where light washed it out (GA 36)
_WHOLE_COLOURS = ("green", "yellow_green", "white")
K = TypeVar("K")


@dataclass(frozen=True)
class Consensus:
    text: str
    confidence: float  # mean over positions of the winning character's weight share × its mean confidence
    colour: str
    colour_share: float
    reads: int  # reads that voted for the winning length
    total_reads: int
    # the character polarity the reads of the winning colour measured (confidence-weighted majority; None:
    # none measured) and its mean strength on that side: a cast can make a green plate read blue, while
    # its characters stay dark, which the colour alone would hide (``visit_verdict``)
    dark_chars: bool | None = None
    polarity: float | None = None
    # red strokes at the plate's end (``verdict.RED_END_MIN``: 警 / 应急, never an NEV plate), the mean over
    # the complete reads of the winning colour; None: none measured
    red_end: float | None = None
    # partial reads with no colour that counted more places than the winning length (an empty 8th slot:
    # ``nev_shape.empty_slot``) or named a covered place (``_covered``): with no colour the count is all a "not NEV"
    # rests on, and these frames did not see the winning one (``visit_verdict.decide_visit``: ``uncounted``)
    uncounted: int = 0
    # the blue and green shares of the winning colour's complete reads (confidence-weighted means; None: none
    # measured): an over-exposed blue plate reads white with an NEV serial, and only its blue tells it from a washed-out
    # NEV plate (``verdict.HUE_EVIDENCE``) — a visit judged without them was NEV where every frame was undecided
    hue: tuple[float, float] | None = None


class PlateVote:
    """Accumulates the reads of one visit; ``result()`` is cheap enough to call every frame.

    It keeps running totals, never the reads: a visit nothing identifies (a plate under mud, a fuel car's partial
    plate) is read every ``read_slow_every_s`` for as long as it stays, and a vote that kept every read grew 6.5 MB
    a day per bay and was redone over all of them after each read (0.3 s a read after a week, on a PC). The
    totals are what the vote over all reads sums — per length, position and character; per colour; per polarity
    and red end — so a car parked for a month decides as one parked for a minute would, in bounded memory (one
    entry per character seen at a position, per colour, per verdict)."""

    def __init__(self, min_confidence: float = 0.3, longer_reads: int = 3) -> None:
        self.min_confidence = min_confidence
        # A cover (mud, a leg, a tow bar) hides a character and never adds one: complete reads one character longer
        # than the heavier group's text that contain it are the plate read whole (a pale NEV under mud read
        # ``皖AD1166`` in its first four frames, ``皖AD11166`` in the next three: never identified, an ``unidentified``
        # violation). The longer text stands once it was read as often as a visit needs to be identified
        # (``identify_reads``): a screw or the frame's edge read as one character more in a frame or two does not.
        # Nor does it on a hue GA 36 gives no 8-character plate, or where either length's reads measured white
        # characters (``_whole``): a cover never changes the ink, and an NEV plate's is black (review81).
        self.longer_reads = longer_reads
        # complete reads: count; confidence and reads per length; per length and position, per character the
        # sum of its confidences and its reads (insertion order = first seen: ties go to the first, as before)
        self._complete = 0
        self._len_conf: dict[int, float] = defaultdict(float)
        self._len_reads: dict[int, int] = defaultdict(int)
        self._chars: dict[int, list[dict[str, list[float]]]] = {}
        self._colours: dict[str, float] = defaultdict(float)
        self._len_colours: dict[tuple[int, str], float] = defaultdict(float)  # (length, colour) → Σ confidence
        # (length, dark characters) → Σ confidence of the reads that measured their ink (``POLARITY_MIN`` or more)
        self._len_ink: dict[tuple[int, bool], float] = defaultdict(float)
        self._polarity: dict[tuple[str, bool], list[float]] = {}  # (colour, dark) → [Σ conf, Σ conf × strength]
        self._red: dict[str, list[float]] = {}  # colour → [Σ conf, Σ conf × red_end]
        self._hue: dict[str, list[float]] = {}  # colour → [Σ conf, Σ conf × blue share, Σ conf × green share]
        # partial reads: the same per position (they back a character a complete read saw), per text and colour,
        # and by the frame's verdict, its reason and type code (None: undecided, or a list's)
        self._partial = 0
        self._partial_conf = 0.0
        self._partial_chars: dict[int, list[dict[str, list[float]]]] = {}
        self._partial_texts: dict[str, float] = defaultdict(float)
        self._partial_colours: dict[str, float] = defaultdict(float)
        self._partial_nev: Counter[tuple[bool | None, str, str]] = Counter()
        self._blind: Counter[tuple[int, bool]] = Counter()  # uncoloured partial reads by (length, a covered place)
        # the last result, until a read is added: the machine asks at every frame while a visit is undecided
        self._result: Consensus | None = None
        self._fresh = False
        self._partial_result: dict[int, tuple[Consensus, Verdict] | None] = {}  # partial_class's, until a read

    def __len__(self) -> int:
        return self._complete

    def add(self, read: PlateRead) -> bool:
        """Count ``read`` if it says something; returns whether it was counted."""
        text = normalise_plate(read.text)
        if not text or read.confidence < self.min_confidence:
            return False
        cc = tuple(read.char_confidences)
        partial = not getattr(read, "complete", True) or "?" in text
        colour = read.colour or "unknown"
        if partial:
            cc = tuple(0.0 if ch == "?" else read.confidence for ch in text)
            self._partial += 1
            self._partial_conf += read.confidence
            _tally(self._partial_chars, text, cc)
            _weigh_text(self._partial_texts, text, read.confidence)
            if colour != "unknown":
                self._partial_colours[colour] += read.confidence
            else:
                self._blind[(len(text), bool(read.extra.get("covered")))] += 1
            # a list verdict on a partial read came from a text the plate does not show (a covered character
            # read as another): it says nothing of the class
            reason = str(getattr(read, "nev_reason", "") or "unread")
            nev = None if reason.endswith("_list") else getattr(read, "nev", None)
            self._partial_nev[(nev, reason, str(getattr(read, "type_code", "99")))] += 1
        else:
            if len(cc) != len(text):  # recogniser gave no per-character scores: spread the plate's
                cc = (read.confidence,) * len(text)
            self._complete += 1
            self._len_conf[len(text)] += read.confidence
            self._len_reads[len(text)] += 1
            _tally(self._chars, text, cc)
            if colour != "unknown":
                self._colours[colour] += read.confidence
                self._len_colours[(len(text), colour)] += read.confidence
            dark, strength = read.extra.get("dark_chars"), read.extra.get("polarity")
            if isinstance(dark, bool) and isinstance(strength, (int, float)):
                _add(self._polarity, (colour, dark), read.confidence, float(strength))
                if strength >= POLARITY_MIN:  # weaker is a guess (``colour_rules``)
                    self._len_ink[(len(text), dark)] += read.confidence
            red = read.extra.get("red_end")
            if isinstance(red, (int, float)) and not isinstance(red, bool):
                _add(self._red, colour, read.confidence, float(red))
            blue, green = read.extra.get("hue_blue"), read.extra.get("hue_green")
            if _number(blue) and _number(green):
                entry = self._hue.setdefault(colour, [0.0, 0.0, 0.0])
                entry[0] += read.confidence
                entry[1] += read.confidence * float(blue)
                entry[2] += read.confidence * float(green)
        self._fresh = False
        self._partial_result.clear()
        return True

    def result(self) -> Consensus | None:
        if not self._fresh:
            self._result, self._fresh = self._count(), True
        return self._result

    def _count(self) -> Consensus | None:
        if not self._complete:
            return None
        n = max(self._len_conf, key=lambda k: (self._len_conf[k], k))
        text, score = self._voted(n)
        if self._len_reads.get(n + 1, 0) >= self.longer_reads and self._whole(n):
            longer, longer_score = self._voted(n + 1)
            if _one_left_out(text, longer):  # the same plate, one character unseen in the heavier group's frames
                n, text, score = n + 1, longer, longer_score
        if self._colours:
            colour = max(self._colours, key=self._colours.__getitem__)
            share = self._colours[colour] / sum(self._colours.values())
        else:
            colour, share = "unknown", 0.0
        dark, strength = self._measured_polarity(colour)
        red = self._red.get(colour)
        red_end = red[1] / red[0] if red else None
        h = self._hue.get(colour)
        hue = (h[1] / h[0], h[2] / h[0]) if h else None
        uncounted = sum(k for (length, hidden), k in self._blind.items() if length > n or hidden)
        return Consensus(text, score / n, colour, share, self._len_reads[n],
                         self._complete + self._partial, dark, strength, red_end, uncounted, hue)

    def _whole(self, n: int) -> bool:
        """Whether the reads one character longer than ``n`` may be the plate read whole: GA 36 prints 8 characters
        only on an NEV plate — green, yellow-green, or no hue left (washed out, unknown) — with black characters, which
        the shorter reads must have measured (a cover hides a character, never the ink) and the longer ones not
        contradicted. A blue
        皖AD1234 whose screw read as a character in three frames named 皖AD12345 in its fine and missed the allow list
        holding it; a blue plate lit green, its white characters weaker than blur fakes, was NEV with the screw."""
        colours = {c: w for (k, c), w in self._len_colours.items() if k == n + 1}
        if colours and max(colours, key=colours.__getitem__) not in _WHOLE_COLOURS:
            return False
        ink = self._len_ink.get
        # the shorter reads' black characters are what says they are an NEV plate with one hidden (none measured:
        # a blue plate lit green with white strokes too weak to count reads the same)
        return ink((n, False), 0.0) < ink((n, True), 0.0) and ink((n + 1, False), 0.0) <= ink((n + 1, True), 0.0)

    def _voted(self, n: int) -> tuple[str, float]:
        """The complete reads of length ``n`` voted position by position: their text and the sum over positions of
        the winner's weight share × its mean confidence."""
        support = self._partial_chars.get(n)
        chars, score = [], 0.0
        for i, votes in enumerate(self._chars[n]):
            backed = support[i] if support is not None else {}
            # a partial read backs a character a complete read saw
            weights = {ch: (w + backed[ch][0], k + backed[ch][1]) if ch in backed else (w, k)
                       for ch, (w, k) in votes.items()}
            total = sum(w for w, _ in weights.values()) or 1.0
            ch, (w, k) = max(weights.items(), key=lambda kv: (_tied(kv[1][0]), kv[1][1]))
            chars.append(ch)
            score += (w / total) * (w / k)
        return "".join(chars), score

    def partial_class(self, n: int) -> tuple[Consensus, Verdict] | None:
        """What ``n`` or more partial reads say together, without any complete read's help: their
        heaviest text (``?`` kept), colour and a class verdict — NEV when at least ``n`` frames judged
        the plate NEV and none "not NEV", "not NEV" the other way round, else undecided (``conflict``),
        with the agreeing frames' commonest reason and type code. None with fewer than ``n`` partial
        reads. It never names the plate: no list was or can be matched (``verdict._list_entry``), so
        it says what kind of vehicle stands there, not which one."""
        if n not in self._partial_result:
            self._partial_result[n] = self._partial_class(n)
        return self._partial_result[n]

    def _partial_class(self, n: int) -> tuple[Consensus, Verdict] | None:
        if self._partial < n or not self._partial:
            return None
        texts = self._partial_texts
        text = max(texts, key=lambda t: (texts[t], -t.count("?")))
        colours = self._partial_colours
        colour = max(colours, key=colours.__getitem__) if colours else "unknown"
        share = colours[colour] / sum(colours.values()) if colours else 0.0
        yes = Counter({(r, t): k for (v, r, t), k in self._partial_nev.items() if v is True})
        no = Counter({(r, t): k for (v, r, t), k in self._partial_nev.items() if v is False})
        nev = True if yes.total() >= n and not no else False if no.total() >= n and not yes else None
        agreeing = yes if nev else no if nev is False else Counter()
        reason, type_code = max(agreeing, key=lambda a: (agreeing[a], a)) if agreeing else ("conflict", "99")
        return (Consensus(text, self._partial_conf / self._partial, colour, share, agreeing.total(), self._partial),
                Verdict(nev, reason, type_code))

    def _measured_polarity(self, colour: str) -> tuple[bool | None, float | None]:
        on_dark, on_light = self._polarity.get((colour, True)), self._polarity.get((colour, False))
        weight = {True: on_dark[0] if on_dark else 0.0, False: on_light[0] if on_light else 0.0}
        if weight[True] == weight[False]:
            return None, None
        side = weight[True] > weight[False]
        conf, weighted = self._polarity[(colour, side)]
        return side, weighted / conf


def _number(x: object) -> TypeGuard[float]:
    """A number an extra may hold (a bool is none here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _one_left_out(short: str, long: str) -> bool:
    """Whether ``long`` is ``short`` with one character more, anywhere (``皖AD1166`` in ``皖AD11166``)."""
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _weigh_text(texts: dict[str, float], text: str, conf: float) -> None:
    """``texts[text] += conf``, at most ``PARTIAL_TEXTS_KEPT`` texts: past them a new text replaces the lightest and
    starts from its weight (space-saving: a text over 1/1,000 of the weight is never dropped, and one leading by
    more than the lightest kept is the one named). Before, a text first seen past them was never weighed: after
    1,000 different misreads, a plate then read 50 times was named after the first misread."""
    if text not in texts and len(texts) >= PARTIAL_TEXTS_KEPT:
        lightest = min(texts, key=texts.__getitem__)
        texts[text] = texts.pop(lightest)
    texts[text] += conf


def _tied(weight: float) -> float:
    """A character's weight as the vote compares it: sums equal but for their last bits (0.2 + 0.4 + 0.3 and 0.9,
    added in another order by a total than by a list) are a tie, which the reads' count and then the first seen
    break — not the order the floats were added in, which the totals cannot keep."""
    return round(weight, 9)


def _tally(table: dict[int, list[dict[str, list[float]]]], text: str, cc: tuple[float, ...]) -> None:
    """Adds one read's characters to ``table`` (length → position → character → [Σ confidence, reads])."""
    positions = table.setdefault(len(text), [{} for _ in text])
    for i, ch in enumerate(text):
        entry = positions[i].setdefault(ch, [0.0, 0.0])
        entry[0] += cc[i]
        entry[1] += 1


def _add(table: dict[K, list[float]], key: K, conf: float, value: float) -> None:
    """``table[key]`` += [conf, conf × value]."""
    entry = table.setdefault(key, [0.0, 0.0])
    entry[0] += conf
    entry[1] += conf * value
