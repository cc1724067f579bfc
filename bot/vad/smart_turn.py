"""Smart Turn v3 (BSD-2-Clause, Daily) on onnxruntime: is the caller's question finished?

The model hears the last 8 s of a turn (16 kHz, Whisper log-mel features) and gives the
probability that the speaker has finished, from how the words were said (falling pitch, a
trailing "thì..." or "là..." held). It was trained on 23 languages including Vietnamese; phone
audio is 8 kHz, so it is upsampled and the model hears no energy above 4 kHz (its accuracy on the
phone path is measured in bench/turns.py, not assumed).

The file comes from `scripts/install-turn-model.sh` (the pipecat-ai wheel's ONNX file, checked by
hash) into models/smart-turn/; nothing is downloaded at run time. Without it, `load_turn_model`
returns None and the turn detector ends turns on silence alone, as before.

Feature extraction follows transformers' WhisperFeatureExtractor (Apache-2.0; n_fft 400, hop 160,
80 Slaney mel bands, log10, clamp to max - 8, (x + 4) / 4) in numpy, so the gateway does not import
transformers (seconds of start-up, hundreds of MB) for one spectrogram.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from bot.audio.resample import resample

log = logging.getLogger(__name__)

MODEL_RATE = 16000
WINDOW_S = 8
N_FFT, HOP, N_MELS = 400, 160, 80
DEFAULT_PATH = Path("models/smart-turn/smart-turn-v3.2-cpu.onnx")


def _slaney_mel(freq: np.ndarray) -> np.ndarray:
    freq = np.asarray(freq, np.float64)
    mel = 3.0 * freq / 200.0
    log_part = freq >= 1000.0
    return np.where(log_part, 15.0 + np.log(np.maximum(freq, 1e-9) / 1000.0) * (27.0 / np.log(6.4)), mel)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), 200.0 * mel / 3.0)


def _mel_filters() -> np.ndarray:
    """(n_fft // 2 + 1, 80) triangular Slaney-normalised filters, 0 Hz to 8 kHz."""
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(MODEL_RATE / 2), N_MELS + 2))
    bins = np.linspace(0, MODEL_RATE // 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    diff = np.diff(edges)
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    return filters * (2.0 / (edges[2:N_MELS + 2] - edges[:N_MELS]))[None, :]


_FILTERS = _mel_filters()
_HANN = np.hanning(N_FFT + 1)[:-1]  # periodic, as torch.hann_window


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(80, 800) features of exactly 8 s of float 16 kHz audio (zero-padded at the end)."""
    n = MODEL_RATE * WINDOW_S
    x = np.zeros(n, np.float32)
    x[:min(n, audio.size)] = audio[:n]
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _HANN, axis=-1)) ** 2
    mel = np.log10(np.maximum(1e-10, power @ _FILTERS)).T[:, :-1]
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


class SmartTurnModel:
    """The loaded model, shared by every call (onnxruntime sessions are thread-safe)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread per run: calls already run in parallel on the recognition workers.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def complete(self, samples: np.ndarray, rate: int) -> float:
        """P(the turn is finished) for int16 `samples` at `rate`: the turn so far, pause included."""
        audio = samples if rate == MODEL_RATE else resample(samples, rate, MODEL_RATE)
        audio = audio[-MODEL_RATE * WINDOW_S:].astype(np.float32) / 32768.0
        # The model was trained on turns padded at the front to 8 s: speech sits at the end.
        audio = np.concatenate([np.zeros(MODEL_RATE * WINDOW_S - audio.size, np.float32), audio])
        out = self.session.run(None, {"input_features": log_mel(audio)[None]})
        return float(np.asarray(out[0]).reshape(-1)[0])


_lock = threading.Lock()
_loaded: dict[Path, SmartTurnModel] = {}


def load_turn_model(path: Path | str | None) -> SmartTurnModel | None:
    """The model at `path` (loaded once per process), or None with a warning when the file is
    missing: turns then end on silence alone (`scripts/install-turn-model.sh` provides it)."""
    if not path:
        return None
    p = Path(path).resolve()
    with _lock:
        if p not in _loaded:
            if not p.is_file():
                log.warning("turn model %s is missing (scripts/install-turn-model.sh): turns end on silence alone", p)
                return None
            _loaded[p] = SmartTurnModel(p)
        return _loaded[p]
