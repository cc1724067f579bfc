"""The VAD interface: one speech probability per audio frame, one detector per call."""
from __future__ import annotations

from abc import ABC, abstractmethod

from bot.audio.frames import AudioFrame


class Vad(ABC):
    """Stateful (it hears context across frames): make one per call, feed frames in order."""

    @abstractmethod
    def is_speech(self, frame: AudioFrame) -> float:
        """Probability in [0, 1] that `frame` (typically 20 ms) contains speech."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the context, e.g. before reusing the detector for another call."""
