"""Find danger in a caller's words, as typed or as the recogniser heard them over a phone line.

Our own matcher rather than a fuzzy-search library: what "the same word" means here is
Vietnamese-specific (tone marks, the northern consonant merges of the line) and must be
predictable for editors, who add phrases, not weights. Rules, per word of a phrase:
- a word that carries diacritics matches when its sounds match: the same tone and vowel, with
  the merges a northern speaker or a phone line makes (l/n, tr/ch, s/x, d/gi/r; final n/ng/nh,
  t/c/ch) treated as one sound;
- in a sentence typed without diacritics, words match on their bare letters (with the same
  merges); one-word phrases do not match there ("chay" is "chạy" as often as "cháy");
- a phrase of three words or more may have one word heard with the wrong tone;
- a phrase of two words or more may have one extra word in one place between its words ("nhà tôi
  cháy" is "nhà cháy"), but not together with a wrong tone.
A match that overlaps one of the kind's exceptions does not count; a weak phrase does not count in a
sentence that asks about support ("tiền cấp cứu có được hỗ trợ không").
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.danger.model import DangerKind, DangerNet
from bot.text import nfc

_TONES = {"\u0300": "huyền", "\u0301": "sắc", "\u0309": "hỏi", "\u0303": "ngã", "\u0323": "nặng"}
_MARKS = set(_TONES) | {"\u0302", "\u0306", "\u031b"}  # tones + circumflex, breve, horn
_WORD = re.compile(r"\w+")
_INITIAL = re.compile(r"^(ngh|ng|gh|gi|tr|ch|kh|nh|ph|th|qu|[bcdđghklmnpqrstvx])?(.*)$")
_INITIAL_MERGE = {"tr": "ch", "s": "x", "gi": "d", "r": "d", "l": "n", "ngh": "ng", "gh": "g", "k": "c"}
_FINAL = re.compile(r"(ng|nh|ch|c|t|n)$")
_FINAL_MERGE = {"ng": "n", "nh": "n", "ch": "t", "c": "t"}
# Below this share of words with diacritics, a sentence was typed without them.
_MARKED_SHARE = 0.25


@dataclass(frozen=True)
class Syllable:
    text: str  # lowercase NFC
    sound: str  # letters without the tone, consonant merges applied ("trời" -> "chơi")
    tone: str
    bare: str  # no diacritics at all, merges applied ("trời" -> "choi")
    marked: bool  # carries any diacritic (or đ)


def _merge(letters: str) -> str:
    m = _INITIAL.match(letters)
    initial, rest = (m.group(1) or ""), m.group(2)
    initial = _INITIAL_MERGE.get(initial, initial)
    rest = _FINAL.sub(lambda f: _FINAL_MERGE.get(f.group(1), f.group(1)), rest) if rest else rest
    return initial + rest.replace("y", "i")


def syllable(word: str) -> Syllable:
    text = nfc(word).lower()
    decomposed = unicodedata.normalize("NFD", text)
    tone = next((_TONES[ch] for ch in decomposed if ch in _TONES), "ngang")
    toneless = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    bare = "".join(ch for ch in decomposed if ch not in _MARKS).replace("đ", "d")
    marked = bare != unicodedata.normalize("NFD", text)
    return Syllable(text, _merge(toneless), tone, _merge(bare), marked)


def syllables(text: str) -> list[Syllable]:
    return [syllable(w) for w in _WORD.findall(nfc(text))]


@dataclass(frozen=True)
class DangerMatch:
    kind: DangerKind
    phrase: str  # the editors' phrase that matched
    heard: str  # the caller's words it matched
    weak: bool


@dataclass(frozen=True)
class _Phrase:
    text: str
    words: tuple[Syllable, ...]


def _phrases(texts: Sequence[str]) -> tuple[_Phrase, ...]:
    return tuple(_Phrase(t, tuple(syllables(t))) for t in texts if syllables(t))


def _word_fit(said: Syllable, want: Syllable, bare_mode: bool) -> str | None:
    """'same' | 'tone' (only the tone differs) | None."""
    if bare_mode or not said.marked and not want.marked:
        return "same" if said.bare == want.bare else None
    if said.sound != want.sound:
        return None
    return "same" if said.tone == want.tone else "tone"


def _find(words: Sequence[Syllable], phrase: _Phrase, bare_mode: bool) -> tuple[int, int] | None:
    """The span [start, end) of the first place `phrase` is said, by the rules above."""
    n = len(phrase.words)
    if bare_mode and n == 1 and phrase.words[0].marked:
        return None
    for start in range(len(words)):
        end = _match_from(words, start, phrase.words, bare_mode, tone_slips=1 if n >= 3 else 0,
                          gaps=1 if n >= 2 else 0)
        if end is not None:
            return start, end
    return None


def _match_from(words: Sequence[Syllable], i: int, want: Sequence[Syllable], bare_mode: bool,
                tone_slips: int, gaps: int) -> int | None:
    """Match `want` starting exactly at words[i]; the end index, or None. A wrong tone and a
    gap are never both spent on one match."""
    if not want:
        return i
    if i >= len(words):
        return None
    fit = _word_fit(words[i], want[0], bare_mode)
    if fit == "same" or (fit == "tone" and tone_slips > 0):
        used_slip = fit == "tone"
        end = _match_from(words, i + 1, want[1:], bare_mode, tone_slips - used_slip, 0 if used_slip else gaps)
        if end is not None:
            return end
        # one extra word between this phrase word and the next
        if gaps > 0 and len(want) > 1 and not used_slip:
            end = _match_from(words, i + 2, want[1:], bare_mode, 0, 0)
            if end is not None:
                return end
    return None


class DangerMatcher:
    def __init__(self, net: DangerNet) -> None:
        self.net = net
        self._asking = _phrases(net.asking)
        self._kinds = [(k, _phrases(k.phrases), _phrases(k.weak_phrases), _phrases(k.exceptions))
                       for k in net.kinds]

    def find(self, text: str) -> DangerMatch | None:
        """The first kind of danger (in the editors' order) the caller's words show, or None."""
        words = syllables(text)
        if not words:
            return None
        bare_mode = sum(w.marked for w in words) < _MARKED_SHARE * len(words)
        asking: bool | None = None  # computed only when a weak phrase matches
        for kind, strong, weak, exceptions in self._kinds:
            excepted = [span for p in exceptions if (span := _find(words, p, bare_mode))]
            for phrase, is_weak in [*((p, False) for p in strong), *((p, True) for p in weak)]:
                span = _find(words, phrase, bare_mode)
                if span is None or any(span[0] < b and a < span[1] for a, b in excepted):
                    continue
                if is_weak:
                    if asking is None:
                        asking = any(_find(words, p, bare_mode) for p in self._asking)
                    if asking:
                        continue
                heard = " ".join(w.text for w in words[span[0]:span[1]])
                return DangerMatch(kind, phrase.text, heard, is_weak)
        return None
