"""Find danger in a caller's words, as typed or as the recogniser heard them over a phone line.

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
A match that overlaps one of the kind's exceptions does not count; a weak phrase does not count in a
sentence that asks about support ("tiền cấp cứu có được hỗ trợ không"), and a strong one there is
marked `asking`: the caller is asked whether they are in danger rather than put through at once.
"""
from __future__ import annotations

import re
import unicodedata
import weakref
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
class DangerMatch:
    kind: DangerKind
    phrase: str  # the editors' phrase that matched
    heard: str  # the caller's words it matched
    weak: bool
    # The sentence also asks about support or tells of the past ("bị ngộ độc tháng trước, bảo
    # hiểm có trả không"): maybe someone telling of danger, not in it. Asked, not put through.
    asking: bool = False


@dataclass(frozen=True)
class _Phrase:
    text: str
    words: tuple[Syllable, ...]


def _phrases(texts: Sequence[str]) -> tuple[_Phrase, ...]:
    return tuple(_Phrase(t, tuple(syllables(t))) for t in texts if syllables(t))


def _word_fit(said: Syllable, want: Syllable, bare_mode: bool) -> str | None:
    """'same' | 'tone' (only the tone differs) | None."""
    if bare_mode:
        return "same" if said.bare == want.bare else None
    # With diacritics around, a word without any ("gian", "lan") is a level-tone word: it merges
    # like the others ("giết thời dan" is the exception "giết thời gian").
    if said.sound != want.sound:
        return None
    return "same" if said.tone == want.tone else "tone"


def _spans(words: Sequence[Syllable], phrase: _Phrase, bare_mode: bool, starts: Sequence[int]) -> tuple[int, int] | None:
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


class _Index:
    """Phrases by the key of their first word, so a sentence is only tried against phrases
    that can start at one of its words (validation runs every example through the net)."""

    def __init__(self, phrases: Sequence[_Phrase]) -> None:
        self.phrases = phrases
        self._by_key: dict[tuple[bool, str], list[int]] = {}
        for n, phrase in enumerate(phrases):
            for bare_mode in (False, True):
                self._by_key.setdefault((bare_mode, _key(phrase.words[0], bare_mode)), []).append(n)

    def said(self, words: Sequence[Syllable], bare_mode: bool) -> list[tuple[_Phrase, tuple[int, int]]]:
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


class DangerMatcher:
    @classmethod
    def shared(cls, net: DangerNet) -> DangerMatcher:
        """One matcher per loaded net, shared by every call: building one costs ~20 ms of CPU,
        which ten calls starting together paid on the event loop (frames 0.2 s late, measured)."""
        matcher = _SHARED.get(net)
        if matcher is None:
            matcher = _SHARED[net] = cls(net)
        return matcher

    def __init__(self, net: DangerNet) -> None:
        self.net = net
        self._asking = _Index(_phrases(net.asking))
        self._kinds = [(k, _Index(_phrases(k.phrases)), _Index(_phrases(k.weak_phrases)),
                        _Index(_phrases(k.exceptions))) for k in net.kinds]

    def find(self, text: str) -> DangerMatch | None:
        """The first kind of danger (in the editors' order) the caller's words show, or None."""
        words = syllables(text)
        if not words:
            return None
        bare_mode = sum(w.marked for w in words) < _MARKED_SHARE * len(words)
        asking: bool | None = None  # computed only when a phrase matches
        for kind, strong, weak, exceptions in self._kinds:
            excepted: list[tuple[int, int]] | None = None  # computed only when a phrase is said
            for index, is_weak in ((strong, False), (weak, True)):
                for phrase, (a, b) in index.said(words, bare_mode):
                    if excepted is None:
                        excepted = [span for _, span in exceptions.said(words, bare_mode)]
                    if any(a < end and start < b for start, end in excepted):
                        continue
                    if asking is None:
                        asking = bool(self._asking.said(words, bare_mode))
                    if is_weak and asking:
                        break
                    return DangerMatch(kind, phrase.text, " ".join(w.text for w in words[a:b]), is_weak, asking)
        return None


# Keyed by the net object itself (weakly): a reloaded danger.yml is a new net and gets its own.
_SHARED: weakref.WeakKeyDictionary[DangerNet, DangerMatcher] = weakref.WeakKeyDictionary()
