"""A text noise channel: what a northern caller's words look like after a phone line and a
recogniser (or a hurried typist). Seeded, so a garbled split is the same every run.

Per syllable, with small probabilities: the tone heard wrong; a merged initial consonant
(l/n, tr/ch, s/x, d/gi/r); a merged final (n/ng, t/c); per sentence, at most one syllable lost;
and some sentences lose every diacritic (typed without Vietnamese input).
"""
from __future__ import annotations

import random
import re
import unicodedata

from bot.text import nfc, strip_diacritics

TONE_MARKS = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
_INITIAL_SWAPS = (("tr", "ch"), ("ch", "tr"), ("gi", "d"), ("d", "gi"), ("r", "d"), ("d", "r"),
                  ("s", "x"), ("x", "s"), ("l", "n"), ("n", "l"))
_FINAL_SWAPS = (("ng", "n"), ("n", "ng"), ("c", "t"), ("t", "c"))
_WORD = re.compile(r"\w+")


def _retone(syllable: str, rng: random.Random) -> str:
    decomposed = unicodedata.normalize("NFD", syllable)
    base = "".join(ch for ch in decomposed if ch not in TONE_MARKS[1:])
    vowels = [i for i, ch in enumerate(base) if ch.lower() in "aeiouy"]
    if not vowels:
        return syllable
    current = next((ch for ch in decomposed if ch in TONE_MARKS[1:]), "")
    tone = rng.choice([t for t in TONE_MARKS if t != current])
    # the mark goes on the vowel with a quality mark (ơ, ê…), else on the first of two vowels
    # unless a consonant ends the syllable; NFC re-composes it
    marked = [i for i in vowels if i + 1 < len(base) and base[i + 1] in "\u0302\u0306\u031b"]
    if marked:
        at = marked[-1] + 1
    else:
        at = vowels[1 if len(vowels) > 1 and vowels[-1] < len(base) - 1 else 0] + 1
    while at < len(base) and unicodedata.combining(base[at]):
        at += 1
    return unicodedata.normalize("NFC", base[:at] + tone + base[at:])


def _swap_initial(syllable: str, rng: random.Random) -> str:
    options = [(a, b) for a, b in _INITIAL_SWAPS if syllable.lower().startswith(a)
               and not (a == "n" and syllable.lower().startswith(("ng", "nh")))
               and not (a == "d" and syllable.lower().startswith("đ"))]
    if not options:
        return syllable
    a, b = rng.choice(options)
    return b + syllable[len(a):]


def _swap_final(syllable: str, rng: random.Random) -> str:
    options = [(a, b) for a, b in _FINAL_SWAPS if syllable.lower().endswith(a)
               and not (a == "n" and syllable.lower().endswith("nh"))]
    if not options:
        return syllable
    a, b = rng.choice(options)
    return syllable[: len(syllable) - len(a)] + b


def garble(text: str, rng: random.Random, *, tone: float = 0.08, initial: float = 0.08,
           final: float = 0.04, lose: float = 0.3, bare: float = 0.3) -> str:
    words = _WORD.findall(nfc(text).lower())
    out = []
    for word in words:
        if word.isdigit():
            out.append(word)
            continue
        if rng.random() < tone:
            word = _retone(word, rng)
        if rng.random() < initial:
            word = _swap_initial(word, rng)
        if rng.random() < final:
            word = _swap_final(word, rng)
        out.append(word)
    if len(out) > 3 and rng.random() < lose:
        del out[rng.randrange(len(out))]
    sentence = " ".join(out)
    return strip_diacritics(sentence) if rng.random() < bare else sentence


def garbled_copy(texts: list[str], seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [garble(t, rng) for t in texts]
