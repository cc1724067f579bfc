"""Prompts recorded by a person, used instead of TTS while they still say the current text.

An editor drops `data/recordings/<id>.wav` with `<id>.txt` (the exact text read) or `<id>.yml`
(`text: "..."`). Ids are those of `spoken_texts`: a FAQ id, an intent id, a prompt name, or
`<prompt>.<branch>`. A recording is played for any reply that contains its text as whole
sentences; when the editors change that text it silently stops matching and shows as stale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from bot.audio.files import read_audio
from bot.config import ROOT
from bot.content.model import KnowledgeBase
from bot.tts.texts import canonical, split_sentences, spoken_texts

DEFAULT_DIR = ROOT / "data/recordings"


@dataclass(frozen=True)
class Recording:
    id: str
    wav: Path
    text: str | None  # None: no readable sidecar, so it can never be trusted
    playable: bool = True  # libsndfile can read the audio

    @property
    def usable(self) -> bool:
        return self.text is not None and self.playable


def _sidecar_text(wav: Path) -> str | None:
    txt, yml = wav.with_suffix(".txt"), wav.with_suffix(".yml")
    if txt.exists():
        return canonical(txt.read_text(encoding="utf-8")) or None
    if yml.exists():
        try:
            data = yaml.safe_load(yml.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            return None
        text = data.get("text") if isinstance(data, dict) else None
        return canonical(text) if isinstance(text, str) and text.strip() else None
    return None


def _playable(wav: Path) -> bool:
    try:
        return sf.info(str(wav)).frames > 0
    except (sf.LibsndfileError, RuntimeError):
        return False


def find_recordings(directory: Path) -> list[Recording]:
    if not directory.is_dir():
        return []
    return [Recording(wav.stem, wav, _sidecar_text(wav), _playable(wav)) for wav in sorted(directory.glob("*.wav"))]


class RecordedPrompts:
    """Recordings indexed by the sentences they say; audio is read on first use."""

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        self.directory = Path(directory)
        self._by_sentences: dict[tuple[str, ...], Recording] = {}
        for rec in find_recordings(self.directory):
            if rec.usable and rec.text:
                self._by_sentences.setdefault(split_sentences(rec.text), rec)
        self._longest = max((len(k) for k in self._by_sentences), default=0)
        self._audio: dict[tuple[Path, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._by_sentences)

    def match(self, parts: tuple[str, ...], start: int) -> tuple[Recording, int] | None:
        """The longest recording saying parts[start:start+n]; returns it and n."""
        for n in range(min(self._longest, len(parts) - start), 0, -1):
            rec = self._by_sentences.get(parts[start:start + n])
            if rec is not None:
                return rec, n
        return None

    def audio(self, rec: Recording, sample_rate: int) -> np.ndarray:
        """The recording as mono int16 at `sample_rate` (read and converted once)."""
        key = (rec.wav, sample_rate)
        if key not in self._audio:
            self._audio[key] = read_audio(rec.wav, sample_rate)[0]
        return self._audio[key]


def recording_problems(kb: KnowledgeBase, directory: Path = DEFAULT_DIR) -> list[tuple[str, str, str]]:
    """(id, status, why) for every recording; see `recording_status`."""
    current = spoken_texts(kb)
    found = []
    for rec in find_recordings(Path(directory)):
        if rec.id not in current:
            found.append((rec.id, "orphan", "no answer, response or prompt has this id"))
        elif rec.text is None:
            found.append((rec.id, "stale", f"no {rec.id}.txt / {rec.id}.yml with the text it says"))
        elif not rec.playable:
            found.append((rec.id, "stale", "the audio cannot be read (not a WAV, or empty)"))
        elif rec.text != canonical(current[rec.id]):
            found.append((rec.id, "stale", "the text changed since it was recorded"))
        else:
            found.append((rec.id, "ok", ""))
    return found


def recording_status(kb: KnowledgeBase, directory: Path = DEFAULT_DIR) -> list[tuple[str, str]]:
    """(id, 'ok' | 'stale' | 'orphan') for every recording: orphan = no such id any more,
    stale = not played: its text changed, its text file is missing or its audio is unreadable."""
    return [(rid, status) for rid, status, _ in recording_problems(kb, directory)]
