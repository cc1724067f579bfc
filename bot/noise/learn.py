"""Learn the noise channel from the recogniser's own mistakes.

Each recording in ../shared/speech is heard as a call hears it (8 kHz G.711 µ-law, 20 ms frames,
the configured recogniser), its words aligned syllable by syllable with the transcript, and the
mistakes counted: syllables lost and added, and for a syllable heard wrong, which of its parts
changed (initial consonant, rhyme, tone) and into what. The counts go to
data/noise/recogniser.yml (statistics only: no audio and no sentence of the recordings), which
`bot.noise.channel.NoiseChannel` follows to garble text the way this recogniser does.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.asr.metrics import normalise
from bot.noise.syllable import split

# Read sentences. Not diadiem/: single place names and loanwords, where the recogniser's
# mistakes are English words ("massage", "karaoke"), not how a caller's question is misheard.
FOLDERS = ("vivos", "vieneu")
TABLE = Path("data/noise/recogniser.yml")


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """Levenshtein alignment: pairs (ref, hyp), None on the side that lacks the syllable."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1,
                             cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    pairs: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return pairs[::-1]


def count(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The channel's table from (transcript, what the recogniser heard) pairs."""
    totals: Counter[str] = Counter()
    changed: Counter[str] = Counter()  # which parts changed together: "tone", "initial+rhyme", ...
    parts: dict[str, Counter[tuple[str, str]]] = {"initial": Counter(), "rhyme": Counter(), "tone": Counter()}
    added: Counter[str] = Counter()
    for ref_text, hyp_text in pairs:
        for ref, hyp in align(normalise(ref_text).split(), normalise(hyp_text).split()):
            if ref is None:
                totals["added"] += 1
                added[hyp] += 1
                continue
            totals["syllables"] += 1
            if hyp is None:
                totals["lost"] += 1
            elif ref == hyp:
                totals["right"] += 1
            else:
                totals["wrong"] += 1
                a, b = split(ref), split(hyp)
                which = [name for name in ("initial", "rhyme", "tone") if getattr(a, name) != getattr(b, name)]
                changed["+".join(which) or "spelling"] += 1
                for name in which:
                    parts[name][(getattr(a, name), getattr(b, name))] += 1
    return {
        "syllables": totals["syllables"], "right": totals["right"], "wrong": totals["wrong"],
        "lost": totals["lost"], "added": totals["added"],
        "changed": dict(changed.most_common()),
        # "from -> to: count", most frequent first; "" is a syllable without an initial consonant
        **{name: {f"{a} -> {b}": n for (a, b), n in counter.most_common()} for name, counter in parts.items()},
        "added_syllables": dict(added.most_common(30)),
    }


def transcribe(speech: Path, engine: Any, limit: int | None = None) -> list[tuple[str, str]]:
    """(transcript, heard) for every recording (or the first `limit` of each folder), heard
    through the phone path as on a call."""
    from bot.audio.files import read_audio
    from bot.audio.frames import frames_of
    from bot.audio.phone import PHONE_RATE, from_phone_line, to_phone_line

    pairs = []
    for folder in FOLDERS:
        listing = speech / folder / "transcripts.tsv"
        if not listing.exists():
            continue
        lines = [line for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
        for line in lines[:limit]:
            name, text = line.split("\t", 1)
            samples, rate = read_audio(speech / folder / name)
            heard = from_phone_line(to_phone_line(samples, rate))
            with engine.stream() as stream:
                for frame in frames_of(heard, PHONE_RATE):
                    stream.accept(frame.samples)
                pairs.append((text, stream.final()))
    return pairs


def write_table(table: dict[str, Any], path: Path, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# GENERATED by `bot noise-learn` on {dt.date.today().isoformat()} from {source}:\n"
              "# the recogniser's mistakes on real recordings heard through the phone path. Only counts\n"
              "# of syllable parts are kept. bot/noise/learned.py garbles training examples by these numbers.\n")
    path.write_text(header + yaml.safe_dump(table, allow_unicode=True, sort_keys=False), encoding="utf-8")
