"""Plate text recognisers behind one small interface, with plate-vocabulary CTC decoding.

Why restrict the vocabulary: a general OCR model reads 领 as 锁, O as 0 and I as 1. Only the
characters a plate can hold compete in the CTC argmax, and then each decoded position picks
the best character its slot allows (position 1 province, 2 an issuing-authority letter —
``O`` is real there, e.g. 粤O — and the serial never holds I or O).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from edge_agent.plates import DIGITS, EMERGENCY, ENERGY_LETTERS, LETTERS, PLATE_VOCAB, PROVINCES, parse_plate

ISSUERS = LETTERS.replace("I", "")  # issuing authority: 'O' is real there (粤O), 'I' is not
SERIAL = LETTERS.replace("I", "").replace("O", "") + DIGITS  # serial: never I or O
SUFFIXES = "港澳学警领挂"  # only ever the last character
_NEV_ISSUERS = LETTERS.replace("I", "").replace("O", "")
NEV_MAX_CHANGES = 2  # an energy letter read as a digit, and one more confusion (Q/0, B/8) in the serial
#: The slots of the two 8-character (NEV) plates, GA 36-2018: small, then large.
NEV_SLOTS = ((PROVINCES, _NEV_ISSUERS, ENERGY_LETTERS, SERIAL, DIGITS, DIGITS, DIGITS, DIGITS),
             (PROVINCES, _NEV_ISSUERS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, ENERGY_LETTERS))
SPECIAL_LEADS = "使民"  # embassy 使123456, civil aviation 民航
#: An 8-character reading's first slot is taken for a misread province only when the recogniser
#: sees some province there: a letter it reads with every province below this is a letter. Measured
#: on plates-dev (clean and greyscale): NEV plates whose province was read as a letter (R, K, Q) kept
#: 0.0012–0.19 for their best province; the W of an armed-police WJ plate read with a character lost
#: (``W1693015``, ``WJ193015``) 0.000006–0.00006 — forced, it became ``川JJ93015``, an "NEV plate".
FORCED_PROVINCE_MIN = 3e-4

ReadResult = tuple[str, float, tuple[float, ...]]  # text, confidence, per-character confidences


class Read(tuple):
    """A ``ReadResult`` (it *is* the 3-tuple every stage unpacks) that also carries the province
    slot's ranking, best first: the province re-read and ``priority_provinces`` need a margin,
    not just a winner."""

    province_ranking: tuple[tuple[str, float], ...]
    # where each character was read: the centre of its best-path frames as a share of the crop's
    # width (``occlusion.covered`` looks for strokes there); () when unknown
    centres: tuple[float, ...]

    def __new__(cls, text: str, confidence: float, char_confidences: tuple[float, ...],  # noqa: PYI034
                province_ranking: tuple[tuple[str, float], ...] = (),
                split: Callable[[], ReadResult | None] | None = None, centres: tuple[float, ...] = ()) -> Read:
        self = super().__new__(cls, (text, confidence, char_confidences))
        self.province_ranking = province_ranking
        self.centres = centres if len(centres) == len(text) else ()
        self._split = split
        self._found: ReadResult | None = None
        return self

    def split(self) -> ReadResult | None:
        """The same frames read with one more repeated character (``CtcPlateDecoder.repeat``),
        when they back it; worked out on first use (only a green plate's 7-character read asks)."""
        if self._split is not None:
            self._found, self._split = self._split(), None
        return self._found


def province_ranking(read) -> tuple[tuple[str, float], ...]:
    """The province ranking of any recogniser's result (plain tuples have none)."""
    return getattr(read, "province_ranking", ())


def char_centres(read) -> tuple[float, ...]:
    """``Read.centres`` of any recogniser's result (plain tuples: none)."""
    return getattr(read, "centres", ())


def split_read(read) -> ReadResult | None:
    """``Read.split`` of any recogniser's result (plain tuples: None)."""
    return read.split() if isinstance(read, Read) else None


def ctc_logprob(probs: np.ndarray, labels: Sequence[int], blank: int = 0) -> float:
    """log P(labels | frames) under CTC: every alignment summed (the forward algorithm).
    ``probs`` [T, C] per-frame probabilities, ``labels`` column indices without blanks."""
    ext = np.full(2 * len(labels) + 1, blank)
    ext[1::2] = labels
    lp = np.log(np.maximum(probs[:, ext], 1e-30))
    skip = np.zeros(len(ext), bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])  # a blank may be skipped between different labels
    a = np.full(len(ext), -np.inf)
    a[:2] = lp[0, :2]
    for t in range(1, len(lp)):
        one = np.concatenate(([-np.inf], a[:-1]))
        two = np.where(skip, np.concatenate(([-np.inf, -np.inf], a[:-2])), -np.inf)
        a = np.logaddexp(np.logaddexp(a, one), two) + lp[t]
    return float(np.logaddexp(a[-1], a[-2])) if len(ext) > 1 else float(a[-1])


