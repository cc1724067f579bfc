"""Choose an ASR engine by name. Engine modules (and their heavy imports) load only when chosen."""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from bot.asr.base import AsrEngine, AsrError, AsrStream
from bot.engines import EngineSpec, Registry

# Adding an engine = one module + one line here + its tests.
ENGINES: Registry[AsrEngine] = Registry("ASR", {
    "vietasr": EngineSpec("bot.asr.vietasr_onnx_engine", "VietAsrOnnxEngine",
                          "viet-asr's embedded model, run by onnxruntime", packages="kaldi-native-fbank onnxruntime"),
    "vietasr-native": EngineSpec("bot.asr.vietasr_native_engine", "VietAsrEngine",
                                 "viet-asr's embedded model in its own library (half the speed)"),
    "vosk": EngineSpec("bot.asr.vosk_engine", "VoskEngine", "a Vosk model directory", packages="vosk"),
    "transformers": EngineSpec("bot.asr.transformers_engine", "TransformersEngine",
                               "a CTC or Whisper model directory", packages="transformers torch"),
}, error=AsrError, setting="voice.asr_engine / voice.asr_model_dir")


def make_asr(name: str, model_dir: str | None = None) -> AsrEngine:
    """Load the engine called `name` (model from `model_dir` for engines that need one)."""
    return ENGINES.make(name, model_dir=model_dir)


class OnDemandAsr(AsrEngine):
    """A configured engine loaded at its first use. The gateway hears calls in worker processes
    (gateway.recognition: processes), each with its own engine, so its own process would hold a
    model it never uses (~300 MB for the default engine); loaded on demand, it holds none."""

    def __init__(self, name: str, model_dir: str | None = None) -> None:
        # An unknown name is a configuration mistake: said now, not at a call. Only the engine's
        # module is imported here (its heavy imports and its model load at the first use).
        self.capabilities = ENGINES.engine_class(name).capabilities
        self.name = name
        self._model_dir = model_dir
        self._engine: AsrEngine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> AsrEngine:
        with self._lock:
            if self._engine is None:
                self._engine = make_asr(self.name, self._model_dir)
            return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return self.engine.sample_rate

    def stream(self, grammar: Sequence[str] | None = None) -> AsrStream:
        return self.engine.stream(grammar)

    def transcribe(self, samples: np.ndarray, rate: int) -> str:
        return self.engine.transcribe(samples, rate)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
