"""Vietnamese text helpers shared by the content build, the brain client and the benchmarks."""
from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def strip_diacritics(text: str) -> str:
    """'Lao động tự do' -> 'Lao dong tu do' (what a caller types without Vietnamese input)."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", bare.replace("đ", "d").replace("Đ", "D"))


def normalise_utterance(text: str) -> str:
    """NFC, single spaces, trimmed; what the brain sees of a caller's sentence."""
    return _SPACES.sub(" ", nfc(text)).strip()


def comparable(text: str) -> str:
    """A key for 'is this the same example?': lowercase, no punctuation, single spaces."""
    lowered = nfc(text).lower()
    return _SPACES.sub(" ", re.sub(r"[^\w\s]", " ", lowered)).strip()


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def syllables(sentence: str) -> int:
    """Vietnamese writes one syllable per space-separated word."""
    return len(re.findall(r"\w+", sentence))


# What a listener says to show they are listening, not to speak: "dạ", "vâng ạ", "ừ". Compared
# without diacritics, as the recogniser may hear the tone wrong ("da", "dà").
_BACKCHANNELS = frozenset({"da", "vang", "u", "o", "a", "um", "uh", "ok", "oke", "da vang", "vang a", "da da",
                           "vang vang", "u u", "the a", "vay a", "a vang", "da a", "vang da"})


def is_backchannel(text: str) -> bool:
    """'Dạ', 'vâng ạ', 'ừ' and the like, and nothing else."""
    return comparable(strip_diacritics(text)) in _BACKCHANNELS
