"""Does the take say the sentence? The recogniser hears it as a caller would and we compare words.

The take goes through the same round trip as every sentence in `bot prompts --check` and the
voice benchmark (bot/tts/roundtrip.py: an 8 kHz G.711 µ-law line, then the configured recogniser),
so the CER the studio shows is the same measure as theirs.

The recogniser itself misreads natural speech (about 5 % of characters on clean read speech,
more on some voices: measured on ../shared/speech), so "any difference" would flag most good
takes. A take is flagged when the difference is of the kind an editor's mistake makes:
  - a number word differs, is missing or is extra (amounts, dates, branch and phone numbers);
  - three or more words in a row are missing or extra (a skipped or added clause);
  - overall the transcript is far off (character error rate above `MAX_CER`).
Differences that only change a tone or a southern/northern merge of one syllable are shown but
do not flag the take on their own.
"""
from __future__ import annotations

import difflib
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.asr.base import AsrEngine
from bot.asr.metrics import normalise
from bot.tts.roundtrip import round_trip, text_cer

MAX_CER = 0.25   # measured: good read takes reach 0.16-0.28 only on a few voices; wrong takes are far above
RUN = 3          # this many words in a row missing or extra: a clause
# Spoken numbers (the knowledge base writes them as words, for the voice). 'không' is also "not":
# a dropped negation is as serious as a wrong digit.
NUMBER_WORDS = frozenset((
    "không", "một", "mốt", "hai", "ba", "bốn", "tư", "năm", "lăm", "sáu", "bảy", "bẩy", "tám", "chín",
    "mười", "mươi", "linh", "lẻ", "trăm", "nghìn", "ngàn", "triệu", "tỷ", "tỉ", "nửa", "rưỡi"))


def _toneless(word: str) -> str:
    """The word without tone marks or other diacritics (đ kept apart): 'mười' and 'mươi' -> 'muoi'."""
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _is_number(word: str) -> bool:
    return word in NUMBER_WORDS or any(c.isdigit() for c in word)


@dataclass(frozen=True)
class Difference:
    kind: str          # "wrong" (said differently) | "missing" (not heard) | "extra" (heard, not in the text)
    expected: str      # the sentence's words here ('' for extra)
    heard: str         # what the recogniser heard here ('' for missing)
    serious: bool      # a reason to flag the take


@dataclass(frozen=True)
class WordCheck:
    text: str
    heard: str
    cer: float
    differences: tuple[Difference, ...]
    ok: bool           # no serious difference and the CER within MAX_CER
    reason: str        # why not ok, for the editor ('' when ok)


def compare(text: str, heard: str) -> WordCheck:
    """The word check itself (pure): `text` is what the take should say, `heard` the transcript."""
    ref, hyp = normalise(text), normalise(heard)
    if not ref:
        raise ValueError("the sentence has no words")
    cer = text_cer(text, heard)
    want, got = ref.split(), hyp.split()
    differences: list[Difference] = []
    matcher = difflib.SequenceMatcher(a=want, b=got, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        exp, hrd = want[i1:i2], got[j1:j2]
        kind = {"replace": "wrong", "delete": "missing", "insert": "extra"}[op]
        numbers_differ = (sorted(map(_toneless, filter(_is_number, exp)))
                          != sorted(map(_toneless, filter(_is_number, hrd))))
        serious = numbers_differ or (kind != "wrong" and max(len(exp), len(hrd)) >= RUN) \
            or (kind == "wrong" and abs(len(exp) - len(hrd)) >= RUN)
        differences.append(Difference(kind, " ".join(exp), " ".join(hrd), serious))
    reasons = []
    if any(d.serious and any(map(_is_number, (d.expected + " " + d.heard).split())) for d in differences):
        reasons.append("số không khớp")
    if any(d.serious and not any(map(_is_number, (d.expected + " " + d.heard).split())) for d in differences):
        reasons.append("thiếu hoặc thừa một đoạn")
    if cer > MAX_CER:
        reasons.append(f"máy nghe khác câu gốc {cer:.0%} số ký tự")
    return WordCheck(text, heard, cer, tuple(differences), not reasons, "; ".join(reasons))


class PhoneTranscriber:
    """The studio's own recogniser (engines are not thread-safe, and the calls' workers own
    theirs), loaded on first use, used by one check at a time from a worker thread."""

    def __init__(self, make: Callable[[], AsrEngine]) -> None:
        self._make = make
        self._asr: AsrEngine | None = None
        self._lock = threading.Lock()

    def check(self, text: str, pcm: np.ndarray, rate: int) -> WordCheck:
        """Does `pcm` (int16 at `rate`) say `text`, heard over a phone line? (blocking: ~0.3 s per
        second of audio, plus ~1.5 s to load the recogniser the first time)."""
        with self._lock:
            if self._asr is None:
                self._asr = self._make()
            trip = round_trip(pcm, rate, text, self._asr)
        return compare(text, trip.heard)

    def close(self) -> None:
        with self._lock:
            if self._asr is not None:
                self._asr.close()
                self._asr = None
