"""Word and character error rates, as the benchmarks and tests score ASR output."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFC, lowercase, punctuation removed, single spaces: only the words are scored."""
    text = _NOT_WORD.sub(" ", unicodedata.normalize("NFC", text).lower())
    return _SPACES.sub(" ", text).strip()


def edit_distance(ref: Sequence[object], hyp: Sequence[object]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


def error_rates(pairs: Iterable[tuple[str, str]]) -> tuple[float, float]:
    """(WER, CER) over (reference, hypothesis) pairs, pooled: total edits / total reference length.

    CER counts characters of the normalised text with spaces (Vietnamese writes one syllable per
    word, so spacing errors are real errors).
    """
    word_edits = words = char_edits = chars = 0
    for ref, hyp in pairs:
        r, h = normalise(ref), normalise(hyp)
        word_edits += edit_distance(r.split(), h.split())
        words += len(r.split())
        char_edits += edit_distance(r, h)
        chars += len(r)
    if not words:
        raise ValueError("no reference words to score against")
    return word_edits / words, char_edits / chars
