"""Editors' phrases found in a caller's words, as typed or as the recogniser heard them over a
phone line: the matching rules shared by the safety net (bot/danger/match.py) and the brain's
concepts (actions/nlu/concepts.py).

Our own matcher rather than a fuzzy-search library: what "the same word" means here is
Vietnamese-specific (tone marks, the northern consonant merges of the line) and must be
predictable for editors, who add phrases, not weights. Rules, per word of a phrase:
- a word that carries diacritics matches when its sounds match: the same tone and vowel, with
  the merges a northern speaker or a phone line makes (l/n, tr/ch, s/x, d/gi/r; final n/ng/nh,
  t/c/ch) treated as one sound;
- in a sentence typed without diacritics, words match on their bare letters, without merges
  (typing has no line to blur it, and bare words are ambiguous enough: "co giao" is a teacher,
  not "có dao"); one-word phrases do not match there ("chay" is "chạy" as often as "cháy");
- a phrase of three words or more may have one word heard with the wrong tone;
- a phrase of two words or more may have one extra word in one place between its words ("nhà tôi
  cháy" is "nhà cháy"), but not together with a wrong tone, and not without diacritics (bare
  words are ambiguous enough: "do o tro" is not "giở trò").
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

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
    bare: str  # no diacritics at all ("trời" -> "troi")
    marked: bool  # carries any diacritic (or đ)


def _merge(letters: str) -> str:
    m = _INITIAL.match(letters)
    initial, rest = (m.group(1) or ""), m.group(2)
    initial = _INITIAL_MERGE.get(initial, initial)
    rest = _FINAL.sub(lambda f: _FINAL_MERGE.get(f.group(1), f.group(1)), rest) if rest else rest
    return initial + ("i" if rest == "y" else rest)  # "lý" = "lí", but "ay" is not "ai"


def syllable(word: str) -> Syllable:
    text = nfc(word).lower()
    decomposed = unicodedata.normalize("NFD", text)
    tone = next((_TONES[ch] for ch in decomposed if ch in _TONES), "ngang")
    toneless = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    bare = "".join(ch for ch in decomposed if ch not in _MARKS).replace("đ", "d")
    marked = bare != unicodedata.normalize("NFD", text)
    return Syllable(text, _merge(toneless), tone, bare, marked)


def syllables(text: str) -> list[Syllable]:
    return [syllable(w) for w in _WORD.findall(nfc(text))]


@dataclass(frozen=True)
class Phrase:
    text: str
    words: tuple[Syllable, ...]


def phrases_of(texts: Sequence[str]) -> tuple[Phrase, ...]:
    return tuple(Phrase(t, tuple(syllables(t))) for t in texts if syllables(t))


def _word_fit(said: Syllable, want: Syllable, bare_mode: bool) -> str | None:
    """'same' | 'tone' (only the tone differs) | None."""
    if bare_mode:
        return "same" if said.bare == want.bare else None
    # With diacritics around, a word without any ("gian", "lan") is a level-tone word: it merges
    # like the others ("giết thời dan" is the exception "giết thời gian").
    if said.sound != want.sound:
        return None
    return "same" if said.tone == want.tone else "tone"


def _spans(words: Sequence[Syllable], phrase: Phrase, bare_mode: bool, starts: Sequence[int]) -> tuple[int, int] | None:
    """The span [start, end) of the first place `phrase` is said, by the rules above, trying
    only the given start positions."""
    n = len(phrase.words)
    if bare_mode and n == 1 and phrase.words[0].marked:
        return None
    for start in starts:
        end = _match_from(words, start, phrase.words, bare_mode, tone_slips=1 if n >= 3 else 0,
                          gaps=1 if n >= 2 and not bare_mode else 0)
        if end is not None:
            return start, end
    return None


def _key(word: Syllable, bare_mode: bool) -> str:
    """Words that can fit each other share this key (the index's key; _word_fit decides)."""
    return word.bare if bare_mode else word.sound


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


class PhraseIndex:
    """Editors' phrases by the key of their first word, so a sentence is only tried against
    phrases that can start at one of its words (validation runs every example through them)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.phrases = phrases = phrases_of(texts)
        self._by_key: dict[tuple[bool, str], list[int]] = {}
        for n, phrase in enumerate(phrases):
            for bare_mode in (False, True):
                self._by_key.setdefault((bare_mode, _key(phrase.words[0], bare_mode)), []).append(n)

    def said(self, words: Sequence[Syllable], bare_mode: bool) -> list[tuple[Phrase, tuple[int, int]]]:
        """Every phrase said in `words` with its first span, in the editors' order."""
        starts: dict[int, list[int]] = {}
        for at, word in enumerate(words):
            for n in self._by_key.get((bare_mode, _key(word, bare_mode)), ()):
                starts.setdefault(n, []).append(at)
        found = []
        for n in sorted(starts):
            span = _spans(words, self.phrases[n], bare_mode, starts[n])
            if span is not None:
                found.append((self.phrases[n], span))
        return found

    def said_everywhere(self, words: Sequence[Syllable], bare_mode: bool) -> list[tuple[int, int]]:
        """Every span where one of the phrases is said (not only each phrase's first), in order."""
        found = set()
        for at, word in enumerate(words):
            for n in self._by_key.get((bare_mode, _key(word, bare_mode)), ()):
                span = _spans(words, self.phrases[n], bare_mode, (at,))
                if span is not None:
                    found.add(span)
        return sorted(found)

    def said_just_after(self, words: Sequence[Syllable], at: int, bare_mode: bool) -> bool:
        """One of the phrases is said word for word starting at words[at] (see said_just_before)."""
        return any(_match_from(words, at, p.words, bare_mode, 0, 0) is not None for p in self.phrases)

    def said_just_before(self, words: Sequence[Syllable], at: int, bare_mode: bool) -> bool:
        """One of the phrases is said word for word (no wrong tone, no extra word) right before
        words[at]. For short function words ("không", "chưa"), even typed without diacritics."""
        return any(_match_from(words, at - len(p.words), p.words, bare_mode, 0, 0) == at
                   for p in self.phrases if len(p.words) <= at)


def typed_bare(words: Sequence[Syllable]) -> bool:
    """The sentence was typed without diacritics (its words then match on their bare letters)."""
    return sum(w.marked for w in words) < _MARKED_SHARE * len(words)
