"""Reading and writing audio files: any rate, mono or stereo, PCM/µ-law/A-law WAV (libsndfile)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from bot.audio.resample import resample


class AudioFileError(Exception):
    """A file that cannot be used as audio; the message is one line, fit for a user."""


def read_audio(path: str | Path, target_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read `path` as int16 mono, resampled to `target_rate` (None keeps the file's rate).

    Returns (samples, original_rate). Stereo is downmixed by averaging the channels.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file (0 bytes)")
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            data = f.read(dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        # soundfile reports 'Error opening ...: Format not recognised.' etc.; keep only the reason.
        reason = str(exc).split(": ", 1)[-1].rstrip(".") or type(exc).__name__
        raise AudioFileError(f"{path}: not a readable audio file ({reason.lower()})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: contains no audio samples")
    mono = data[:, 0] if data.shape[1] == 1 else _downmix(data)
    if target_rate is not None and target_rate != rate:
        mono = resample(mono, rate, target_rate)
    return np.ascontiguousarray(mono), rate


def _downmix(data: np.ndarray) -> np.ndarray:
    # Average in int32 so two loud channels do not overflow.
    return np.round(data.astype(np.int32).mean(axis=1)).astype(np.int16)


def write_wav(path: str | Path, pcm: np.ndarray | bytes, rate: int) -> None:
    """Write int16 mono samples (array or little-endian bytes) as 16-bit PCM WAV."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, (bytes, bytearray)) else np.asarray(pcm)
    if samples.dtype != np.int16:
        raise TypeError(f"expected int16 samples, got {samples.dtype}")
    sf.write(str(path), samples, rate, subtype="PCM_16", format="WAV")