@runtime_checkable
class Recognizer(Protocol):
    """Reads rectified plate crops (BGR); one result per crop, in order."""

    def read(self, crops: Sequence[np.ndarray]) -> list[ReadResult]: ...


@dataclass(frozen=True)
class Segment:
    char: str
    probs: np.ndarray  # peak probability of every vocabulary character over the segment's frames
    frames: int = 1  # how many frames the best path gave it
    centre: float = 0.5  # the middle of those frames, as a share of the input's width


def _allowed(pos: int, n: int, lead: str, emergency: bool = False) -> str:
    """Characters plate slot ``pos`` of an ``n``-character reading may hold. ``emergency``: the
    frames show 应 or 急, so the last two slots may hold the emergency plate's suffix and the
    second one its team code (X, S) or, on the ministry's plates, a digit."""
    if emergency and pos >= 1:
        if pos >= n - 2:
            return SERIAL + EMERGENCY[pos - (n - 2)]
        return SERIAL
    if lead == "民":
        return "民航"[pos] if pos < 2 else SERIAL
    if lead == "使":
        return "使" if pos == 0 else DIGITS  # embassy: 3-digit mission code + 3-digit serial
    if pos == 0:
        return PROVINCES
    if pos == 1:
        return ISSUERS
    if pos == n - 1:
        return SERIAL + SUFFIXES
    return SERIAL


#: A repeat kept apart must be at least this likely, relative to the best path's merged read, for the
#: frames to back it. Measured: rendered plates whose best path merged a repeat (桂B00001 read
#: 桂B0001) 0.49; the most likely doubling of any correct read of plates-dev's 714 real crops 0.045.
REPEAT_EVIDENCE = 0.1
PLATE_LENGTHS = (7, 8)  # every GA 36 plate has 7 or 8 characters (WJ armed police: 9, outside GA 36)


