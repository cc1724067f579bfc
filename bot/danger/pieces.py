"""Pieces of ordinary sentences, for the safety net's model to learn that a piece of a caller's
question is not danger (actions/nlu/danger.py, config.yml `ordinary_pieces`)."""
from __future__ import annotations

import random

from bot.danger.match import DangerMatcher


def ordinary_pieces(sentences: list[str], matcher: DangerMatcher, count: int, rng: random.Random,
                    longest: int = 6) -> list[str]:
    """Up to `count` pieces of ordinary sentences as a slow caller's pauses cut them ("con tôi đang
    học lớp ba", "để tôi nghĩ đã"): runs of 2 to `longest` words from sentences of 4 words or
    more, drawn at random, each piece once. Without them the model only meets short texts among the kinds' examples and
    phrases, and takes any short piece of a caller's story for danger. A piece in which the
    editors' phrases see danger ("bị cháy" out of "năm ngoái nhà tôi bị cháy ...") is left out:
    cut from its sentence, it may be danger now."""
    long_enough = [s.split() for s in sentences if len(s.split()) >= 4]
    pieces: dict[str, None] = {}
    for _ in range(count if long_enough else 0):
        words = rng.choice(long_enough)
        size = rng.randint(2, min(longest, len(words) - 1))
        start = rng.randint(0, len(words) - size)
        piece = " ".join(words[start:start + size]).strip(" ,.?!")
        if piece and matcher.find(piece) is None:
            pieces[piece] = None
    return list(pieces)
