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
import yaml

from bot.config import ROOT
from bot.content.model import KnowledgeBase
from bot.tts.audio import read_wav
from bot.tts.texts import canonical, split_sentences, spoken_texts

DEFAULT_DIR = ROOT / "data/recordings"


@dataclass(frozen=True)
class Recording:
    id: str
    wav: Path
    text: str | None  # None: no readable sidecar, so it can never be trusted


def _sidecar_text(wav: Path) -> str | None:
    txt, yml = wav.with_suffix(".txt"), wav.with_suffix(".yml")
    if txt.exists():
        return canonical(txt.read_text(encoding="utf-8")) or None
    if yml.exists():
        data = yaml.safe_load(yml.read_text(encoding="utf-8"))
        text = data.get("text") if isinstance(data, dict) else None
        return canonical(text) if isinstance(text, str) and text.strip() else None
    return None


def find_recordings(directory: Path) -> list[Recording]:
    if not directory.is_dir():
        return []
    return [Recording(wav.stem, wav, _sidecar_text(wav)) for wav in sorted(directory.glob("*.wav"))]


class RecordedPrompts:
    """Recordings indexed by the sentences they say; audio is read on first use."""

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        self.directory = Path(directory)
        self._by_sentences: dict[tuple[str, ...], Recording] = {}
        for rec in find_recordings(self.directory):
            if rec.text:
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
            self._audio[key] = read_wav(rec.wav, sample_rate)
        return self._audio[key]


def recording_status(kb: KnowledgeBase, directory: Path = DEFAULT_DIR) -> list[tuple[str, str]]:
    """(id, 'ok' | 'stale' | 'orphan') for every recording: orphan = no such id any more,
    stale = the text changed since it was recorded (or its text file is missing)."""
    current = spoken_texts(kb)
    status = []
    for rec in find_recordings(Path(directory)):
        if rec.id not in current:
            status.append((rec.id, "orphan"))
        elif rec.text is not None and rec.text == canonical(current[rec.id]):
            status.append((rec.id, "ok"))
        else:
            status.append((rec.id, "stale"))
    return status
