"""`AudioFrame`: the unit of audio that moves between transports, VAD, turns and ASR."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from bot.call.timing import FRAME_MS

SAMPLE_WIDTH = 2  # bytes per sample: int16 little-endian mono everywhere in the pipeline


@dataclass(frozen=True)
class AudioFrame:
    """A span of int16 little-endian mono PCM at `sample_rate` Hz."""

    pcm: bytes
    sample_rate: int

    def __post_init__(self) -> None:
        if len(self.pcm) % SAMPLE_WIDTH:
            raise ValueError(f"PCM has an odd number of bytes ({len(self.pcm)}); expected int16 samples")
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")

    @classmethod
    def from_samples(cls, samples: np.ndarray, sample_rate: int) -> AudioFrame:
        return cls(np.asarray(samples, dtype="<i2").tobytes(), sample_rate)

    @property
    def samples(self) -> np.ndarray:
        """A read-only int16 view of the PCM (no copy)."""
        return np.frombuffer(self.pcm, dtype="<i2")

    @property
    def num_samples(self) -> int:
        return len(self.pcm) // SAMPLE_WIDTH

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.num_samples / self.sample_rate


def samples_per_frame(rate: int, ms: int = FRAME_MS) -> int:
    n = rate * ms / 1000
    if n != int(n) or n <= 0:
        raise ValueError(f"{ms} ms at {rate} Hz is not a whole number of samples")
    return int(n)


def frames_of(pcm: bytes | np.ndarray, rate: int, ms: int = FRAME_MS, pad: bool = True) -> Iterator[AudioFrame]:
    """Cut PCM into consecutive `ms`-millisecond frames.

    The last partial frame is zero-padded (`pad=True`, so every frame has the same length, as on
    a telephone line) or dropped (`pad=False`).
    """
    raw = pcm.astype("<i2", copy=False).tobytes() if isinstance(pcm, np.ndarray) else bytes(pcm)
    step = samples_per_frame(rate, ms) * SAMPLE_WIDTH
    for start in range(0, len(raw), step):
        chunk = raw[start:start + step]
        if len(chunk) < step:
            if not pad:
                return
            chunk += bytes(step - len(chunk))
        yield AudioFrame(chunk, rate)
