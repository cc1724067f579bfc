"""Spoken questions with a pause inside them, built from the real recordings in ../shared/speech.

Elderly and stressed callers stop to think in mid-question. Each recording is heard through the
phone line (8 kHz µ-law, as `bot call` hears it), split at the quietest stretch near its middle
(a word boundary, as far as energy can tell), and a gap of 0.3-1.5 s of faint line noise is put
there. The complete recordings are the other half of the material: the bot must not make those
callers wait longer.

Nothing is copied into the repository: the material is built when a test or benchmark runs, from
../shared (callers skip clearly when it is absent). Recordings are split into dev (tuning) and
test by a hash of the file name, so the split never changes when files are added.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.audio.files import read_audio
from bot.audio.phone import through_phone_line

RATE = 8000
FRAME = RATE // 50  # 20 ms
GAPS_S = (0.3, 0.5, 0.7, 0.9, 1.0, 1.2, 1.5)
NOISE_DBFS = -60.0  # a quiet line is not digital silence


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str
    split: str  # dev | test


@dataclass(frozen=True)
class PausedQuestion:
    recording: Recording
    gap_s: float
    cut_s: float  # where the pause was put, seconds into the recording
    audio: np.ndarray  # int16, 8 kHz, already through the phone line


def split_of(name: str) -> str:
    return "dev" if hashlib.sha1(name.encode()).digest()[0] % 2 == 0 else "test"


def recordings(speech: Path) -> list[Recording]:
    """Whole sentences (vivos, vieneu) with their transcripts; diadiem's place names are one or
    two words, too short to pause inside."""
    out = []
    for folder in ("vivos", "vieneu"):
        tsv = speech / folder / "transcripts.tsv"
        if not tsv.is_file():
            continue
        for line in tsv.read_text(encoding="utf-8").splitlines():
            name, _, text = line.partition("\t")
            if name.endswith(".wav") and (speech / folder / name).is_file():
                out.append(Recording(speech / folder / name, text.strip(), split_of(name)))
    return sorted(out, key=lambda r: r.path.name)


def phone_audio(path: Path) -> np.ndarray:
    samples, rate = read_audio(str(path))
    return through_phone_line(samples, rate)


def frame_db(audio: np.ndarray) -> np.ndarray:
    n = audio.size // FRAME
    x = audio[:n * FRAME].astype(np.float64).reshape(n, FRAME)
    return 10 * np.log10(np.mean(x * x, axis=1) + 1.0)


def quiet_stretch(audio: np.ndarray) -> tuple[float, float]:
    """(start, end) in seconds of the longest quiet stretch in the middle half of the speech (20 ms
    frames more than 25 dB below the loudest), 60 ms kept on each side so no word edge is lost;
    an empty stretch at the quietest frame if there is none."""
    db = frame_db(audio)
    loud = np.flatnonzero(db > db.max() - 35)
    first, last = int(loud[0]), int(loud[-1])
    lo, hi = first + (last - first) // 4, last - (last - first) // 4
    quiet = db[lo:hi] < db.max() - 25
    best: tuple[int, int] | None = None
    run_start = None
    mid = (lo + hi) / 2
    for i, q in enumerate([*quiet, False], lo):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            # Ties go to the stretch nearer the middle.
            if (best is None or i - run_start > best[1] - best[0]
                    or (i - run_start == best[1] - best[0] and abs((run_start + i) / 2 - mid) < abs(sum(best) / 2 - mid))):
                best = (run_start, i)
            run_start = None
    if best is None:
        at = lo + int(np.argmin(db[lo:hi]))
        return at * FRAME / RATE, at * FRAME / RATE
    start, end = best[0] + 3, best[1] - 3  # keep 60 ms of the quiet on each side
    if end <= start:
        start = end = (best[0] + best[1]) // 2
    return start * FRAME / RATE, end * FRAME / RATE


def quiet_cut(audio: np.ndarray) -> float:
    """Where the first half of a paused question ends (seconds): the start of its quiet stretch."""
    return quiet_stretch(audio)[0]


def line_noise(seconds: float, seed: int) -> np.ndarray:
    rms = 32768.0 * 10 ** (NOISE_DBFS / 20)
    noise = np.random.default_rng(seed).normal(0, rms, int(seconds * RATE))
    return through_phone_line(np.clip(noise, -32768, 32767).astype(np.int16), RATE)


def paused(recording: Recording, gap_s: float) -> PausedQuestion:
    """The recording with its quiet stretch near the middle replaced by `gap_s` of line noise: the
    caller's pause is then `gap_s` plus the 120 ms of quiet kept at the word edges."""
    audio = phone_audio(recording.path)
    start_s, end_s = quiet_stretch(audio)
    seed = int.from_bytes(hashlib.sha1(f"{recording.path.name}{gap_s}".encode()).digest()[:4], "little")
    joined = np.concatenate([audio[:int(start_s * RATE)], line_noise(gap_s, seed), audio[int(end_s * RATE):]])
    return PausedQuestion(recording, gap_s, start_s, joined)


def material(speech: Path, split: str) -> list[PausedQuestion]:
    """One paused question per recording of `split`, gaps taken in turn from GAPS_S."""
    chosen = [r for r in recordings(speech) if r.split == split]
    return [paused(r, GAPS_S[i % len(GAPS_S)]) for i, r in enumerate(chosen)]
