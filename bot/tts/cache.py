"""The prompt cache: speech rendered ahead of time, so a call rarely waits for synthesis.

A file per sentence, `<sha256(voice_key, rate, text)>.wav` (8 kHz mono int16 by default), so
every reply the brain joins from known texts (an answer plus "anything else?") is found sentence
by sentence. A recorded prompt (see recordings.py) wins over synthesis for the sentences it says.
Changing the text or the voice changes the key: old files are simply never read again.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from bot.audio.files import AudioFileError, read_audio
from bot.audio.phone import PHONE_RATE
from bot.audio.resample import resample
from bot.config import ROOT
from bot.tts.base import TtsEngine
from bot.tts.recordings import RecordedPrompts, Recording, recording_status
from bot.tts.texts import canonical, split_sentences

__all__ = ["DEFAULT_DIR", "PromptCache", "RenderStats", "Segment", "recording_status"]

DEFAULT_DIR = ROOT / "var/prompts"
MEMORY_LIMIT_BYTES = 64 * 2**20  # ~70 min of 8 kHz audio: every prompt and answer, several voices

Progress = Callable[[int, int, str], None]  # (done, total, text just finished)


def cache_key(voice_key: str, sample_rate: int, text: str) -> str:
    return hashlib.sha256(f"{voice_key}\n{sample_rate}\n{canonical(text)}".encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Segment:
    """One piece of a reply and where its audio comes from: recording | whole | sentence (cached or not)."""

    text: str
    source: str
    path: Path
    cached: bool
    recording: Recording | None = None


@dataclass(frozen=True)
class RenderStats:
    texts: int
    segments: int  # distinct pieces needed
    rendered: int  # synthesised now
    cached: int  # already there
    recorded: int  # covered by a recording
    seconds: float
    audio_seconds: float  # length of what was synthesised now


class PromptCache:
    def __init__(self, directory: Path | str = DEFAULT_DIR, voice_key: str = "espeak-ng:vi+f2:s120:p-",
                 sample_rate: int = PHONE_RATE, recordings: RecordedPrompts | None = None) -> None:
        self.directory = Path(directory)
        self.voice_key = voice_key
        self.sample_rate = sample_rate
        self.recordings = recordings
        # Decoded files, newest last: answering reads no disk (files never change: a new text or
        # voice is a new file name). Bounded, so a long-running gateway stays flat.
        self._memory: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._memory_bytes = 0
        self.memory_limit_bytes = MEMORY_LIMIT_BYTES

    @classmethod
    def for_engine(cls, engine: TtsEngine, directory: Path | str = DEFAULT_DIR,
                   sample_rate: int = PHONE_RATE, recordings: RecordedPrompts | None = None) -> "PromptCache":
        return cls(directory, engine.voice_key, sample_rate, recordings)

    def path(self, text: str) -> Path:
        return self.directory / f"{cache_key(self.voice_key, self.sample_rate, text)}.wav"

    # ── lookup ─────────────────────────────────────────────────────────────────────────────
    def plan(self, text: str) -> list[Segment]:
        """How `text` would be assembled: recordings and sentence files in order (a file put for
        the whole text is used when no recording covers any of it)."""
        parts = split_sentences(text)
        plan: list[Segment] = []
        i = 0
        while i < len(parts):
            found = self.recordings.match(parts, i) if self.recordings else None
            if found is not None:
                rec, n = found
                plan.append(Segment(" ".join(parts[i:i + n]), "recording", rec.wav, True, rec))
                i += n
                continue
            path = self.path(parts[i])
            plan.append(Segment(parts[i], "sentence", path, path.exists()))
            i += 1
        whole = self.path(text)
        if len(plan) > 1 and all(s.source == "sentence" for s in plan) and whole.exists():
            return [Segment(canonical(text), "whole", whole, True)]
        return plan

    def get(self, text: str) -> np.ndarray | None:
        """The audio for `text` if it needs no synthesis, else None."""
        plan = self.plan(text)
        if not plan or not all(s.cached for s in plan):
            return None
        try:
            return self._join([self._load(s) for s in plan])
        except AudioFileError:  # a damaged file (disk full, killed render): treat as missing
            return None

    def put(self, text: str, audio: np.ndarray, sample_rate: int) -> Path:
        """Store mono int16 audio for exactly `text` (resampled to the cache's rate)."""
        path = self.path(text)
        pcm = resample(audio, sample_rate, self.sample_rate)
        # Write then rename: another call or a second render never reads half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        sf.write(tmp, pcm, self.sample_rate, format="WAV", subtype="PCM_16")
        os.replace(tmp, path)
        return path

    async def audio(self, text: str, engine: TtsEngine) -> np.ndarray:
        """The audio for `text`: cached and recorded pieces, live synthesis (then stored) for the rest."""
        return self._join(await self._pieces(text, engine, store=True))

    async def preview(self, text: str, engine: TtsEngine) -> np.ndarray:
        """What `audio` would play for `text`, without storing anything: pieces not in the cache
        are synthesised and converted exactly as `put` would, then dropped (`bot prompts --check`
        measures what callers hear but must not fill the cache)."""
        return self._join(await self._pieces(text, engine, store=False))

    async def _pieces(self, text: str, engine: TtsEngine, store: bool) -> list[np.ndarray]:
        self._check(engine)
        pieces = []
        for seg in self.plan(text):
            if seg.cached:
                try:
                    pieces.append(self._load(seg))
                    continue
                except AudioFileError:
                    if seg.recording is not None:
                        raise  # checked readable at start-up; changed under us since
            pcm = await engine.synth(seg.text)
            if store:
                self.put(seg.text, pcm, engine.sample_rate)
                pieces.append(self._load(seg))
            else:
                pieces.append(resample(pcm, engine.sample_rate, self.sample_rate))
        return pieces

    # ── rendering ahead of time ────────────────────────────────────────────────────────────
    async def render_all(self, texts: Iterable[str], engine: TtsEngine, progress: Progress | None = None,
                         jobs: int = 4) -> RenderStats:
        """Synthesise every piece of `texts` that is neither cached nor recorded."""
        self._check(engine)
        started = time.perf_counter()
        texts = list(texts)
        pieces: dict[str, Segment] = {}
        for text in texts:
            for seg in self.plan(text):
                pieces.setdefault(seg.text, seg)
        todo = [s.text for s in pieces.values() if not s.cached]
        recorded = sum(s.source == "recording" for s in pieces.values())
        done = 0
        audio_s = 0.0
        limit = asyncio.Semaphore(max(1, jobs))

        async def render(piece: str) -> None:
            nonlocal done, audio_s
            async with limit:
                pcm = await engine.synth(piece)
            self.put(piece, pcm, engine.sample_rate)
            done += 1
            audio_s += len(pcm) / engine.sample_rate
            if progress:
                progress(done, len(todo), piece)

        await asyncio.gather(*(render(p) for p in todo))
        return RenderStats(texts=len(texts), segments=len(pieces), rendered=len(todo),
                           cached=len(pieces) - len(todo) - recorded, recorded=recorded,
                           seconds=time.perf_counter() - started, audio_seconds=audio_s)

    def size(self) -> tuple[int, int]:
        """(files, bytes) in the cache directory (all voices)."""
        files = [p for p in self.directory.glob("*.wav")] if self.directory.is_dir() else []
        return len(files), sum(os.path.getsize(p) for p in files)

    # ── helpers ────────────────────────────────────────────────────────────────────────────
    def _load(self, seg: Segment) -> np.ndarray:
        if seg.recording is not None and self.recordings is not None:
            return self.recordings.audio(seg.recording, self.sample_rate)
        hit = self._memory.get(seg.path)
        if hit is not None:
            self._memory.move_to_end(seg.path)
            return hit
        pcm = read_audio(seg.path, self.sample_rate)[0]
        pcm.setflags(write=False)  # shared by every call that plays it
        self._memory[seg.path] = pcm
        self._memory_bytes += pcm.nbytes
        while self._memory_bytes > self.memory_limit_bytes and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            self._memory_bytes -= old.nbytes
        return pcm

    def _join(self, pieces: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)

    def _check(self, engine: TtsEngine) -> None:
        if engine.voice_key != self.voice_key:
            raise ValueError(f"this cache holds '{self.voice_key}', not '{engine.voice_key}'")
