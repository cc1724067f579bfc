"""A noise channel that follows the recogniser's measured mistakes (data/noise/recogniser.yml,
written by `bot noise-learn`), for augmenting the brain's training examples.

Per syllable: lost, or heard wrong, at the measured rates times `severity` (callers on a phone
line are harder to hear than the read recordings the rates come from); a wrong syllable changes
the parts the recogniser changes together (rhyme alone, initial + rhyme + tone, ...), each part
into what it was heard as (drawn from the measured pairs for that part, or, for a part the
recordings never showed wrong, a northern merge / any other tone). A northern speaker's merged
initials and finals (l/n, tr/ch, s/x, d/gi/r; n/ng, t/c) come on top, as the hand-written channel
(bot/noise/channel.py, which garbles the evaluation splits) has them.

Seeded by the caller of `garble`, so training is deterministic.
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.noise.syllable import TONES, Parts, split
from bot.text import nfc

TABLE = Path(__file__).resolve().parents[2] / "data" / "noise" / "recogniser.yml"
_WORD = re.compile(r"\w+")
# A northern speaker's merges, as the recogniser then spells them (initial, final).
NORTHERN_INITIALS = {"tr": ("ch",), "ch": ("tr",), "s": ("x",), "x": ("s",), "l": ("n",), "n": ("l",),
                     "d": ("gi", "r"), "gi": ("d", "r"), "r": ("d", "gi")}
NORTHERN_FINALS = (("ng", "n"), ("n", "ng"), ("c", "t"), ("t", "c"))


class LearnedChannel:
    def __init__(self, table: dict[str, Any], severity: float = 2.0, northern: float = 0.05) -> None:
        n = max(1, int(table.get("syllables", 0)))
        self.p_wrong = min(0.6, severity * table.get("wrong", 0) / n)
        self.p_lost = min(0.3, severity * table.get("lost", 0) / n)
        self.northern = northern
        changed = table.get("changed") or {"tone": 1}
        self._patterns = [pattern.split("+") for pattern in changed]
        self._pattern_weights = list(changed.values())
        self._heard: dict[str, dict[str, tuple[list[str], list[int]]]] = {}
        for part in ("initial", "rhyme", "tone"):
            by_source: dict[str, dict[str, int]] = defaultdict(dict)
            for pair, count in (table.get(part) or {}).items():
                source, _, target = str(pair).partition(" -> ")
                by_source[source][target] = count
            self._heard[part] = {s: (list(t), list(t.values())) for s, t in by_source.items()}

    @classmethod
    def measured(cls, severity: float = 2.0, northern: float = 0.05, path: Path = TABLE) -> LearnedChannel:
        return cls(_read(path), severity, northern)

    def garble(self, text: str, rng: random.Random) -> str:
        out = []
        for word in _WORD.findall(nfc(text).lower()):
            if word.isdigit():
                out.append(word)
                continue
            draw = rng.random()
            if draw < self.p_lost:
                continue
            if draw < self.p_lost + self.p_wrong:
                word = self._mishear(word, rng)
            if rng.random() < self.northern:
                word = _northern(word, rng)
            out.append(word)
        return " ".join(out) if out else nfc(text).lower()

    def _mishear(self, word: str, rng: random.Random) -> str:
        parts = split(word)
        pattern = rng.choices(self._patterns, self._pattern_weights)[0]
        values = parts._asdict()
        for part in pattern:
            if part in values:
                values[part] = self._heard_as(part, values[part], rng)
        return Parts(**values).spell() or word

    def _heard_as(self, part: str, value: str, rng: random.Random) -> str:
        seen = self._heard[part].get(value)
        if seen:
            return rng.choices(*seen)[0]
        if part == "tone":
            return rng.choice([t for t in TONES if t != value])
        if part == "initial":
            return rng.choice(NORTHERN_INITIALS.get(value, (value,)))
        swaps = [(a, b) for a, b in NORTHERN_FINALS if value.endswith(a) and not value.endswith("nh")]
        if swaps:
            a, b = rng.choice(swaps)
            return value[: len(value) - len(a)] + b
        return value


def _northern(word: str, rng: random.Random) -> str:
    parts = split(word)
    if parts.initial in NORTHERN_INITIALS and rng.random() < 0.7:
        return parts._replace(initial=rng.choice(NORTHERN_INITIALS[parts.initial])).spell()
    swaps = [(a, b) for a, b in NORTHERN_FINALS if parts.rhyme.endswith(a) and not parts.rhyme.endswith("nh")]
    if swaps:
        a, b = rng.choice(swaps)
        return parts._replace(rhyme=parts.rhyme[: len(parts.rhyme) - len(a)] + b).spell()
    return word


@cache
def _read(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return {}  # no table: syllables are only lost or misheard by the northern rules
