"""What the neural voices share: sentence-by-sentence synthesis off the event loop, and helpers."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bot.tts.base import TtsEngine, TtsError, TtsUnavailable

log = logging.getLogger(__name__)


class SentenceVoice(TtsEngine):
    """A model that turns one sentence's ids into float audio; subclasses give `ids` and `infer`."""

    sentence_silence_s: float = 0.2
    volume: float = 1.0
    unsayable = "nothing this voice knows"

    @abstractmethod
    def ids(self, text: str) -> list[list[int]]:
        """One id sequence per sentence that the voice can say."""

    @abstractmethod
    def infer(self, ids: list[int]) -> np.ndarray:
        """Float audio in [-1, 1] for one sentence."""

    def synth_blocking(self, text: str) -> np.ndarray:
        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.int16)
        sequences = self.ids(text)
        if not sequences:
            raise TtsError(f"nothing in {text[:60]!r} can be said by this voice ({self.unsayable})")
        audio = join_sentences([self.infer(ids) for ids in sequences], self.sample_rate, self.sentence_silence_s)
        return to_int16(audio, self.volume)

    async def synth(self, text: str) -> np.ndarray:
        if not text.strip():
            return np.zeros(0, dtype=np.int16)
        # Inference takes tens to hundreds of ms: never on the event loop that carries calls.
        return await asyncio.to_thread(self.synth_blocking, text)


def to_int16(audio: np.ndarray, volume: float = 1.0) -> np.ndarray:
    """Float samples in [-1, 1] → int16 (clipped; NaN/inf become silence/peaks)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(audio * (32767.0 * volume), -32767.0, 32767.0).astype(np.int16)


def files_digest(paths: Iterable[Path], length: int = 12) -> str:
    """sha256 over the files' bytes: a different voice in the same directory is a different key."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:length]


def model_dir_path(model_dir: Path | str | None, engine: str, expected: str) -> Path:
    """The directory as a Path, or TtsUnavailable saying what should be there."""
    if model_dir is None or not str(model_dir).strip():
        raise TtsUnavailable(f"TTS engine '{engine}' needs a model directory with {expected}; "
                             "set voice.tts_model_dir in settings.yml (see docs/voices.md)")
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise TtsUnavailable(f"TTS model directory {path} does not exist (or is not a directory); "
                             f"engine '{engine}' expects {expected} in it")
    return path


def join_sentences(pieces: Sequence[np.ndarray], sample_rate: int, silence_s: float) -> np.ndarray:
    gap = np.zeros(max(0, round(silence_s * sample_rate)), dtype=np.float32)
    out: list[np.ndarray] = []
    for piece in pieces:
        out += [np.asarray(piece, dtype=np.float32).reshape(-1), gap]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


class WarnOnce:
    """Log each unknown symbol once per engine, not once per sentence."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: set[str] = set()

    def __call__(self, symbols: Iterable[str], voice: str) -> None:
        new = sorted(set(symbols) - self.seen)
        if new:
            self.seen.update(new)
            log.warning("%s: %s not in the voice's %s; skipped", voice, " ".join(repr(s) for s in new), self.what)


