"""The one interface every speech synthesiser implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from bot.engines import EngineUnavailable


class TtsError(RuntimeError):
    """Synthesis of one text failed (the engine itself may still work)."""


class TtsUnavailable(TtsError, EngineUnavailable):
    """The engine cannot run here at all (missing program, model or library)."""


@dataclass(frozen=True)
class TtsCapabilities:
    streaming: bool = False  # yields audio before the whole text is done
    languages: tuple[str, ...] = ("vi",)
    offline: bool = True  # never touches the network
    realtime_cpu: bool = True  # faster than real time on one CPU core


class TtsEngine(ABC):
    """Text in, mono int16 PCM at `sample_rate` out."""

    name: str
    sample_rate: int
    capabilities: TtsCapabilities = TtsCapabilities()

    @property
    @abstractmethod
    def voice_key(self) -> str:
        """Everything that changes the audio (engine, voice, speed…): the prompt cache's key."""

    @abstractmethod
    async def synth(self, text: str) -> np.ndarray:
        """The whole utterance as a 1-D int16 array; empty text gives an empty array."""

    async def aclose(self) -> None:
        """Release what the engine holds (models, processes)."""
