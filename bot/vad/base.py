"""The VAD interface: one speech probability per audio frame, one detector per call."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from bot.audio.frames import AudioFrame


def quiet_rms(dbfs: float) -> float:
    """The RMS of int16 audio at `dbfs` (e.g. -60 dBFS: a silent phone line)."""
    return 32768.0 * 10 ** (dbfs / 20)


def is_quiet(samples: np.ndarray, rms_floor: float) -> bool:
    """Whether a frame is below `rms_floor`: such frames skip the VAD model (a silent line)."""
    x = samples.astype(np.float32)
    return bool(x.size) and float(np.sqrt(np.mean(x * x))) < rms_floor


class Vad(ABC):
    """Stateful (it hears context across frames): make one per call, feed frames in order."""

    @abstractmethod
    def is_speech(self, frame: AudioFrame) -> float:
        """Probability in [0, 1] that `frame` (typically 20 ms) contains speech."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the context, e.g. before reusing the detector for another call."""
