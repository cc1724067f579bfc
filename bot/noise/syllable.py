"""A Vietnamese syllable in the three parts a recogniser gets wrong separately: the initial
consonant, the rest (vowel and final), and the tone."""
from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from bot.text import nfc

TONE_MARKS = {"\u0300": "huyen", "\u0301": "sac", "\u0309": "hoi", "\u0303": "nga", "\u0323": "nang"}
MARK_OF = {name: mark for mark, name in TONE_MARKS.items()}
TONES = ("ngang", *TONE_MARKS.values())
# "gi" and "qu" count as initials ("gì" = gi + ì, "quê" = qu + ê), as Vietnamese spelling treats them.
_INITIAL = re.compile(r"^(ngh|ng|gh|gi|tr|ch|kh|nh|ph|th|qu|[bcdđghklmnpqrstvx])?(.*)$")


class Parts(NamedTuple):
    initial: str
    rhyme: str  # letters after the initial, without the tone
    tone: str

    def spell(self) -> str:
        """Back to a written syllable: the tone mark goes on the vowel Vietnamese spelling puts it on."""
        return nfc(self.initial + _place_tone(self.rhyme, self.tone))


def split(syllable: str) -> Parts:
    decomposed = unicodedata.normalize("NFD", nfc(syllable).lower())
    tone = next((TONE_MARKS[ch] for ch in decomposed if ch in TONE_MARKS), "ngang")
    toneless = nfc("".join(ch for ch in decomposed if ch not in TONE_MARKS))
    m = _INITIAL.match(toneless)
    initial, rhyme = (m.group(1) or ""), m.group(2)
    if initial == "gi" and not rhyme:  # "gì": g + ì
        initial, rhyme = "g", "i"
    return Parts(initial, rhyme, tone)


def _place_tone(rhyme: str, tone: str) -> str:
    if tone == "ngang" or not rhyme:
        return rhyme
    letters = list(unicodedata.normalize("NFD", rhyme))
    base = [i for i, ch in enumerate(letters) if not unicodedata.combining(ch)]
    vowels = [i for i in base if letters[i] in "aeiouy"]
    if not vowels:
        return rhyme
    # The mark goes on a vowel that carries a quality mark (ơ, ê, ă...), else on the second of
    # two vowels when a consonant follows, on the middle one of three, else on the first ("hòa", "khỏe", "thủy": the old
    # placement, which most callers' keyboards and the knowledge base use).
    marked = [i for i in vowels if i + 1 < len(letters) and letters[i + 1] in "\u0302\u0306\u031b"]
    if marked:
        at = marked[-1]
    elif len(vowels) > 2 or (len(vowels) > 1 and vowels[-1] != base[-1]):
        at = vowels[1]  # "loại", "toàn"
    else:
        at = vowels[0]
    end = at + 1
    while end < len(letters) and unicodedata.combining(letters[end]):
        end += 1
    letters.insert(end, MARK_OF[tone])
    return nfc("".join(letters))
