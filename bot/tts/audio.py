"""Small PCM helpers shared by the cache and the recordings."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


def to_mono_int16(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mix down to mono and resample to `target_rate`, as int16."""
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.floating):  # float PCM is in [-1, 1]
        audio = np.clip(np.rint(audio * 32767.0), -32768, 32767)
    if audio.ndim == 2:
        audio = np.rint(audio.astype(np.float64).mean(axis=1))
    audio = audio.astype(np.int16)
    if rate != target_rate and audio.size:
        audio = soxr.resample(audio, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.int16)


def read_wav(path: Path, target_rate: int) -> np.ndarray:
    audio, rate = sf.read(path, dtype="int16", always_2d=True)
    return to_mono_int16(audio, rate, target_rate)


def write_wav_atomic(path: Path, audio: np.ndarray, rate: int) -> None:
    """Write then rename, so a reader (another call, a second render) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sf.write(tmp, audio, rate, format="WAV", subtype="PCM_16")
    os.replace(tmp, path)