class CtcPlateDecoder:
    """Greedy CTC over the plate vocabulary, then per-position format constraints."""

    def __init__(self, classes: Sequence[str], blank: int = 0, vocab: str = PLATE_VOCAB,
                 province_floor: float = 0.1, constrained: bool = True) -> None:
        index = {c: i for i, c in enumerate(classes) if c}
        missing = [c for c in vocab if c not in index]
        self.vocab = "".join(c for c in vocab if c in index)
        self.columns = np.array([blank] + [index[c] for c in self.vocab])
        self.missing = missing  # plate characters this model cannot emit (clp_dict: no 民航, I, O)
        self.province_floor = province_floor
        self.constrained = constrained
        self._pos = {c: i for i, c in enumerate(self.vocab)}

    def segments(self, probs: np.ndarray) -> list[Segment]:
        """``probs`` [T, C] softmax output → collapsed non-blank segments over the vocabulary."""
        return self._segments(self._restrict(probs))

    def _restrict(self, probs: np.ndarray) -> np.ndarray:
        """[T, C] → [T, 1 + len(vocab)]: blank, then the plate vocabulary, renormalised per frame."""
        p = probs[:, self.columns]
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-9)

    def _segments(self, p: np.ndarray) -> list[Segment]:
        best = p.argmax(axis=1)
        segs: list[Segment] = []
        t = 0
        while t < len(best):
            k = best[t]
            end = t
            while end + 1 < len(best) and best[end + 1] == k:
                end += 1
            if k != 0:
                segs.append(Segment(self.vocab[k - 1], p[t:end + 1, 1:].max(axis=0), end + 1 - t,
                                    (t + end + 1) / 2 / len(best)))
            t = end + 1
        return segs

    def decode(self, probs: np.ndarray) -> ReadResult:
        """Best path over the plate vocabulary, then the slot rules.

        CTC needs a blank between two runs of a repeated character; when the model's blank there
        is outvoted the best path merges them (``桂B00001`` reads ``桂B0001``, ``皖AD11111`` the valid
        civil ``皖AD1111``). GA 36 fixes the length per plate kind, so when the best path is no
        plate, the reading with one more repeat (``repeat``) replaces it if it is one; a valid
        7-character civil read carries it as ``Read.split`` for the pipeline, which knows the
        plate's colour (a green, dark-character plate has 8)."""
        p = self._restrict(probs)
        segs = self._segments(p)
        read = self._decode_segments(segs)
        if not self.constrained or not segs:
            return read
        info = parse_plate(read[0])
        if not read[0] or read[0][0] not in PROVINCES:
            return read  # a province not read is missing, not merged: the pipeline widens the crop left
        if not info.valid:
            again = self.repeat(p, segs)
            return again if again is not None and parse_plate(again[0]).valid else read
        if isinstance(read, Read) and len(info.text) == 7 and info.kind in ("small", "large"):
            read._split = lambda: self.repeat(p, segs)
        return read

    def repeat(self, p: np.ndarray, segs: list[Segment]) -> ReadResult | None:
        """The valid plate read with one character of the best path doubled that the frames
        back best (CTC probability ≥ ``REPEAT_EVIDENCE`` × the best path's), else None. Only a
        character whose run the best path merged can be two: a run of at least 3 frames (a
        character the crop lost is not a repeat: 皖A3997学 read 皖A3997, its 学 a blur of 3 / 7
        after the last 7, whose doubling scored 0.73). ``p``: restricted frames (``_restrict``)."""
        if len(segs) + 1 not in PLATE_LENGTHS:
            return None
        labels = [self._pos[s.char] + 1 for s in segs]
        floor = ctc_logprob(p, labels) + np.log(REPEAT_EVIDENCE)
        best: tuple[float, ReadResult] | None = None
        for j in range(len(segs)):
            if segs[j].frames < 3:
                continue  # two copies of a character inside one run need a blank between: 3 frames
            score = ctc_logprob(p, labels[:j + 1] + labels[j:])
            if score < floor or (best is not None and score <= best[0]):
                continue
            read = self._decode_segments([*segs[:j + 1], *segs[j:]])
            if parse_plate(read[0]).valid:
                best = (score, read)
        return best[1] if best is not None else None

    def _decode_segments(self, segs: list[Segment]) -> ReadResult:
        if not segs:
            return "", 0.0, ()
        if not self.constrained:
            confs = [float(s.probs[self._pos[s.char]]) for s in segs]
            return "".join(s.char for s in segs), float(np.prod(confs) ** (1 / len(confs))), tuple(confs)
        lead = segs[0].char if segs[0].char in SPECIAL_LEADS else ""
        if not lead and segs[0].char not in PROVINCES and not self._province_slot(segs):
            return self._plain(segs)
        chars, confs = [], []
        # 应 or 急 on the best path: the emergency plate (8 characters, no NEV serial), or what is
        # left of one — never bent into an NEV serial (a fire engine's 京X1234应急 read 京X12349A).
        # Nor is a reading that ends in a suffix no NEV plate carries (警学挂领港澳): a police plate
        # read with one serial character too many (京A12344警) became the large NEV 京A12344A
        emergency = not lead and any(s.char in EMERGENCY for s in segs)
        if len(segs) == 8 and not lead and not emergency and segs[-1].char not in SUFFIXES:
            chars, confs = self._nev(segs)
        for pos, seg in enumerate(segs[len(chars):], len(chars)):
            allowed = _allowed(pos, len(segs), lead, emergency)
            if pos == len(segs) - 1 == 6 and chars[:2] == ["粤", "Z"]:
                allowed = "港澳"  # 粤Z is the cross-border Hong Kong / Macau series only: 粤Z·F023港
            c, pr = self._best(seg, allowed)
            chars.append(c)
            confs.append(pr)
        ranking = self.ranking(segs[0], PROVINCES) if not lead else ()
        return Read("".join(chars), float(np.prod(confs) ** (1 / len(confs))), tuple(confs), ranking,
                    centres=tuple(s.centre for s in segs))

    def _nev(self, segs: list[Segment]) -> tuple[list[str], list[float]]:
        """An 8-character civil reading is an NEV plate (GA 36: every other civil plate has 7; the
        emergency plate's 8 end in 应急, and a reading ending in 警学挂领港澳 is not asked), so
        its slots follow one of the two NEV serials — small: the energy letter third, four digits
        last; large: five digits, the energy letter last — whichever its frames back better.
        A round energy letter read as a digit (皖AD12345 read 皖A012345, 浙A12345D read 浙A123450:
        the D kept 0.005–0.4 of its slot) is the letter, not an undecided non-plate; 沪A01230D read
        沪AQ12300 needs its Q a 0 as well (the large serial's 0.035 × 0.0054 beats the small one's
        D for Q, 0.00001). A serial that needs more than ``NEV_MAX_CHANGES`` characters changed
        to fit (after the province, which has its own rule) is no misread NEV plate: it is left to
        the ordinary slot rules — no plate, retried, reported incomplete."""
        plain = [self._best(seg, _allowed(pos, len(segs), ""))[0] for pos, seg in enumerate(segs)]
        best: tuple[float, list[str], list[float]] | None = None
        for slots in NEV_SLOTS:
            picks = [self._best(seg, allowed) for seg, allowed in zip(segs, slots)]
            if sum(c != was for (c, _), was in zip(picks[1:], plain[1:])) > NEV_MAX_CHANGES:
                continue
            score = float(np.sum(np.log(np.maximum([pr for _, pr in picks], 1e-30))))
            if best is None or score > best[0]:
                best = (score, [c for c, _ in picks], [pr for _, pr in picks])
        return (best[1], best[2]) if best is not None else ([], [])

    def read_slots(self, probs: np.ndarray, slots: Sequence[str]) -> tuple[Read, float] | None:
        """Exactly ``len(slots)`` characters, the i-th one of ``slots[i]`` — a row whose layout is
        known (a two-row plate's top row: province + letter; its bottom row: five serial
        characters). The best CTC alignment (Viterbi) of that many characters, each frame scored
        by its slot's best allowed character, then each slot's character is the allowed one with
        the highest peak over its frames. → ``(read, log-probability of the alignment)``, or None
        when the frames show another number of characters: the free reading (best path) must have
        as many, or one fewer where two neighbouring slots read the same character (a repeat the
        best path merged, ``66`` → ``6``). Forced into fewer slots, a row swallows characters: the
        single-row 粤ZJ541澳 stacked over a Macau plate, taken for a top row, read ``粤J``.
        ``probs`` [T, C] softmax output."""
        p = self._restrict(probs)
        n, t_max = len(slots), len(p)
        free = len(self._segments(p))
        if n == 0 or t_max < n or free not in (n, n - 1):
            return None
        cols = [np.array([self._pos[c] + 1 for c in allowed if c in self._pos]) for allowed in slots]
        if any(c.size == 0 for c in cols):
            return None
        lp = np.log(np.maximum(p, 1e-30))
        emit = np.empty((t_max, 2 * n + 1))
        emit[:, 0::2] = lp[:, :1]  # blank states
        for k, c in enumerate(cols):
            emit[:, 2 * k + 1] = lp[:, c].max(axis=1)
        states = 2 * n + 1
        score = np.full(states, -np.inf)
        score[:2] = emit[0, :2]
        back = np.zeros((t_max, states), np.int64)
        skip = np.zeros(states, bool)
        skip[3::2] = True  # slot k+1 may follow slot k without a blank (different slots)
        for t in range(1, t_max):
            stay, one = score, np.concatenate(([-np.inf], score[:-1]))
            two = np.where(skip, np.concatenate(([-np.inf, -np.inf], score[:-2])), -np.inf)
            cand = np.stack([stay, one, two])
            arg = cand.argmax(axis=0)
            back[t] = np.arange(states) - arg
            score = cand[arg, np.arange(states)] + emit[t]
        end = states - 1 if score[-1] >= score[-2] else states - 2
        best = float(score[end])
        if not np.isfinite(best):
            return None
        frames: list[list[int]] = [[] for _ in range(n)]
        s = end
        for t in range(t_max - 1, -1, -1):
            if s % 2:
                frames[s // 2].append(t)
            s = int(back[t, s]) if t else s
        chars, confs = [], []
        ranking: tuple[tuple[str, float], ...] = ()
        for k, allowed in enumerate(slots):
            seg = Segment("", p[frames[k], 1:].max(axis=0), len(frames[k]))
            c, pr = self._best(seg, allowed)
            chars.append(c)
            confs.append(pr)
            if k == 0 and allowed == PROVINCES:
                ranking = self.ranking(seg, PROVINCES)
        if free == n - 1 and all(a != b for a, b in zip(chars, chars[1:])):
            return None  # a character fewer, and no repeat to account for it
        read = Read("".join(chars), float(np.prod(confs) ** (1 / n)), tuple(confs), ranking)
        return read, best

    def ranking(self, seg: Segment, allowed: str, top: int = 3) -> tuple[tuple[str, float], ...]:
        """The ``top`` characters of ``allowed`` for one segment, best first."""
        cols = [self._pos[c] for c in allowed if c in self._pos]
        order = np.argsort(-seg.probs[cols])[:top]
        return tuple((self.vocab[cols[k]], float(seg.probs[cols[k]])) for k in order)

    def _province_slot(self, segs: list[Segment]) -> bool:
        """Is the first (non-province) character a misread province, or was the province dropped?

        7 starting with a digit fits no format: the first slot is the province however it reads.
        8 characters is an NEV plate: its first slot is the province unless the recogniser sees no
        province there at all (``FORCED_PROVINCE_MIN``: the W of a WJ armed-police plate that lost
        a character is a letter, not a province to force). Otherwise (6 characters: province
        dropped; letters first: military GA13189, armed police WJ…) only a plausible province
        there counts."""
        n, first = len(segs), segs[0].char
        if n in (7, 8) and first in DIGITS:
            return True
        best = self._best(segs[0], PROVINCES)[1]
        return best >= (FORCED_PROVINCE_MIN if n == 8 else self.province_floor)

    def _best(self, seg: Segment, allowed: str) -> tuple[str, float]:
        cols = [self._pos[c] for c in allowed if c in self._pos]
        j = cols[int(np.argmax(seg.probs[cols]))]
        return self.vocab[j], float(seg.probs[j])

    def _plain(self, segs: list[Segment]) -> ReadResult:
        """A reading without a province: only the serial rule (no I / O after two characters) applies. Its
        characters' centres are kept: the pitch places a gap in it, and where its dot is tells a military plate
        (``GA·13189``) from an NEV plate whose province was not read (``nev_shape.dot_after_two``)."""
        picks = [self._best(s, SERIAL + SUFFIXES + EMERGENCY) if i >= 2 else (s.char, float(s.probs[self._pos[s.char]]))
                 for i, s in enumerate(segs)]
        confs = [p for _, p in picks]
        return Read("".join(c for c, _ in picks), float(np.prod(confs) ** (1 / len(confs))), tuple(confs),
                    centres=tuple(s.centre for s in segs))


def _normalise(crops: Sequence[np.ndarray], height: int, width: int, pad_to: int | None = None) -> np.ndarray:
    """BGR crops → [N,3,H,W] in [-1,1]. ``pad_to``: keep the aspect and zero-pad to that width
    (how general PP-OCR feeds text lines: the naive benchmark baseline, or ``recognizer_options``)."""
    out_w = pad_to or width
    batch = np.zeros((len(crops), 3, height, out_w), np.float32)
    for i, c in enumerate(crops):
        w = width if pad_to is None else min(pad_to, max(1, round(c.shape[1] * height / c.shape[0])))
        if c.shape[:2] != (height, w):
            c = cv2.resize(c, (w, height), interpolation=cv2.INTER_LINEAR)
        batch[i, :, :, :w] = c.transpose(2, 0, 1) * (2 / 255.0) - 1.0
    return batch


class OnnxCtcRecognizer:
    """A CTC text model on onnxruntime: input [N,3,H,W] BGR in [-1,1], output [N,T,C] softmax."""

    def __init__(self, session, classes: Sequence[str], height: int, width: int,
                 vocab: str = PLATE_VOCAB, batch: int = 8, pad_to: int | None = None,
                 constrained: bool = True, first_placed: bool = True) -> None:
        self.session = session
        self.height, self.width, self.pad_to = height, width, pad_to
        # whether the first character's frames lie over it: clp_crnn emits it in its first frames whatever the plate
        # (plates-dev in infrared: all 601 reads 0.11–0.25 of a pitch from the crop's edge, ppocr_v4's median 0.6),
        # so a step measured from it is none (``nev_shape.issuer_skipped``)
        self.first_placed = first_placed
        self.decoder = CtcPlateDecoder(classes, vocab=vocab, constrained=constrained)
        self.batch = batch
        self._input = session.get_inputs()[0].name

    def logits(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return self.session.run(None, {self._input: _normalise(crops, self.height, self.width, self.pad_to)})[0]

    def read(self, crops: Sequence[np.ndarray]) -> list[ReadResult]:
        out: list[ReadResult] = []
        for i in range(0, len(crops), self.batch):
            probs = self.logits(crops[i:i + self.batch])
            out.extend(self.decoder.decode(p) for p in probs)
        if getattr(self, "pad_to", None) is not None:  # the frames span the padded width, not the crop's
            for r in out:
                if isinstance(r, Read):
                    r.centres = ()
        return out

    def read_slots(self, crop: np.ndarray, layouts: Sequence[Sequence[str]],
                   padded: bool = False) -> list[tuple[Read, float] | None]:
        """One crop read once, decoded as each layout of slots (``CtcPlateDecoder.read_slots``);
        ``padded``: at its own aspect, as ``read_padded`` (a short row of two or three characters)."""
        batch = _normalise([crop], self.height, self.width, self.width if padded else self.pad_to)
        probs = self.session.run(None, {self._input: batch})[0][0]
        return [self.decoder.read_slots(probs, slots) for slots in layouts]

    def read_padded(self, crops: Sequence[np.ndarray]) -> list[ReadResult]:
        """Read short crops (a few characters) at their own aspect, padded to the input width,
        as PP-OCR feeds text lines — stretching two characters to a plate's width would not read."""
        probs = self.session.run(None, {self._input: _normalise(crops, self.height, self.width, self.width)})[0]
        return [self.decoder.decode(p) for p in probs]


def ppocr_classes(session) -> list[str]:
    """PP-OCR stores its dictionary in the ONNX metadata: classes = blank + dict + space."""
    chars = session.get_modelmeta().custom_metadata_map["character"].splitlines()
    return ["", *chars, " "]


# --- backend registry -----------------------------------------------------------------------

RecognizerFactory = Callable[..., Recognizer]
_REGISTRY: dict[str, RecognizerFactory] = {}


def register_recognizer(key: str, factory: RecognizerFactory) -> None:
    """``factory(models_dir: Path, sessions: SessionFactory, **options) -> Recognizer``."""
    _REGISTRY[key] = factory


def create_recognizer(key: str, models_dir: Path, sessions, **options) -> Recognizer:
    if key not in _REGISTRY and key == "paddleocr":
        import edge_agent.perception.paddle_backend  # noqa: F401  (registers itself; needs the extra)
    try:
        factory = _REGISTRY[key]
    except KeyError:
        raise ValueError(f"unknown recogniser {key!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    return factory(Path(models_dir), sessions, **options)


def recognizer_keys() -> list[str]:
    return sorted(_REGISTRY)


def _ppocr_v4(models_dir: Path, sessions, width: int = 168, pad_to: int | None = None,
              vocab: str = PLATE_VOCAB) -> OnnxCtcRecognizer:
    s = sessions.get(models_dir / "ch_PP-OCRv4_rec_infer.onnx")
    return OnnxCtcRecognizer(s, ppocr_classes(s), 48, width, vocab=vocab, pad_to=pad_to)


def ppocr_v4_naive(models_dir: Path, sessions) -> OnnxCtcRecognizer:
    """PP-OCRv4 as a general OCR uses it: padded to width 320, whole 6,623-character dictionary,
    no plate rules — the benchmark's baseline."""
    s = sessions.get(models_dir / "ch_PP-OCRv4_rec_infer.onnx")
    classes = ppocr_classes(s)
    return OnnxCtcRecognizer(s, classes, 48, 168, vocab="".join(dict.fromkeys(c for c in classes if c)),
                             pad_to=320, constrained=False)


def _clp_crnn(models_dir: Path, sessions, width: int = 112, vocab: str = PLATE_VOCAB) -> OnnxCtcRecognizer:
    s = sessions.get(models_dir / "clp_v2_c_rec.onnx")
    chars = (models_dir / "clp_dict.txt").read_text(encoding="utf-8").splitlines()
    return OnnxCtcRecognizer(s, ["", *chars], 32, width, vocab=vocab, first_placed=False)


register_recognizer("ppocr_v4", _ppocr_v4)
register_recognizer("clp_crnn", _clp_crnn)
