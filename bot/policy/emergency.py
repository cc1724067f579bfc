"""Spot emergency words in a transcript, so the call goes to 115 without waiting for the brain.

A caller word matches a keyword word when they are equal, or when the caller's word carries no
diacritics and equals the keyword without them ("kho tho" = "khó thở"). A word that does carry
diacritics must match exactly, so "cuộc gọi bị ngắt" (cut off) is not "ngất" (fainted).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.text import nfc, strip_diacritics

EMERGENCY_PHRASES: tuple[str, ...] = (
    "cấp cứu", "khó thở", "cứu với", "cứu tôi", "ngất", "bất tỉnh", "co giật", "ngừng thở",
    "một một năm", "115",
)

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(nfc(text).lower())


class EmergencyDetector:
    def __init__(self, phrases: Iterable[str] = EMERGENCY_PHRASES) -> None:
        self._phrases: list[tuple[list[str], list[str]]] = []
        for phrase in phrases:
            words = _words(phrase)
            if words:
                self._phrases.append((words, [strip_diacritics(w) for w in words]))

    def find(self, text: str) -> str | None:
        """The first emergency phrase in `text` (as configured), or None."""
        said = _words(text)
        bare = [strip_diacritics(w) for w in said]
        for words, plain in self._phrases:
            n = len(words)
            for i in range(len(said) - n + 1):
                if all(_same(said[i + k], bare[i + k], words[k], plain[k]) for k in range(n)):
                    return " ".join(words)
        return None


def _same(word: str, word_bare: str, keyword: str, keyword_bare: str) -> bool:
    return word == keyword or (word == word_bare and word_bare == keyword_bare)


def contains_emergency(text: str, phrases: Sequence[str] = EMERGENCY_PHRASES) -> bool:
    return EmergencyDetector(phrases).find(text) is not None
