"""The ASR interface every engine implements, and helpers they share.

An engine is loaded once per process and serves many calls; each call (or each `transcribe`)
gets its own `AsrStream`. Audio is int16 mono at `engine.sample_rate`.
"""
from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.audio.resample import resample
from bot.engines import EngineUnavailable

_SPACES = re.compile(r"\s+")


class AsrError(EngineUnavailable):
    """An engine cannot be loaded or used (bad model directory, missing package, ...)."""


@dataclass(frozen=True)
class Capabilities:
    streaming: bool  # accepts audio incrementally, with bounded memory and work per chunk
    partials: bool   # partial() returns the running hypothesis during a turn
    grammar: bool    # stream(grammar=[...]) restricts recognition to given phrases


class AsrStream(ABC):
    """One turn-taking recognition session (one call). Not thread-safe: one caller at a time."""

    @abstractmethod
    def accept(self, pcm: np.ndarray) -> None:
        """Feed int16 mono samples at the engine's sample rate."""

    @abstractmethod
    def partial(self) -> str:
        """The hypothesis so far for the current turn ('' if nothing yet)."""

    @abstractmethod
    def final(self) -> str:
        """End the current turn: return its text and start a fresh turn on the same stream."""

    @abstractmethod
    def close(self) -> None:
        """Free the native resources. The stream cannot be used afterwards."""

    def __enter__(self) -> AsrStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsrEngine(ABC):
    name: str
    sample_rate: int
    capabilities: Capabilities

    @abstractmethod
    def stream(self, grammar: Sequence[str] | None = None) -> AsrStream:
        """A new session. `grammar` only for engines with `capabilities.grammar`."""

    def transcribe(self, samples: np.ndarray, rate: int) -> str:
        """Recognise a whole recording (int16 mono at `rate`) as one turn."""
        with self.stream() as session:
            session.accept(resample(as_pcm(samples), rate, self.sample_rate))
            return session.final()

    def close(self) -> None:
        """Free the model. Default: nothing to free."""

    def _refuse_grammar(self, grammar: Sequence[str] | None) -> None:
        if grammar is not None and not self.capabilities.grammar:
            raise AsrError(f"the {self.name} engine has no grammar mode")


def as_pcm(pcm: np.ndarray) -> np.ndarray:
    """Check that `pcm` is 1-D int16 (the only format streams accept) and return it as an array."""
    array = np.asarray(pcm)
    if array.dtype != np.int16 or array.ndim != 1:
        raise TypeError(f"ASR streams take 1-D int16 samples, got {array.ndim}-D {array.dtype}")
    return array


def clean_text(text: str) -> str:
    """Engine output -> one line: NFC, single spaces (engines mark segments with newlines)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
