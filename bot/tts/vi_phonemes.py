"""Vietnamese text → the phoneme symbols Kokoro-82M was trained on.

sea-g2p (Apache-2.0) turns Vietnamese text into IPA with its own conventions: a tone mark after
each syllable's vowel (1 level, 2 huyền, ɜ sắc, 4 hỏi, 5 ngã, 6 nặng; level mostly unmarked), `y`
for ư, `ɗ`, a dental diacritic on t, `tʃ` for tr/ch, and `e-` for the short vowel of anh/ach.
Kokoro knows none of the tone marks (it never heard Vietnamese), so the rules below, ours, map
each symbol to the nearest one in its vocabulary. Tones go to the Mandarin tone contours Kokoro
learned (→ level, ↗ rising, ↓ dipping, ↘ falling), which is the closest thing it can say; the
`tones` option chooses between that and dropping them, because the recogniser round trip, not
phonetics, decides which a caller understands better. Measured: dropping them reads back far
better (docs/voice.md), so "none" is the engine's default; "contours" stays for comparison.
"""
from __future__ import annotations

import re
from collections.abc import Callable

# sea-g2p tone marks → Kokoro symbols, per style. Level tone (unmarked or 1) gets "→" only in
# "contours": marking it helps the model keep syllables level instead of inventing accents.
TONE_MARKS = "12ɜ456"
TONE_STYLES: dict[str, dict[str, str]] = {
    "none": {mark: "" for mark in TONE_MARKS},
    "contours": {"1": "→", "2": "↘", "ɜ": "↗", "4": "↓", "5": "ʔ↗", "6": "↘ʔ"},
}
LEVEL = {"none": "", "contours": "→"}

# Longest first, so `tʃ` is rewritten before a lone `t`.
SYMBOLS: tuple[tuple[str, str], ...] = (
    ("tʃ", "ʧ"),   # tr / ch: Kokoro's single affricate symbol
    ("\u032a", ""),  # dental diacritic (t̪): Kokoro has no diacritics but nasalisation
    ("ɗ", "d"),    # đ: implosive d, which Kokoro lacks
    ("y", "ɯ"),    # ư: sea-g2p writes y; Kokoro's y is a front rounded vowel
    ("e-", "ɛ"),   # anh, ach: the short open e
    ("-", ""),
    ("ɹ", "z"),    # r: Hanoi says it as z, as callers on this line expect
)

_SYLLABLE = re.compile(r"[^\s,.;:!?]+")
_VOWELS = set("aeiouɯəɛɔɪʊɑɐæɜɤ")


def convert(ipa: str, tones: str = "none") -> str:
    """sea-g2p output → Kokoro phonemes (see the module docstring)."""
    if tones not in TONE_STYLES:
        raise ValueError(f"unknown tone style {tones!r}; known: {', '.join(TONE_STYLES)}")
    return _SYLLABLE.sub(lambda m: _syllable(m.group(0), tones), ipa)


def _syllable(syl: str, tones: str) -> str:
    # sea-g2p puts the tone mark right after the vowel; Kokoro's contours follow the whole
    # syllable (as in Mandarin, where it learned them), so the mark moves to the end.
    # 'ɜ' is only ever a tone in sea-g2p's Vietnamese output (ơ is written əː).
    tone = next((c for c in syl if c in TONE_MARKS), None)
    body = syl
    if tone is not None:
        body = syl.replace(tone, "", 1)
    for old, new in SYMBOLS:
        body = body.replace(old, new)
    if not any(c in _VOWELS for c in body):
        return body  # a lone consonant or a letter name fragment: no tone to carry
    mark = TONE_STYLES[tones][tone] if tone is not None else LEVEL[tones]
    return body + mark


class VietPhonemes:
    """sea-g2p's Vietnamese pipeline (loaded once; its number and date reading is used too)."""

    def __init__(self, tones: str = "none") -> None:
        if tones not in TONE_STYLES:
            raise ValueError(f"unknown tone style {tones!r}; known: {', '.join(TONE_STYLES)}")
        from sea_g2p import SEAPipeline  # only when a voice needs it

        self.tones = tones
        self._run: Callable[[str], str] = SEAPipeline(lang="vi").run

    def __call__(self, text: str) -> str:
        return convert(self._run(text), self.tones)
