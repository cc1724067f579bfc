"""Sample-rate conversion with soxr (high quality, int16 in and out)."""
from __future__ import annotations

import numpy as np
import soxr


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole int16 mono signal. Returns a new array (the input is never modified)."""
    array = np.asarray(samples)
    if array.dtype != np.int16 or array.ndim != 1:
        raise TypeError(f"expected a 1-D int16 array, got {array.ndim}-D {array.dtype}")
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate or array.size == 0:
        return array.copy()
    return soxr.resample(array, from_rate, to_rate, quality="HQ")


class StreamResampler:
    """Resample a signal that arrives in chunks (e.g. 20 ms frames) without seams between them.

    Stateful: one per stream; `flush()` returns what the filter still holds. soxr's "HQ" emits
    output in ~100 ms bursts, too late for a VAD deciding every 20 ms; "QQ" (cubic) emits every
    chunk with a lag of a few samples and is good enough for speech detection.
    """

    def __init__(self, from_rate: int, to_rate: int, quality: str = "HQ") -> None:
        self.from_rate, self.to_rate = from_rate, to_rate
        self._stream = None if from_rate == to_rate else soxr.ResampleStream(
            from_rate, to_rate, 1, dtype="int16", quality=quality)

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        array = np.asarray(samples, dtype=np.int16)
        if self._stream is None:
            return array.copy()
        return self._stream.resample_chunk(array, last=last)

    def flush(self) -> np.ndarray:
        return self.process(np.zeros(0, np.int16), last=True)
