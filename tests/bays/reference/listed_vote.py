"""The plate vote as it was before it kept running totals (edge_agent 0.15.0, ``bays/consensus.py``): every read
kept, the vote redone over all of them. Only ``tests/bays/test_vote_totals.py`` uses it, to show the totals decide
as the reads did."""
# ruff: noqa

from __future__ import annotations

from collections import defaultdict

from edge_agent.bays.consensus import Consensus
from edge_agent.perception.types import PlateRead
from edge_agent.perception.verdict import Verdict
from edge_agent.plates import normalise_plate


class ListedVote:
    """Accumulates the reads of one visit; ``result()`` is cheap enough to call every frame."""

    def __init__(self, min_confidence: float = 0.3, longer_reads: int = 3) -> None:
        self.min_confidence = min_confidence
        self.longer_reads = longer_reads  # 0.28: complete reads one character longer that contain the text win
        self._reads: list[tuple[str, tuple[float, ...], float, str]] = []
        self._partial: list[tuple[str, tuple[float, ...], float, str]] = []
        self._polarity: list[tuple[str, float, bool, float]] = []  # complete reads: colour, conf, dark, strength
        self._red: list[tuple[str, float, float]] = []  # complete reads: colour, conf, red_end
        self._hue: list[tuple[str, float, float, float]] = []  # complete reads: colour, conf, blue, green (review81)
        self._ink: list[tuple[int, float, bool]] = []  # complete reads: length, conf, dark (review81)
        # partial reads: the frame's verdict, its reason and type code (None: undecided, or a list's)
        self._partial_nev: list[tuple[bool | None, str, str]] = []
        self._covered: list[bool] = []  # partial reads: whether one named a covered place (same order as _partial)
        # the last result, until a read is added: the machine asks at every frame while a visit is undecided, and
        # the vote is O(reads) — an undecided car parked for hours, read every few seconds, holds thousands
        self._result: Consensus | None = None
        self._fresh = False
        self._partial_result: dict[int, tuple[Consensus, Verdict] | None] = {}  # partial_class's, until a read

    def __len__(self) -> int:
        return len(self._reads)

    def add(self, read: PlateRead) -> bool:
        """Count ``read`` if it says something; returns whether it was counted."""
        text = normalise_plate(read.text)
        if not text or read.confidence < self.min_confidence:
            return False
        cc = tuple(read.char_confidences)
        partial = not getattr(read, "complete", True) or "?" in text
        if partial:
            cc = tuple(0.0 if ch == "?" else read.confidence for ch in text)
        elif len(cc) != len(text):  # recogniser gave no per-character scores: spread the plate's
            cc = (read.confidence,) * len(text)
        (self._partial if partial else self._reads).append((text, cc, read.confidence, read.colour or "unknown"))
        if partial:  # a list verdict on a partial read came from a text the plate does not show (a covered
            # character read as another): it says nothing of the class
            reason = str(getattr(read, "nev_reason", "") or "unread")
            nev = None if reason.endswith("_list") else getattr(read, "nev", None)
            self._partial_nev.append((nev, reason, str(getattr(read, "type_code", "99"))))
            self._covered.append(bool(read.extra.get("covered")))
        self._fresh = False
        self._partial_result.clear()
        dark, strength = read.extra.get("dark_chars"), read.extra.get("polarity")
        if not partial and isinstance(dark, bool) and isinstance(strength, (int, float)):
            self._polarity.append((read.colour or "unknown", read.confidence, dark, float(strength)))
            if float(strength) >= 0.05:  # colour_rules.POLARITY_MIN
                self._ink.append((len(text), read.confidence, dark))
        red = read.extra.get("red_end")
        if not partial and isinstance(red, (int, float)) and not isinstance(red, bool):
            self._red.append((read.colour or "unknown", read.confidence, float(red)))
        blue, green = read.extra.get("hue_blue"), read.extra.get("hue_green")
        if not partial and all(isinstance(h, (int, float)) and not isinstance(h, bool) for h in (blue, green)):
            self._hue.append((read.colour or "unknown", read.confidence, float(blue), float(green)))
        return True

    def result(self) -> Consensus | None:
        if not self._fresh:
            self._result, self._fresh = self._count(), True
        return self._result

    def _count(self) -> Consensus | None:
        if not self._reads:
            return None
        by_len: dict[int, float] = defaultdict(float)
        for text, _, conf, _ in self._reads:
            by_len[len(text)] += conf
        n = max(by_len, key=lambda k: (by_len[k], k))
        text, score = self._voted(n)
        if sum(1 for r in self._reads if len(r[0]) == n + 1) >= self.longer_reads and self._whole(n):
            longer, longer_score = self._voted(n + 1)
            if any(longer[:i] + longer[i + 1:] == text for i in range(len(longer))):
                n, text, score = n + 1, longer, longer_score
        group = [r for r in self._reads if len(r[0]) == n]
        colours: dict[str, float] = defaultdict(float)
        for _, _, conf, colour in self._reads:
            if colour != "unknown":
                colours[colour] += conf
        if colours:
            colour = max(colours, key=colours.__getitem__)
            share = colours[colour] / sum(colours.values())
        else:
            colour, share = "unknown", 0.0
        dark, strength = self._measured_polarity(colour)
        red = [(conf, r) for c, conf, r in self._red if c == colour]
        red_end = sum(conf * r for conf, r in red) / sum(conf for conf, _ in red) if red else None
        hue_reads = [(conf, b, g) for c, conf, b, g in self._hue if c == colour]
        total = sum(conf for conf, _, _ in hue_reads)
        hue = (sum(conf * b for conf, b, _ in hue_reads) / total, sum(conf * g for conf, _, g in hue_reads) / total) \
            if hue_reads else None
        uncounted = sum(1 for (t, _, _, c), hid in zip(self._partial, self._covered) if c == "unknown" and (len(t) > n or hid))
        return Consensus(text, score / n, colour, share, len(group), len(self._reads) + len(self._partial),
                         dark, strength, red_end, uncounted, hue)

    def _whole(self, n: int) -> bool:  # review81: no longer text on a hue or an ink GA 36 gives no 8-character plate
        colours: dict[str, float] = defaultdict(float)
        for t, _, conf, colour in self._reads:
            if len(t) == n + 1 and colour != "unknown":
                colours[colour] += conf
        if colours and max(colours, key=colours.__getitem__) not in ("green", "yellow_green", "white"):
            return False
        ink: dict[tuple[int, bool], float] = defaultdict(float)
        for length, conf, dark in self._ink:
            ink[(length, dark)] += conf
        return ink[(n, False)] < ink[(n, True)] and ink[(n + 1, False)] <= ink[(n + 1, True)]

    def _voted(self, n: int) -> tuple[str, float]:
        group = [r for r in self._reads if len(r[0]) == n]
        support = [r for r in self._partial if len(r[0]) == n]
        chars, score = [], 0.0
        for i in range(n):
            votes: dict[str, list[float]] = defaultdict(list)
            for text, cc, _, _ in group:
                votes[text[i]].append(cc[i])
            for text, cc, _, _ in support:
                if text[i] in votes:  # a partial read backs a character a complete read saw
                    votes[text[i]].append(cc[i])
            total = sum(sum(v) for v in votes.values()) or 1.0
            ch, ws = max(votes.items(), key=lambda kv: (sum(kv[1]), len(kv[1])))
            chars.append(ch)
            score += (sum(ws) / total) * (sum(ws) / len(ws))
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
        if len(self._partial) < n:
            return None
        texts: dict[str, float] = defaultdict(float)
        colours: dict[str, float] = defaultdict(float)
        for text, _, conf, colour in self._partial:
            texts[text] += conf
            if colour != "unknown":
                colours[colour] += conf
        text = max(texts, key=lambda t: (texts[t], -t.count("?")))
        colour = max(colours, key=colours.__getitem__) if colours else "unknown"
        share = colours[colour] / sum(colours.values()) if colours else 0.0
        yes = [(r, t) for v, r, t in self._partial_nev if v is True]
        no = [(r, t) for v, r, t in self._partial_nev if v is False]
        nev = True if len(yes) >= n and not no else False if len(no) >= n and not yes else None
        agreeing = yes if nev else no if nev is False else []
        reason, type_code = max(set(agreeing), key=lambda a: (agreeing.count(a), a)) if agreeing else ("conflict", "99")
        confidence = sum(conf for _, _, conf, _ in self._partial) / len(self._partial)
        return (Consensus(text, confidence, colour, share, len(agreeing), len(self._partial)),
                Verdict(nev, reason, type_code))

    def _measured_polarity(self, colour: str) -> tuple[bool | None, float | None]:
        weight = {True: 0.0, False: 0.0}
        for c, conf, dark, _ in self._polarity:
            if c == colour:
                weight[dark] += conf
        if weight[True] == weight[False]:
            return None, None
        side = weight[True] > weight[False]
        on = [(conf, s) for c, conf, dark, s in self._polarity if c == colour and dark is side]
        return side, sum(conf * s for conf, s in on) / sum(conf for conf, _ in on)
